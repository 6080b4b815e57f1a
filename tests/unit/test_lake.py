"""Names and paths of the lake (``eventlake.lake``)."""

from __future__ import annotations

import pytest

from eventlake.lake import HourPartition, curated_version_path, partition_event_date


@pytest.mark.parametrize(
    ("path", "day"),
    [
        ("event_date=2026-11-24/event_hour=9", "2026-11-24"),
        ("file:///lake/curated/game_item_purchased/event_date=2026-11-24/event_hour=9/v=3", "2026-11-24"),
        ("s3a://lake/curated/t/event_date%3D2026-11-24/event_hour%3D9", "2026-11-24"),
        ("/lake/landing/event_type=game.paid/event_date=2026-01-02/event_hour=0/batch-1.parquet", "2026-01-02"),
        ("file:///lake/curated/t/v=3", None),
        ("", None),
    ],
)
def test_partition_event_date_of_names_paths_and_uris(path: str, day: str | None) -> None:
    assert partition_event_date(path) == day


def test_partition_event_date_reads_what_the_lake_writes() -> None:
    hour = HourPartition("2026-12-01", 23)
    assert partition_event_date(hour.path) == "2026-12-01"
    assert partition_event_date(curated_version_path("bank_deposit", hour, "abc")) == "2026-12-01"
