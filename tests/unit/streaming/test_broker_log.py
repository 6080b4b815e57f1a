"""Which of the broker's stored batches the stream may delete once it has landed them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from eventlake.broker_log import BackgroundTrimmer, StoredBatch, TrimResult, background_trimmer_for, trimmable
from eventlake.settings import load_settings

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def batches(*bases: int, age: timedelta = timedelta(minutes=5)) -> list[StoredBatch]:
    return [StoredBatch(f"records/{base:020d}.batch", base, 100, NOW - age) for base in bases]


def bases(found: list[StoredBatch]) -> list[int]:
    return [batch.base_offset for batch in found]


def test_only_batches_wholly_below_the_landed_end_are_deleted() -> None:
    log = batches(0, 10, 20, 30)
    # Landed up to offset 25: [0, 10) and [10, 20) are landed, [20, 30) holds offsets 25..29 not yet landed.
    assert bases(trimmable(log, 25, NOW)) == [0, 10]
    # A landed end on a batch boundary: that batch begins what is not landed yet.
    assert bases(trimmable(log, 20, NOW)) == [0, 10]
    assert bases(trimmable(log, 21, NOW)) == [0, 10]
    assert bases(trimmable(log, 9, NOW)) == []


def test_the_last_batch_is_always_kept() -> None:
    # Its end is unknown from the listing, and Tansu finds a partition's end from it.
    assert bases(trimmable(batches(0, 10, 20), 10**9, NOW)) == [0, 10]
    assert trimmable(batches(0), 10**9, NOW) == []
    assert trimmable([], 10**9, NOW) == []


def test_batches_stored_within_the_keep_period_stay_and_nothing_after_them_goes() -> None:
    old = batches(0, 10, age=timedelta(minutes=5))
    recent = batches(20, 30, age=timedelta(seconds=5))
    newer_than_cutoff = NOW - timedelta(minutes=1)
    assert bases(trimmable([*old, *recent], 35, newer_than_cutoff)) == [0, 10]
    # A recent batch ends the run: only a leading run is deleted, so the log never has holes.
    mixed = [*batches(0), *batches(10, age=timedelta(seconds=5)), *batches(20, 30)]
    assert bases(trimmable(mixed, 35, newer_than_cutoff)) == [0]


class FakeTrimmer:
    """Stands in for the storage (the real one is exercised in tests/integration/streaming)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, dict[str, int]]] = []
        self.release = threading.Event()
        self.fail = fail
        self.closed = False

    def trim(self, landed: dict[str, dict[str, int]], **_: Any) -> TrimResult:
        self.calls.append(landed)
        self.release.wait(5)
        if self.fail:
            raise ConnectionError("storage down")
        return TrimResult()

    def close(self) -> None:
        self.closed = True


def test_background_trims_one_at_a_time_and_at_most_once_per_interval() -> None:
    fake = FakeTrimmer()
    background = BackgroundTrimmer(fake, interval=3600)  # type: ignore[arg-type]
    assert background.offer({"t": {"0": 5}})
    assert not background.offer({"t": {"0": 6}}), "a second trim while one runs"
    fake.release.set()
    background.join(5)
    assert not background.offer({"t": {"0": 7}}), "a trim within the interval"
    assert fake.calls == [{"t": {"0": 5}}]
    assert background.totals["trims"] == 1
    assert not background.offer({}), "nothing landed yet"
    background.close()
    assert fake.closed


def test_a_failed_trim_is_logged_and_retried_at_the_next_interval(caplog: Any) -> None:
    fake = FakeTrimmer(fail=True)
    fake.release.set()
    background = BackgroundTrimmer(fake, interval=0)  # type: ignore[arg-type]
    for offset in (1, 2):
        assert background.offer({"t": {"0": offset}})
        background.join(5)
    assert len(fake.calls) == 2
    assert background.totals["trims"] == 0
    assert "broker log trim failed (2 in a row): storage down" in caplog.text


def test_only_the_embedded_stack_trims_and_it_can_be_turned_off(tmp_path: Any) -> None:
    embedded = background_trimmer_for(load_settings(home=tmp_path, broker_storage_port=4999))
    assert embedded is not None
    assert embedded.trimmer.endpoint == "http://127.0.0.1:4999"
    assert embedded.trimmer.keep == timedelta(seconds=10)
    assert embedded.interval == 5
    embedded.close()
    assert background_trimmer_for(load_settings(home=tmp_path, broker_trim_landed_after_seconds=0)) is None
    assert background_trimmer_for(load_settings(home=tmp_path, profile="distributed")) is None
