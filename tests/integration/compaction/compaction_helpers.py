"""Helpers of the compaction integration tests: landed fixtures and readers through the metastore."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import duckdb

from eventlake import metastore
from eventlake.catalog import EventType, get_event_type
from eventlake.compaction.fixtures import LandingWriter
from eventlake.compaction.storage import Lake
from eventlake.lake import HourPartition
from eventlake.settings import EventlakeSettings

ITEM = get_event_type("game.item_purchased")
TICK = get_event_type("market.price_tick")
DAY = "2026-11-24"  # on or after the DAG start_date, so backfills of these hours create runs
HOURS = [HourPartition(DAY, hour) for hour in (3, 4, 5)]


@dataclass
class LandedTruth:
    """What was landed: every distinct event id per (table, hour), and how many copies were landed."""

    ids: dict[tuple[str, HourPartition], set[str]] = field(default_factory=dict)
    copies: Counter[tuple[str, HourPartition]] = field(default_factory=Counter)

    def add(self, et: EventType, hour: HourPartition, rows: list[dict[str, Any]]) -> None:
        self.ids.setdefault((et.table, hour), set()).update(row["event_id"] for row in rows)
        self.copies[(et.table, hour)] += len(rows)


def land_hours(settings: EventlakeSettings, writer: LandingWriter | None = None, truth: LandedTruth | None = None):
    """Several files per hour and type, with duplicates inside a file, across files and across hours' runs."""
    writer = writer or LandingWriter(Lake.from_settings(settings), random.Random(42))
    truth = truth or LandedTruth()
    for et in (ITEM, TICK):
        for hour in HOURS:
            first = writer.events(et, hour, 400)
            second = writer.events(et, hour, 300)
            # file 1: 400 events; file 2: 300 new + 50 re-deliveries of file 1; file 3: 20 copies of file 2
            files = [first, second + writer.redelivered(first[:50]), writer.redelivered(second[:20])]
            for rows in files:
                writer.write(et, hour, rows)
                truth.add(et, hour, rows)
    return writer, truth


def land_late(settings: EventlakeSettings, writer: LandingWriter, truth: LandedTruth, hour: HourPartition, n: int):
    """A late file for an already compacted hour: ``n`` new events plus re-deliveries of old ones."""
    late = writer.events(ITEM, hour, n)
    old = sorted(truth.ids[(ITEM.table, hour)])[:10]
    again = [dict(row, event_id=event_id) for row, event_id in zip(writer.events(ITEM, hour, 10), old, strict=True)]
    rows = late + again
    writer.write(ITEM, hour, rows)
    truth.add(ITEM, hour, rows)
    return late


def read_partition_ids(settings: EventlakeSettings, table: str, hour: HourPartition) -> tuple[int, frozenset[str]]:
    """(rows, event ids) of a partition as an analytics reader sees it: location from the metastore, DuckDB."""
    with metastore.connect(settings) as client:
        location = client.partition_location(table, hour)
    assert location is not None
    path = Lake.from_settings(settings).path(location)
    with duckdb.connect() as connection:  # one per query: readers run in parallel threads
        rows = connection.sql(f"select event_id from read_parquet('{path}/*.parquet')").fetchall()
    return len(rows), frozenset(row[0] for row in rows)


def interval_of(hour: HourPartition) -> dict[str, Any]:
    return {"interval_start": hour.start, "interval_end": hour.end, "now": hour.end + timedelta(hours=1)}
