"""Offset planning of the Python Kafka source, against a fake broker view (no broker needed)."""

from __future__ import annotations

import pytest
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

from eventlake.streaming.kafka_source import DataLossError, KafkaRange, KafkaStreamReader, pack_ranges


class FakeProbe:
    """Partitions of one topic: earliest offsets, listed ends (ListOffsets) and true ends as given."""

    def __init__(self, earliest: dict[int, int], ends: dict[int, int], listed: dict[int, int] | None = None) -> None:
        self.earliest_offsets = earliest
        self.ends = ends
        self.listed = dict(listed or ends)  # real Kafka: ListOffsets is the true end
        self.probed_from: dict[tuple[str, int], int] = {}

    def partitions(self) -> list[tuple[str, int]]:
        return [("t", p) for p in sorted(self.ends)]

    def earliest(self, topic: str, partition: int) -> int:
        return self.earliest_offsets[partition]

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        return self.earliest_offsets[partition], self.listed[partition]

    def true_ends(self, from_offsets: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        return {key: self.ends[key[1]] for key in from_offsets}

    def tail_ends(
        self, probe_from: dict[tuple[str, int], int], *, until_now: bool = False
    ) -> dict[tuple[str, int], tuple[int, bool]]:
        self.probed_from = dict(probe_from)
        return {key: (self.ends[key[1]], True) for key in probe_from}


def reader(probe: FakeProbe, max_offsets: int = 0) -> KafkaStreamReader:
    source = KafkaStreamReader(
        {"kafka.bootstrap.servers": "b:1", "subscribe": "t", "maxOffsetsPerTrigger": str(max_offsets)}
    )
    source._probe = probe  # type: ignore[assignment]
    return source


def test_options_are_read_whatever_their_case() -> None:
    # Spark passes a data source's options with lower-case names.
    source = KafkaStreamReader(
        {"kafka.bootstrap.servers": "b:1", "subscribe": "t", "maxoffsetspertrigger": "7", "rowmode": "tuples"}
    )
    assert (source.max_offsets, source.tuples) == (7, True)
    assert reader(FakeProbe({}, {}), max_offsets=9).getDefaultReadLimit() == ReadMaxRows(9)


def test_first_start_begins_at_the_earliest_retained_offset() -> None:
    assert reader(FakeProbe({0: 5, 1: 0}, {0: 10, 1: 3})).initialOffset() == {"t": {"0": 5, "1": 0}}


def test_latest_offset_is_the_end_capped_by_the_read_limit() -> None:
    probe = FakeProbe({0: 0, 1: 0}, {0: 1_000, 1: 10})
    source = reader(probe, max_offsets=100)
    assert source.getDefaultReadLimit() == ReadMaxRows(100)
    start = {"t": {"0": 0, "1": 0}}
    assert source.latestOffset(start, ReadMaxRows(100)) == {"t": {"0": 50, "1": 10}}
    assert source.reportLatestOffset() == {"t": {"0": 1_000, "1": 10}}
    assert source.latestOffset(start, ReadAllAvailable()) == {"t": {"0": 1_000, "1": 10}}


def test_a_growing_partition_is_read_to_its_listed_end_and_a_still_one_probed() -> None:
    # Tansu: ListOffsets says "base offset of the last batch + 1"; partition 0's last batch holds 40..99.
    probe = FakeProbe({0: 0}, {0: 100}, listed={0: 41})
    source = reader(probe)
    assert source.latestOffset({"t": {"0": 0}}, ReadAllAvailable()) == {"t": {"0": 41}}
    assert probe.probed_from == {}  # the log just grew: no fetch round, the rest of the batch comes next time
    # Next trigger, same listed end: the tail is probed from where the stream stands.
    assert source.latestOffset({"t": {"0": 41}}, ReadAllAvailable()) == {"t": {"0": 100}}
    assert probe.probed_from == {("t", 0): 41}
    probe.ends[0], probe.listed[0] = 150, 101  # more data: one batch at 100..149
    probe.probed_from = {}
    assert source.latestOffset({"t": {"0": 100}}, ReadAllAvailable()) == {"t": {"0": 101}}
    assert probe.probed_from == {}  # a moving listed end costs no probe


def test_a_stream_a_read_limit_behind_its_listed_end_is_not_probed() -> None:
    # A backlog: the listed end stands still (producers stopped) far ahead of the stream.
    probe = FakeProbe({0: 0}, {0: 1_000}, listed={0: 850})
    source = reader(probe, max_offsets=300)
    assert source.latestOffset({"t": {"0": 0}}, ReadMaxRows(300)) == {"t": {"0": 300}}
    assert source.latestOffset({"t": {"0": 300}}, ReadMaxRows(300)) == {"t": {"0": 600}}
    assert probe.probed_from == {}  # a probe could not have changed what those batches read
    assert source.latestOffset({"t": {"0": 600}}, ReadMaxRows(300)) == {"t": {"0": 900}}
    assert probe.probed_from == {("t", 0): 849}  # less than a limit from the listed end: the tail is probed
    assert source.reportLatestOffset() == {"t": {"0": 1_000}}


def test_records_behind_a_listed_end_that_does_not_move_are_read() -> None:
    # Tansu after a restart: ListOffsets stays at 1 while the log grows to 2,000 and then 4,000 records.
    probe = FakeProbe({0: 0}, {0: 2_000}, listed={0: 1})
    source = reader(probe)
    assert source.latestOffset({"t": {"0": 0}}, ReadAllAvailable()) == {"t": {"0": 1}}
    assert source.latestOffset({"t": {"0": 1}}, ReadAllAvailable()) == {"t": {"0": 2_000}}
    probe.ends[0] = 4_000  # appended; the listed end still says 1
    assert source.latestOffset({"t": {"0": 2_000}}, ReadAllAvailable()) == {"t": {"0": 4_000}}
    assert probe.probed_from == {("t", 0): 2_000}  # from where the stream stands, not from the stale end
    assert source.reportLatestOffset() == {"t": {"0": 4_000}}  # the lag the job reports sees it too


def test_a_listed_end_below_the_trimmed_start_is_probed_not_taken_as_empty() -> None:
    # The broker log trim deleted batches below 47,970; ListOffsets still lists 43,792.
    probe = FakeProbe({0: 47_970}, {0: 48_039}, listed={0: 43_792})
    source = reader(probe)
    assert source.latestOffset({"t": {"0": 48_000}}, ReadAllAvailable()) == {"t": {"0": 48_039}}
    assert probe.probed_from == {("t", 0): 48_000}


def test_available_now_reads_to_the_true_ends_of_its_start_in_limited_batches() -> None:
    probe = FakeProbe({0: 0}, {0: 100}, listed={0: 41})
    source = reader(probe, max_offsets=30)
    source.prepareForTriggerAvailableNow()
    probe.ends[0], probe.listed[0] = 500, 401  # produced after the query started: not read
    assert source.latestOffset({"t": {"0": 0}}, ReadMaxRows(30)) == {"t": {"0": 30}}
    assert source.latestOffset({"t": {"0": 90}}, ReadMaxRows(30)) == {"t": {"0": 100}}
    assert source.latestOffset({"t": {"0": 100}}, ReadMaxRows(30)) == {"t": {"0": 100}}


def test_retention_that_deleted_unread_offsets_fails_loudly() -> None:
    source = reader(FakeProbe({0: 40, 1: 0}, {0: 100, 1: 5}))
    with pytest.raises(DataLossError, match=r"t\[0\]: offsets 10\.\.39 were deleted"):
        source.latestOffset({"t": {"0": 10, "1": 0}}, ReadAllAvailable())


def test_new_partition_is_read_from_its_beginning() -> None:
    source = reader(FakeProbe({0: 0, 1: 0}, {0: 7, 1: 4}))
    assert source.latestOffset({"t": {"0": 7}}, ReadAllAvailable()) == {"t": {"0": 7, "1": 4}}


def test_partitions_are_one_range_per_partition_with_new_data() -> None:
    source = reader(FakeProbe({0: 0, 1: 0, 2: 1}, {0: 8, 1: 9, 2: 2}))
    ranges = source.partitions({"t": {"0": 3, "1": 9}}, {"t": {"0": 8, "1": 9, "2": 2}})
    packed = [(r.topic, r.partition, r.start, r.end) for task in ranges for r in task.ranges]
    assert sorted(packed) == [
        ("t", 0, 3, 8),
        ("t", 2, 1, 2),  # a partition unknown to ``start`` is read from its earliest offset
    ]


def test_ranges_are_packed_into_balanced_tasks() -> None:
    ranges = [KafkaRange("b", "t", p, 0, n) for p, n in enumerate([100, 10, 60, 50, 5])]
    tasks = pack_ranges(ranges, 2)
    assert len(tasks) == 2
    assert sorted(sum(r.end - r.start for r in task.ranges) for task in tasks) == [110, 115]
    assert sorted(r.partition for task in tasks for r in task.ranges) == [0, 1, 2, 3, 4]
    assert len(pack_ranges(ranges[:1], 4)) == 1


def test_a_small_batch_runs_as_one_task() -> None:
    ranges = [KafkaRange("b", "t", p, 0, 3_000) for p in range(9)]
    assert len(pack_ranges(ranges, 2, min_rows=20_000)) == 1
    assert len(pack_ranges(ranges, 2, min_rows=10_000)) == 2
    assert len(pack_ranges(ranges, 4, min_rows=9_000)) == 3
    assert [len(t.ranges) for t in pack_ranges(ranges, 2, min_rows=20_000)] == [9]


class _EndOfPartition:
    def code(self) -> int:
        from confluent_kafka import KafkaError

        return KafkaError._PARTITION_EOF


class _EventOnly:
    """An end-of-partition event at ``offset`` (librdkafka reports the high watermark there)."""

    def __init__(self, offset: int) -> None:
        self._offset = offset

    def error(self) -> _EndOfPartition:
        return _EndOfPartition()

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


class EventsOnlyConsumer:
    """A consumer whose every poll returns an end of partition past the position, never a record."""

    def assign(self, assignment: object) -> None: ...
    def resume(self, assignment: object) -> None: ...
    def unassign(self) -> None: ...

    def consume(self, num_messages: int, timeout: float) -> list[_EventOnly]:
        return [_EventOnly(50)]


def test_a_read_seeing_only_partition_events_fails_after_the_stall_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventlake.streaming import kafka_source

    monkeypatch.setattr(kafka_source, "_consumer_for", lambda servers, slot=0: EventsOnlyConsumer())
    monkeypatch.setattr(kafka_source, "READ_STALL_SECONDS", 0.2)
    with pytest.raises(TimeoutError, match="no data"):
        list(kafka_source.read_ranges([KafkaRange("b:1", "t", 0, 10, 100)]))


class _Record:
    """A record of partition ``partition`` of topic ``t`` at ``offset``."""

    def __init__(self, partition: int, offset: int) -> None:
        self._partition, self._offset = partition, offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"{}"

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)


class RecordingConsumer:
    """Serves each assigned partition's records from its position, in one consume; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, int]]]] = []
        self.positions: dict[int, int] = {}
        self.paused: set[int] = set()

    def _log(self, name: str, partitions: object) -> None:
        self.calls.append((name, sorted((tp.topic, tp.partition) for tp in partitions)))  # type: ignore[attr-defined]

    def assign(self, assignment: list) -> None:
        self._log("assign", assignment)
        self.positions = {tp.partition: tp.offset for tp in assignment}

    def pause(self, partitions: list) -> None:
        self._log("pause", partitions)
        self.paused |= {tp.partition for tp in partitions}

    def resume(self, partitions: list) -> None:
        self._log("resume", partitions)
        self.paused -= {tp.partition for tp in partitions}

    def unassign(self) -> None:
        self.calls.append(("unassign", []))
        self.positions = {}

    def consume(self, num_messages: int, timeout: float) -> list[_Record]:
        self.calls.append(("consume", []))
        records = []
        for partition, position in self.positions.items():
            if partition not in self.paused:
                records += [_Record(partition, offset) for offset in range(position, position + 10)]
                self.positions[partition] = position + 10
        return records


def test_a_read_resumes_what_it_paused_before_unassigning_and_never_right_after_assigning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Resuming right after assign() delayed the first fetch of a reused librdkafka consumer by up to 1 s.
    from eventlake.streaming import kafka_source

    consumer = RecordingConsumer()
    monkeypatch.setattr(kafka_source, "_consumer_for", lambda servers, slot=0: consumer)
    ranges = [KafkaRange("b:1", "t", 0, 0, 10), KafkaRange("b:1", "t", 1, 5, 25)]
    batches = list(kafka_source.read_ranges(ranges, consumers=1))

    assert sum(batch.num_rows for batch in batches) == 30
    assert [name for name, _ in consumer.calls[:2]] == ["assign", "consume"]
    assert consumer.calls[-2:] == [("resume", [("t", 0), ("t", 1)]), ("unassign", [])]
    assert ("pause", [("t", 0)]) in consumer.calls  # read to its end first, then held until the task ends
    assert not consumer.paused


class FailingConsumer(RecordingConsumer):
    """Fails its first consume, as a broker error would."""

    def consume(self, num_messages: int, timeout: float) -> list[_Record]:
        raise RuntimeError("t[3]: broker gone")


class SlowConsumer(RecordingConsumer):
    """Serves ten records per consume, a consume every 10 ms: a read that takes a while."""

    def consume(self, num_messages: int, timeout: float) -> list[_Record]:
        import time

        time.sleep(0.01)
        return super().consume(num_messages, timeout)


def _consumers_by_slot(
    monkeypatch: pytest.MonkeyPatch, make: dict[int, type[RecordingConsumer]]
) -> dict[int, RecordingConsumer]:
    from eventlake.streaming import kafka_source

    made: dict[int, RecordingConsumer] = {}

    def consumer_for(servers: str, slot: int = 0) -> RecordingConsumer:
        assert slot not in made, "a slot's consumer is handed out once per read"
        made[slot] = make.get(slot, RecordingConsumer)()
        return made[slot]

    monkeypatch.setattr(kafka_source, "_consumer_for", consumer_for)
    return made


def test_partitions_are_read_side_by_side_by_one_consumer_each_and_every_record_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from eventlake.streaming import kafka_source

    made = _consumers_by_slot(monkeypatch, {})
    ranges = [KafkaRange("b:1", "t", p, 100 * p, 100 * p + 30 + 10 * p) for p in range(5)]
    batches = list(kafka_source.read_ranges(ranges, consumers=3))

    read = sorted(
        (p, o) for b in batches for p, o in zip(b["partition"].to_pylist(), b["offset"].to_pylist(), strict=True)
    )
    assert read == sorted((r.partition, o) for r in ranges for o in range(r.start, r.end))
    assert sorted(made) == [0, 1, 2]
    assigned = [[p for _, p in c.calls[0][1]] for c in made.values()]
    assert sorted(p for ps in assigned for p in ps) == [0, 1, 2, 3, 4]  # each partition by exactly one consumer
    for consumer in made.values():
        assert consumer.calls[-1] == ("unassign", [])
        assert not consumer.paused


def test_one_consumer_failing_fails_the_read_and_stops_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventlake.streaming import kafka_source

    made = _consumers_by_slot(monkeypatch, {0: SlowConsumer, 1: FailingConsumer, 2: SlowConsumer})
    # Slow partitions: 10,000 records at ten per 10 ms would take 10 s if the failure did not stop them.
    ranges = [KafkaRange("b:1", "t", p, 0, 10_000) for p in range(3)]
    with pytest.raises(RuntimeError, match="broker gone"):
        list(kafka_source.read_ranges(ranges, consumers=3))
    for consumer in made.values():
        assert consumer.calls[-1] == ("unassign", [])
        assert sum(name == "consume" for name, _ in consumer.calls) < 200


def test_closing_a_read_early_stops_its_consumers(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventlake.streaming import kafka_source

    monkeypatch.setattr(kafka_source, "ARROW_BATCH_ROWS", 10)
    made = _consumers_by_slot(monkeypatch, dict.fromkeys(range(2), SlowConsumer))
    records = kafka_source.read_ranges([KafkaRange("b:1", "t", p, 0, 10_000) for p in range(2)], consumers=2)
    assert next(records).num_rows > 0
    records.close()
    for consumer in made.values():
        assert consumer.calls[-1] == ("unassign", [])
        assert sum(name == "consume" for name, _ in consumer.calls) < 200


class _Stamped(_Record):
    """A record of partition ``partition`` produced at ``stamp_ms`` (CreateTime)."""

    def __init__(self, partition: int, offset: int, stamp_ms: float) -> None:
        super().__init__(partition, offset)
        self.stamp_ms = int(stamp_ms)

    def timestamp(self) -> tuple[int, int]:
        return (1, self.stamp_ms)


class _EndOfPartitionOf(_EventOnly):
    def __init__(self, partition: int, offset: int) -> None:
        super().__init__(offset)
        self._partition = partition

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return self._partition


class FrozenWatermarkConsumer:
    """Partition 0: a backlog of 30 old records, then one new record per consume, and never an end of
    partition (Tansu's frozen watermark). Partition 1: nothing at all. Partition 2: its end right away."""

    def __init__(self) -> None:
        self.next_offset = 100
        self.consumes = 0

    def assign(self, assignment: object) -> None: ...
    def unassign(self) -> None: ...

    def consume(self, num_messages: int, timeout: float) -> list[object]:
        import time

        time.sleep(0.01)
        self.consumes += 1
        now_ms = time.time() * 1000
        if self.consumes == 1:
            records: list[object] = [_Stamped(0, 100 + i, now_ms - 60_000) for i in range(30)]
            self.next_offset = 130
            return [*records, _EndOfPartitionOf(2, 7)]
        if self.consumes < 5:  # a few more of the backlog
            self.next_offset += 1
            return [_Stamped(0, self.next_offset - 1, now_ms - 30_000)]
        self.next_offset += 1
        return [_Stamped(0, self.next_offset - 1, now_ms)]


def _probe_with(consumer: object) -> object:
    from eventlake.streaming.kafka_source import BrokerProbe

    probe = BrokerProbe.__new__(BrokerProbe)
    probe._consumer = consumer
    return probe


def test_a_triggers_probe_stops_where_it_caught_up_with_the_present_or_heard_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from eventlake.streaming import kafka_source

    monkeypatch.setattr(kafka_source, "PROBE_QUIET_SECONDS", 0.3)
    consumer = FrozenWatermarkConsumer()
    started = time.monotonic()
    ends = _probe_with(consumer).tail_ends({("t", 0): 100, ("t", 1): 40, ("t", 2): 7}, until_now=True)
    elapsed = time.monotonic() - started

    assert elapsed < 3  # not the 15 s a missing end of partition used to cost every trigger
    end, complete = ends[("t", 0)]
    assert end >= 134  # the backlog and the first record of the present (offset 133) were read
    assert end <= consumer.next_offset
    assert not complete
    assert ends[("t", 1)] == (40, False)  # nothing came: where the stream stands, probed again next time
    assert ends[("t", 2)] == (7, True)


def test_available_nows_probe_waits_for_the_end_of_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventlake.streaming import kafka_source

    monkeypatch.setattr(kafka_source, "PROBE_QUIET_SECONDS", 0.05)
    monkeypatch.setattr(kafka_source, "PROBE_TIMEOUT_SECONDS", 0.6)
    consumer = FrozenWatermarkConsumer()
    ends = _probe_with(consumer).tail_ends({("t", 0): 100, ("t", 1): 40, ("t", 2): 7})

    assert consumer.consumes > 20  # kept reading past the present and the quiet time, to the deadline
    assert ends[("t", 0)] == (consumer.next_offset, False)
    assert ends[("t", 2)] == (7, True)
