"""A Kafka streaming source for Spark without the connector jar: a Python data source over confluent-kafka.

Semantics match Spark's own Kafka source (``format("kafka")``): the same output columns, offsets kept
per topic and partition in Spark's checkpoint (``{"topic": {"0": next_offset}}``), the earliest retained
offset on first start, and a loud failure when retention deleted offsets that were never read.

Tansu's ListOffsets(latest) is not the end of the log: in a steady stream it answers ``base offset of
the last record batch + 1``, and after a restart (or at times without one) it can stay at an old value
while thousands of records are appended behind it (measured 2026-12-03: a listed end of 1 over 4,000
records). A partition whose listed end moved since the last trigger is read up to it (the rest goes to
the next micro-batch); one whose listed end did not move is probed, at every such trigger: read from
where the stream stands (or ``listed_end - 1``, the first record of the last batch) to the
partition-EOF event, whose offset is the true end. So a steady stream pays no probe fetch, an idle one
a cheap one per trigger, and every record lands whatever ListOffsets says, on both brokers (see
:class:`KafkaStreamReader`).

Two outputs (option ``output``):

- ``records`` (default): Spark's Kafka columns, as ``pyarrow.RecordBatch`` objects (``rowMode=tuples``
  yields Python tuples instead: the row-by-row baseline of the benchmark);
- ``landing``: each task routes the records it read against the catalog and encodes them into finished
  landing and quarantine Parquet files (:func:`eventlake.streaming.arrow_router.route_and_encode`),
  yielding one row per file (``ENCODED_SCHEMA``). Rows then never exist as JVM rows: a micro-batch
  crosses into Spark and to the driver as a few compressed files, not as millions of values.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxRows, SupportsTriggerAvailableNow

from eventlake.streaming import READ_CONSUMERS

SOURCE_NAME = "eventlake_kafka"
#: Same columns, names and order as Spark's built-in Kafka source (minus timestampType).
KAFKA_SCHEMA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"

#: ``output`` option: Spark's Kafka columns, or encoded landing files.
OUTPUTS = frozenset({"records", "landing"})
ARROW_BATCH_ROWS = 50_000
CONSUME_BATCH = 20_000
#: Below this many records per task a micro-batch uses fewer tasks (about a quarter second of one core).
MIN_ROWS_PER_TASK = 20_000
PROBE_TIMEOUT_SECONDS = 15.0
#: A trigger's probe takes a partition that sent nothing for this long as far as it was read (see
#: :meth:`BrokerProbe.tail_ends`): several of the consumers' 200 ms fetch waits.
PROBE_QUIET_SECONDS = 1.0
READ_STALL_SECONDS = 60.0
#: librdkafka ``fetch.wait.max.ms`` of every consumer (see :func:`consumer_config`).
FETCH_WAIT_MS = 200

Offsets = dict[str, dict[str, int]]


class DataLossError(RuntimeError):
    """Retention deleted offsets the stream had not read yet."""


def consumer_config(bootstrap_servers: str, **extra: Any) -> dict[str, Any]:
    """librdkafka settings of every consumer here: assign-only, no group offsets, fast fetches."""
    return {
        "bootstrap.servers": bootstrap_servers,
        # assign() + seek only: no group coordination (Tansu's group protocol is unreliable), no commits.
        "group.id": "eventlake-stream-source",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        # Tansu answers a fetch with the batches it could gather within this time, and on s3 storage each
        # batch costs a listing of the partition: at 20 ms a partition of 2,000 small batches was read
        # at ~660 records/s (one batch per round trip), at 200 ms at ~94,000/s (benchmarks/
        # bench_broker_fetch.py). Real Kafka answers as soon as fetch.min.bytes are there either way.
        "fetch.wait.max.ms": FETCH_WAIT_MS,
        "fetch.min.bytes": 1,
        "queued.min.messages": 200_000,
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 16 * 1024 * 1024,
        "socket.keepalive.enable": True,
        **extra,
    }


class KafkaRange(InputPartition):
    """Offsets ``[start, end)`` of one topic partition: one Spark task."""

    def __init__(
        self, bootstrap_servers: str, topic: str, partition: int, start: int, end: int, tuples: bool = False
    ) -> None:
        super().__init__((topic, partition, start, end))
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.partition = partition
        self.start = start
        self.end = end
        self.tuples = tuples


class KafkaRanges(InputPartition):
    """Several offset ranges read one after the other by one Spark task.

    A task costs a scheduling round and Python worker calls whatever its size, so small micro-batches
    pack all their partitions into as many tasks as the stream has cores instead of one per partition.
    """

    def __init__(self, ranges: list[KafkaRange]) -> None:
        super().__init__(tuple(r.value for r in ranges))
        self.ranges = ranges


def pack_ranges(ranges: list[KafkaRange], tasks: int, min_rows: int = 1) -> list[KafkaRanges]:
    """Greedy balance of ranges (largest first) into at most ``tasks`` groups of about ``min_rows`` records or more.

    A small micro-batch runs as one task: a second one would cost more in scheduling than it saves, and
    (with ``output=landing``) it would split each landing directory's rows into two smaller files.
    """
    total = sum(r.end - r.start for r in ranges)
    tasks = min(tasks, len(ranges), max(1, total // max(1, min_rows)))
    bins: list[list[KafkaRange]] = [[] for _ in range(max(1, tasks))]
    loads = [0] * len(bins)
    for r in sorted(ranges, key=lambda r: (r.start - r.end, r.topic, r.partition)):
        lightest = loads.index(min(loads))
        bins[lightest].append(r)
        loads[lightest] += r.end - r.start
    return [KafkaRanges(sorted(b, key=lambda r: (r.topic, r.partition))) for b in bins if b]


# Consumers per broker in each (reused) Python worker, kept across micro-batches: a new connection per task
# would add its set-up time to every batch. A worker runs one task at a time and a task gives each of its
# reading threads its own slot; each range assigns and seeks its own partition, so reusing them is safe.
_CONSUMERS: dict[tuple[str, int], Any] = {}
_CONSUMERS_LOCK = threading.Lock()
#: What a reading thread puts on the queue when it is done.
_DONE = object()


def _consumer_for(bootstrap_servers: str, slot: int = 0) -> Any:
    from confluent_kafka import Consumer

    with _CONSUMERS_LOCK:
        consumer = _CONSUMERS.get((bootstrap_servers, slot))
        if consumer is None:
            consumer = _CONSUMERS[(bootstrap_servers, slot)] = Consumer(consumer_config(bootstrap_servers))
        return consumer


def read_ranges(ranges: Sequence[KafkaRange], consumers: int = READ_CONSUMERS) -> Iterator[Any]:
    """The records of one task's ranges as Arrow record batches (or tuples), in no particular order.

    The partitions are shared out over up to ``consumers`` consumers that read side by side, each in a
    thread (librdkafka waits without the GIL); each consumer is assigned all of its partitions at once, so
    one fetch round trip serves them together. A failure of any consumer fails the read.
    """
    todo = [r for r in ranges if r.end > r.start]
    groups = [group.ranges for group in pack_ranges(todo, max(1, consumers))] if todo else []
    if len(groups) == 1:
        yield from _read_group(groups[0], slot=0)
    elif groups:
        yield from _read_side_by_side(groups)


def _read_side_by_side(groups: list[list[KafkaRange]]) -> Iterator[Any]:
    """What :func:`_read_group` yields for each group, read by one thread per group, as it arrives.

    The queue is bounded, so a slow consumer of this generator holds the readers back instead of
    piling records up; when it stops early (or a reader fails) the other readers stop at their next batch.
    """
    results: queue.Queue[Any] = queue.Queue(maxsize=2 * len(groups))
    stop = threading.Event()

    def deliver(item: Any) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read(group: list[KafkaRange], slot: int) -> None:
        try:
            for batch in _read_group(group, slot=slot, stop=stop):
                if not deliver(batch):
                    return
            deliver(_DONE)
        except BaseException as error:  # handed to the task's thread, which raises it
            deliver(error)

    threads = [
        threading.Thread(target=read, args=(group, slot), name=f"kafka-read-{slot}", daemon=True)
        for slot, group in enumerate(groups)
    ]
    for thread in threads:
        thread.start()
    try:
        running = len(threads)
        while running:
            item = results.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def _read_group(todo: list[KafkaRange], *, slot: int, stop: threading.Event | None = None) -> Iterator[Any]:
    """The records of ``todo`` (ranges, none of them empty), read by the worker's consumer ``slot``."""
    from confluent_kafka import TopicPartition

    tuples = todo[0].tuples
    ends = {(r.topic, r.partition): r.end for r in todo}
    positions = {(r.topic, r.partition): r.start for r in todo}  # next offset to read, per partition
    consumer = _consumer_for(todo[0].bootstrap_servers, slot)
    assignment = [TopicPartition(r.topic, r.partition, r.start) for r in todo]
    # Every partition of the (reused) consumer is resumed before it is unassigned (below): a partition
    # paused by an earlier task would stay paused through this assign(). Resuming right after assign()
    # instead held back the first fetch of the new assignment to the broker thread's next wake-up: a
    # consume() that waited 0.5-1 s for records already on the broker, in about one micro-batch in three
    # at 1,000 events/s (benchmarks/bench_stream_ingest.py, freshness).
    consumer.assign(assignment)
    last_progress = time.monotonic()
    columns = _RecordColumns()
    try:
        while left := sum(max(0, ends[key] - positions[key]) for key in ends):
            if stop is not None and stop.is_set():
                return
            # Ask for no more than is left: consume() waits its whole timeout for a short count.
            messages = consumer.consume(num_messages=min(CONSUME_BATCH, left), timeout=0.5)
            if any(message.error() is not None for message in messages):  # rare: end of partition, broker error
                messages = _without_events(messages, ends, positions)
            if not messages:  # nothing, or only events (an end of partition short of the planned end): no progress
                if time.monotonic() - last_progress > READ_STALL_SECONDS:
                    raise TimeoutError(f"no data for {READ_STALL_SECONDS:.0f} s at {positions} (planned {ends})")
                continue
            last_progress = time.monotonic()
            columns.add(messages, single=len(ends) == 1)
            reached = []
            for key, offset in columns.last_offsets(messages, single=len(ends) == 1).items():
                if key in positions:
                    if positions[key] < ends[key] <= offset + 1:
                        reached.append(TopicPartition(*key))
                    positions[key] = max(positions[key], offset + 1)
            if reached:  # stop fetching what is read to its end (the rest goes to the next micro-batch)
                consumer.pause(reached)
            if columns.rows >= ARROW_BATCH_ROWS:
                yield from columns.emit(tuples, ends)
        yield from columns.emit(tuples, ends)
    finally:
        consumer.resume(assignment)
        consumer.unassign()


def _without_events(
    messages: list[Any], ends: dict[tuple[str, int], int], positions: dict[tuple[str, int], int]
) -> list[Any]:
    """The records among ``messages``; an end of partition before the planned end is a truncated log."""
    from confluent_kafka import KafkaError

    records = []
    reached = dict(positions)
    for message in messages:
        key = (message.topic(), message.partition())
        error = message.error()
        if error is None:
            records.append(message)
            reached[key] = message.offset() + 1
        elif error.code() != KafkaError._PARTITION_EOF:
            raise RuntimeError(f"{key[0]}[{key[1]}]: {error}")
        elif key in ends and message.offset() < ends[key] and message.offset() <= reached[key]:
            raise DataLossError(
                f"{key[0]}[{key[1]}] ends at {message.offset()}, "
                f"but offsets up to {ends[key]} were planned: the log was truncated"
            )
    return records


class _RecordColumns:
    """Consumed records gathered column by column (comprehensions: a loop of appends costs twice as much)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.keys: list[bytes | None] = []
        self.values: list[bytes | None] = []
        self.topics: list[str] = []
        self.partitions: list[int] = []
        self.offsets: list[int] = []
        self.timestamps: list[int] = []

    @property
    def rows(self) -> int:
        return len(self.offsets)

    def add(self, messages: list[Any], *, single: bool) -> None:
        self.keys += [m.key() for m in messages]
        self.values += [m.value() for m in messages]
        self.offsets += [m.offset() for m in messages]
        self.timestamps += [m.timestamp()[1] for m in messages]
        if single:  # one partition: no need to ask each message
            self.topics += [messages[0].topic()] * len(messages)
            self.partitions += [messages[0].partition()] * len(messages)
        else:
            self.topics += [m.topic() for m in messages]
            self.partitions += [m.partition() for m in messages]

    def last_offsets(self, messages: list[Any], *, single: bool) -> dict[tuple[str, int], int]:
        """The last offset read of each partition in ``messages`` (just added)."""
        if single:
            return {(self.topics[-1], self.partitions[-1]): self.offsets[-1]}
        tail = slice(len(self.offsets) - len(messages), None)
        # Offsets only grow within a partition: the last one seen is the largest.
        return dict(zip(zip(self.topics[tail], self.partitions[tail], strict=True), self.offsets[tail], strict=True))

    def emit(self, tuples: bool, ends: dict[tuple[str, int], int]) -> Iterator[Any]:
        """The records gathered so far below their partition's planned end (a fetch returns whole batches,
        so the last one of a partition may run past it, and a partition keeps arriving until paused)."""
        if not self.offsets:
            return
        if tuples:
            from datetime import UTC, datetime

            for key, value, topic, partition, offset, ts in zip(
                self.keys, self.values, self.topics, self.partitions, self.offsets, self.timestamps, strict=True
            ):
                if offset < ends.get((topic, partition), -1):
                    yield (key, value, topic, partition, offset, datetime.fromtimestamp(ts / 1000, tz=UTC))
        else:
            import pyarrow as pa
            import pyarrow.compute as pc

            batch = pa.RecordBatch.from_arrays(
                [
                    pa.array(self.keys, pa.binary()),
                    pa.array(self.values, pa.binary()),
                    pa.array(self.topics, pa.string()),
                    pa.array(self.partitions, pa.int32()),
                    pa.array(self.offsets, pa.int64()),
                    pa.array(self.timestamps, pa.int64())
                    .cast(pa.timestamp("ms", tz="UTC"))
                    .cast(pa.timestamp("us", tz="UTC")),
                ],
                names=["key", "value", "topic", "partition", "offset", "timestamp"],
            )
            planned = [
                pc.and_(
                    pc.and_(pc.equal(batch["topic"], topic), pc.equal(batch["partition"], partition)),
                    pc.less(batch["offset"], end),
                )
                for (topic, partition), end in ends.items()
            ]
            keep = planned[0]
            for condition in planned[1:]:
                keep = pc.or_(keep, condition)
            yield batch if pc.all(keep).as_py() else batch.filter(keep)
        self.clear()


log = logging.getLogger(__name__)


class BrokerProbe:
    """Driver-side view of the broker: partitions, earliest offsets and the true end of each partition."""

    def __init__(self, bootstrap_servers: str, topics: Sequence[str]) -> None:
        from confluent_kafka import Consumer

        self.bootstrap_servers = bootstrap_servers
        self.topics = list(topics)
        self._consumer = Consumer(consumer_config(bootstrap_servers))

    def partitions(self) -> list[tuple[str, int]]:
        metadata = self._consumer.list_topics(timeout=10)
        found: list[tuple[str, int]] = []
        for topic in self.topics:
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                raise RuntimeError(f"topic {topic!r} does not exist on {self.bootstrap_servers}")
            found.extend((topic, p) for p in sorted(meta.partitions))
        return found

    def watermarks(self, topic: str, partition: int, attempts: int = 5) -> tuple[int, int]:
        """(low, listed end) of a partition; a dropped broker connection is retried with a fresh client."""
        import time

        from confluent_kafka import Consumer, KafkaException, TopicPartition

        for attempt in range(attempts):
            try:
                low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                return int(low), int(high)
            except KafkaException:
                if attempt == attempts - 1:
                    raise
                # Seen under load: "Broker handle destroyed". A new client, then once more.
                self._consumer.close()
                self._consumer = Consumer(consumer_config(self.bootstrap_servers))
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def earliest(self, topic: str, partition: int) -> int:
        return self.watermarks(topic, partition)[0]

    def true_end(self, topic: str, partition: int, from_offset: int) -> int:
        """The offset after the last record of one partition, read from the log (see :meth:`true_ends`)."""
        return self.true_ends({(topic, partition): from_offset})[(topic, partition)]

    def true_ends(self, from_offsets: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """The offset after the last record of each partition, read from the log, not trusted from ListOffsets."""
        probe_from: dict[tuple[str, int], int] = {}
        for (topic, partition), from_offset in from_offsets.items():
            low, listed_end = self.watermarks(topic, partition)
            # Even a listed end at or below the earliest offset is probed: Tansu's can lag the log.
            probe_from[(topic, partition)] = max(from_offset, listed_end - 1, low)
        return {key: max(from_offsets[key], end) for key, (end, _) in self.tail_ends(probe_from).items()}

    def tail_ends(
        self, probe_from: dict[tuple[str, int], int], *, until_now: bool = False
    ) -> dict[tuple[str, int], tuple[int, bool]]:
        """(end, complete) of each partition, read from ``probe_from`` (where the stream stands, or the first
        record of the partition's last batch).

        All partitions are probed with one assignment, so a trigger pays one fetch round, not one per
        partition. ``complete`` is False where the broker sent no end of partition: every offset below
        ``end`` was seen, so it is a safe end for now, and the rest is probed again later.

        A partition's end of partition can fail to come at all: while Tansu's watermark is frozen (the reason
        the partition is probed) its fetch answers carry the frozen one too, and librdkafka reports the end
        only where its position meets that watermark. With ``until_now`` (a trigger's probe) a partition is
        therefore also taken as far as it was read once a record produced after the probe began was read
        (it caught up with the present: the rest is the next trigger's) or once nothing came for
        :data:`PROBE_QUIET_SECONDS`; without it (``Trigger.AvailableNow``'s one probe) only its end of
        partition or :data:`PROBE_TIMEOUT_SECONDS` ends it.
        """
        from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, TopicPartition

        ends = dict(probe_from)
        pending = set(probe_from)
        if not pending:
            return {}
        complete: set[tuple[str, int]] = set()
        began_ms = time.time() * 1000
        last_seen = dict.fromkeys(pending, time.monotonic())
        self._consumer.assign([TopicPartition(topic, partition, at) for (topic, partition), at in probe_from.items()])
        deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
        try:
            while pending and time.monotonic() < deadline:
                # A short wait: consume() waits its whole timeout for fewer messages than it asks for.
                messages = self._consumer.consume(num_messages=10_000, timeout=0.02)
                now = time.monotonic()
                for message in messages:
                    key = (str(message.topic()), int(message.partition() or 0))
                    offset = int(message.offset() or 0)
                    error = message.error()
                    if error is None:
                        ends[key] = max(ends[key], offset + 1)
                        last_seen[key] = now
                        kind, stamp = message.timestamp()
                        if until_now and kind != TIMESTAMP_NOT_AVAILABLE and stamp >= began_ms:
                            pending.discard(key)
                    elif error.code() == KafkaError._PARTITION_EOF:
                        ends[key] = max(ends[key], offset)
                        pending.discard(key)
                        complete.add(key)
                    else:
                        raise RuntimeError(f"{key[0]}[{key[1]}]: {error}")
                if until_now:
                    pending -= {key for key in pending if now - last_seen[key] > PROBE_QUIET_SECONDS}
        finally:
            self._consumer.unassign()
        if pending:
            log.warning("no end of partition seen within %ss for %s", PROBE_TIMEOUT_SECONDS, sorted(pending))
        return {key: (end, key in complete) for key, end in ends.items()}

    def close(self) -> None:
        self._consumer.close()


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Plans micro-batches as offset ranges per partition; Spark keeps the offsets in its checkpoint.

    The end of a partition whose listed end (ListOffsets) moved since the last trigger is that listed
    end: on Tansu the first record of its last batch, so the rest of that batch is read by the next
    micro-batch, and no trigger pays a fetch round to probe it. Where the listed end did not move, the
    true end is probed, at each such trigger, from where the stream stands: an unmoved listed end does
    not mean the log stopped growing (Tansu's can stay behind by thousands of records), so a probed
    end is never reused; but a stream a whole read limit behind the listed end (a backlog) is not probed,
    since it reads no further than the limit either way. ``Trigger.AvailableNow`` probes every true end
    once, at the start.
    """

    def __init__(self, options: dict[str, str]) -> None:
        # Spark hands a data source its options with lower-case names (they are case-insensitive).
        options = {name.lower(): value for name, value in options.items()}
        self.bootstrap_servers = options["kafka.bootstrap.servers"]
        self.topics = [t.strip() for t in options["subscribe"].split(",") if t.strip()]
        self.max_offsets = int(options.get("maxoffsetspertrigger", "0") or 0)
        self.tuples = options.get("rowmode", "arrow") == "tuples"
        self.output = options.get("output", "records")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {sorted(OUTPUTS)}, not {self.output!r}")
        if self.output == "landing" and self.tuples:
            raise ValueError("output=landing reads Arrow batches; rowMode=tuples is for output=records")
        self.tasks = int(options.get("tasks", "2") or 2)
        self.min_rows_per_task = int(options.get("minrowspertask", str(MIN_ROWS_PER_TASK)))
        self.read_consumers = int(options.get("readconsumers", str(READ_CONSUMERS)))
        self._probe: BrokerProbe | None = None
        self._latest: Offsets | None = None
        #: Per partition: the listed end seen at the last trigger.
        self._listed: dict[tuple[str, int], int] = {}
        #: Trigger.AvailableNow: the true ends when the query started (never read past them).
        self._target: dict[tuple[str, int], int] | None = None

    @property
    def probe(self) -> BrokerProbe:
        if self._probe is None:
            self._probe = BrokerProbe(self.bootstrap_servers, self.topics)
        return self._probe

    def initialOffset(self) -> dict:
        """Earliest retained offset of every partition (a new query reads everything retained)."""
        offsets: Offsets = {}
        for topic, partition in self.probe.partitions():
            offsets.setdefault(topic, {})[str(partition)] = self.probe.earliest(topic, partition)
        return offsets

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_offsets) if self.max_offsets > 0 else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        parts = self.probe.partitions()
        self._target = self.probe.true_ends({key: self.probe.earliest(*key) for key in parts})

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        """The end of every partition (see the class docstring), capped by the read limit.

        Fails if retention deleted offsets that were never read.
        """
        parts = self.probe.partitions()
        cap = math.ceil(limit.max_rows / len(parts)) if isinstance(limit, ReadMaxRows) and parts else None
        marks = {key: self.probe.watermarks(*key) for key in parts}
        begins: dict[tuple[str, int], int] = {}
        for (topic, partition), (earliest, _) in marks.items():
            begin = start.get(topic, {}).get(str(partition))
            if begin is None:  # a partition added since the last batch: read it from its beginning
                begin = earliest
            elif begin < earliest:
                raise DataLossError(
                    f"{topic}[{partition}]: offsets {begin}..{earliest - 1} were deleted by retention before "
                    f"the stream read them; refusing to skip them silently (reset the checkpoint to accept the loss)"
                )
            begins[(topic, partition)] = begin
        latest: Offsets = {}
        planned: Offsets = {}
        for (topic, partition), end in self._ends(begins, marks, cap).items():
            begin = begins[(topic, partition)]
            latest.setdefault(topic, {})[str(partition)] = end
            planned.setdefault(topic, {})[str(partition)] = min(end, begin + cap) if cap else end
        self._latest = latest
        return planned

    def _ends(
        self, begins: dict[tuple[str, int], int], marks: dict[tuple[str, int], tuple[int, int]], cap: int | None
    ) -> dict[tuple[str, int], int]:
        ends: dict[tuple[str, int], int] = {}
        probe_from: dict[tuple[str, int], int] = {}
        for key, begin in begins.items():
            low, listed = marks[key]
            moved = self._listed.get(key) != listed
            self._listed[key] = listed
            # A stream a whole read limit behind the listed end (a backlog) reads to the limit whatever a
            # probe finds past that end: no probe then (on s3 storage one cost 0.7-1.8 s of a trigger).
            behind = cap is not None and listed >= begin + cap
            if self._target is not None:
                ends[key] = max(begin, self._target.get(key, begin))
            elif (moved or behind) and listed > max(begin, low):  # read to the listed end, the rest next time
                ends[key] = listed
            else:  # nothing new by ListOffsets (or nothing past the stream, or below a trim): read the true end
                probe_from[key] = max(begin, listed - 1, low)
        for key, (end, _) in self.probe.tail_ends(probe_from, until_now=True).items():
            ends[key] = max(begins[key], end)
        return ends

    def reportLatestOffset(self) -> dict | None:
        return self._latest

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        ranges: list[KafkaRange] = []
        for topic, ends in end.items():
            for partition, stop in ends.items():
                begin = start.get(topic, {}).get(partition)
                if begin is None:  # a partition added after ``start`` was planned: from its beginning
                    begin = self.probe.earliest(topic, int(partition))
                if stop > begin:
                    ranges.append(KafkaRange(self.bootstrap_servers, topic, int(partition), begin, stop, self.tuples))
        return pack_ranges(ranges, self.tasks, self.min_rows_per_task)

    def read(self, partition: InputPartition) -> Iterator[Any]:
        assert isinstance(partition, KafkaRanges)
        records = read_ranges(partition.ranges, self.read_consumers)
        if self.output == "landing":
            from eventlake.streaming.arrow_router import land_batches

            yield from land_batches(records)
        else:
            yield from records

    def commit(self, end: dict) -> None:
        """Nothing to do: the offsets live in Spark's checkpoint, not in the broker."""

    def stop(self) -> None:
        if self._probe is not None:
            self._probe.close()


class KafkaDataSource(DataSource):
    """``spark.readStream.format("eventlake_kafka")``: options kafka.bootstrap.servers, subscribe, output..."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> Any:
        if self.options.get("output", "records") == "landing":
            from eventlake.streaming.landing import encoded_spark_schema

            return encoded_spark_schema()
        return KAFKA_SCHEMA

    def streamReader(self, schema: Any) -> DataSourceStreamReader:
        return KafkaStreamReader(dict(self.options))
