"""A small curated lake on disk (catalog-derived columns, the lake layout) and its true rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from eventlake.analytics.engines import DuckDBEngine
from eventlake.analytics.synthetic import (
    synthetic_events,
    synthetic_quarantine,
    write_curated_partition,
    write_quarantine_partition,
)
from eventlake.catalog.derive import QUARANTINE_TABLE
from eventlake.catalog.events import EVENT_TYPES
from eventlake.lake import HourPartition, hidden_batch_file_name

HOURS = (
    HourPartition("2026-11-23", 22),
    HourPartition("2026-11-24", 0),
    HourPartition("2026-11-24", 1),
    HourPartition("2026-11-24", 13),
)
QUARANTINED = {"2026-11-23": 3, "2026-11-24": 7}


@dataclass
class FixtureLake:
    root: Path
    locations: dict[str, list[str]]
    rows: dict[str, list[dict]]

    def engine(self) -> DuckDBEngine:
        return DuckDBEngine(lambda table, dates: self.locations.get(table, []))


def build_lake(root: Path, seed: int = 7, rows_per_hour: int = 40) -> FixtureLake:
    rng = np.random.default_rng(seed)
    curated = root / "curated"
    locations: dict[str, list[str]] = {}
    rows: dict[str, list[dict]] = {}
    for et in EVENT_TYPES:
        for n, hour in enumerate(HOURS):
            table = synthetic_events(et, hour, rows_per_hour + n, rng, users=25)
            # A superseded version the metastore no longer points at: must never be read.
            write_curated_partition(curated, et, hour, table.slice(0, 5), version="0")
            written = write_curated_partition(curated, et, hour, table, version="1", files=2)
            locations.setdefault(et.table, []).append(written.location)
            rows.setdefault(et.table, []).extend(table.to_pylist())
            # A hidden file (a compaction in flight): must never be read.
            pq.write_table(table.slice(0, 3), written.directory / "_part-tmp.parquet")
    quarantine = root / "landing" / "quarantine"
    for day, count in QUARANTINED.items():
        location = write_quarantine_partition(quarantine, day, synthetic_quarantine(day, count, rng))
        locations.setdefault(QUARANTINE_TABLE, []).append(location)
        hidden = synthetic_quarantine(day, 1, rng)  # a batch not committed yet: must never be read
        pq.write_table(hidden, quarantine / f"quarantine_date={day}" / hidden_batch_file_name(2, 0))
    return FixtureLake(root, locations, rows)


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> FixtureLake:
    return build_lake(tmp_path_factory.mktemp("lake"))


@pytest.fixture
def engine(lake: FixtureLake):
    engine = lake.engine()
    yield engine
    engine.close()
