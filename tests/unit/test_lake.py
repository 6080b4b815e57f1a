"""Names and paths of the lake (``eventlake.lake``)."""

from __future__ import annotations

import pytest

from eventlake.lake import (
    ALL_PARTITIONS,
    HourPartition,
    PartitionBounds,
    curated_version_path,
    partition_event_date,
    partition_values,
)


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


def test_partition_values_of_names_and_locations() -> None:
    location = "file:///lake/curated/t/event_date%3D2026-11-24/event_hour%3D9/v%3D3"
    assert partition_values(location) == {"event_date": "2026-11-24", "event_hour": "9", "v": "3"}
    assert partition_values("quarantine_date=2026-11-24") == {"quarantine_date": "2026-11-24"}
    assert partition_values("file:///lake/curated/t") == {}


def test_partition_bounds_accept_the_partitions_within_them() -> None:
    bounds = PartitionBounds("2026-11-24", "2026-11-25", 9, 10)
    assert bounds.accepts("event_date=2026-11-24/event_hour=9")
    assert bounds.accepts("file:///lake/t/event_date=2026-11-25/event_hour=10/v=1")
    assert not bounds.accepts("event_date=2026-11-24/event_hour=11")
    assert not bounds.accepts("event_date=2026-11-26/event_hour=9")
    # Without an hour, the day decides; without a date, the partition may hold anything.
    assert bounds.accepts("event_date=2026-11-24")
    assert bounds.accepts("quarantine_date=2026-11-30")
    assert ALL_PARTITIONS.accepts("event_date=1999-01-01/event_hour=0")


def test_partition_bounds_intersect_union_and_restrict() -> None:
    day = PartitionBounds("2026-11-24", "2026-11-24")
    hours = PartitionBounds(None, None, 3, 5)
    assert day.intersect(hours) == PartitionBounds("2026-11-24", "2026-11-24", 3, 5)
    assert PartitionBounds(first_hour=2).intersect(PartitionBounds(first_hour=4, last_hour=6)) == PartitionBounds(
        None, None, 4, 6
    )
    assert PartitionBounds.union([PartitionBounds("2026-11-24", "2026-11-24", 13, 13), hours]) == PartitionBounds(
        None, None, 3, 13
    )
    assert PartitionBounds.union([day, hours]) == ALL_PARTITIONS
    assert PartitionBounds.union([]) == ALL_PARTITIONS
    both = PartitionBounds("2026-11-24", "2026-11-24", 3, 5)
    assert both.restricted_to(["event_date", "event_hour"]) == both
    assert both.restricted_to(["event_date"]) == day
    assert both.restricted_to(["quarantine_date"]) == ALL_PARTITIONS
