"""Synthetic curated tables in the lake layout, for tests and benchmarks (deterministic per seed).

Columns come from the catalog (:func:`curated_columns`), values from each field's declared type,
files go where :mod:`eventlake.lake` says compaction puts them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eventlake.catalog.derive import QUARANTINE_COLUMNS, curated_columns
from eventlake.catalog.types import Choice, EventType, Integer, Money, Text, Timestamp
from eventlake.lake import HourPartition, batch_file_name, curated_version_path

_MICROS_PER_HOUR = 3_600_000_000


def _arrow_type(hive_type: str) -> pa.DataType:
    if hive_type.startswith("decimal"):
        precision, scale = hive_type[len("decimal(") : -1].split(",")
        return pa.decimal128(int(precision), int(scale))
    return {
        "string": pa.string(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "binary": pa.binary(),
    }[hive_type]


def curated_arrow_schema(et: EventType) -> pa.Schema:
    """Arrow schema of a curated table's data files (what Spark writes: UTC timestamps, decimals)."""
    return pa.schema([(name, _arrow_type(kind)) for name, kind, _ in curated_columns(et)])


def _money(rng: np.random.Generator, n: int, kind: Money) -> pa.Array:
    cents = rng.integers(1, 100_000, n)
    text = np.char.add(np.char.add((cents // 100).astype(str), "."), np.char.zfill((cents % 100).astype(str), 2))
    return pc.cast(pa.array(text), pa.decimal128(kind.precision, kind.scale))


def synthetic_events(
    et: EventType, hour: HourPartition, rows: int, rng: np.random.Generator, *, users: int = 500
) -> pa.Table:
    """``rows`` valid events of one type in one hour, as a curated data file holds them."""
    start_us = int(hour.start.timestamp() * 1_000_000)
    event_us = np.sort(start_us + rng.integers(0, _MICROS_PER_HOUR, rows))
    received_us = event_us + rng.integers(0, 5_000_000, rows)
    columns: dict[str, pa.Array] = {
        "event_id": pa.array([str(uuid.UUID(int=int(v))) for v in rng.integers(0, 2**62, rows)]),
        "event_type": pa.array([et.event_type] * rows),
        "schema_version": pa.array(np.full(rows, et.version, np.int32)),
        "event_time": pa.array(event_us, pa.timestamp("us", tz="UTC")),
        "received_at": pa.array(received_us, pa.timestamp("us", tz="UTC")),
        "user_id": pa.array(np.char.add("user-", rng.integers(1, users + 1, rows).astype(str))),
        "user_agent": pa.array(["loadgen/1.0"] * rows),
        "client_host": pa.array(["127.0.0.1"] * rows),
        "kafka_topic": pa.array([f"eventlake.{et.domain}"] * rows),
        "kafka_partition": pa.array(rng.integers(0, 3, rows).astype(np.int32)),
        "kafka_offset": pa.array(np.arange(rows, dtype=np.int64)),
    }
    for field in et.fields:
        kind = field.type
        if isinstance(kind, Choice):
            columns[field.name] = pa.array(np.asarray(kind.values)[rng.integers(0, len(kind.values), rows)])
        elif isinstance(kind, Integer):
            low = kind.ge if kind.ge is not None else 0
            high = kind.le if kind.le is not None else 1000
            columns[field.name] = pa.array(rng.integers(low, high + 1, rows), pa.int64())
        elif isinstance(kind, Money):
            columns[field.name] = _money(rng, rows, kind)
        elif isinstance(kind, Timestamp):
            columns[field.name] = pa.array(event_us - rng.integers(0, 2_000_000, rows), pa.timestamp("us", tz="UTC"))
        elif isinstance(kind, Text):
            example = str(field.example or "x")
            if example.startswith("/"):
                columns[field.name] = pa.array(np.char.add(example, rng.integers(1, 6, rows).astype(str)))
            else:
                columns[field.name] = pa.array(np.char.add(example, rng.integers(1, 10, rows).astype(str)))
        else:  # pragma: no cover - every type is handled above
            raise TypeError(kind)
    schema = curated_arrow_schema(et)
    return pa.table([columns[name].cast(schema.field(name).type) for name in schema.names], schema=schema)


@dataclass(frozen=True)
class WrittenPartition:
    table: str
    hour: HourPartition
    location: str
    directory: Path
    rows: int


def write_curated_partition(
    curated_root: Path, et: EventType, hour: HourPartition, table: pa.Table, *, version: str = "1", files: int = 1
) -> WrittenPartition:
    """Write one curated partition version (``part-<n>.parquet`` files) and return its location."""
    directory = curated_root / curated_version_path(et.table, hour, version)
    directory.mkdir(parents=True, exist_ok=True)
    per_file = -(-table.num_rows // files) if table.num_rows else 0
    for n in range(files):
        pq.write_table(table.slice(n * per_file, per_file), directory / f"part-{n:05d}.parquet", compression="zstd")
    return WrittenPartition(et.table, hour, _location(directory), directory, table.num_rows)


def version_now() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def quarantine_arrow_schema() -> pa.Schema:
    """Arrow schema of a quarantine data file (what the stream writes)."""
    return pa.schema([(name, _arrow_type(kind)) for name, kind, _ in QUARANTINE_COLUMNS])


def synthetic_quarantine(day: str, rows: int, rng: np.random.Generator) -> pa.Table:
    """``rows`` quarantined messages with broker timestamps on ``day`` (``yyyy-MM-dd``)."""
    start_us = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1_000_000)
    columns = {
        "kafka_topic": pa.array(["eventlake.game"] * rows),
        "kafka_partition": pa.array(rng.integers(0, 3, rows).astype(np.int32)),
        "kafka_offset": pa.array(np.arange(rows, dtype=np.int64)),
        "kafka_timestamp": pa.array(np.sort(start_us + rng.integers(0, 24 * _MICROS_PER_HOUR, rows))),
        "kafka_key": pa.array([None] * rows, pa.binary()),
        "raw_value": pa.array([b"{not json"] * rows),
        "error": pa.array(["not JSON"] * rows),
    }
    schema = quarantine_arrow_schema()
    return pa.table([columns[name].cast(schema.field(name).type) for name in schema.names], schema=schema)


def write_quarantine_partition(quarantine_root: Path, day: str, table: pa.Table, *, batch_id: int = 1) -> str:
    """Write one quarantine file where the stream puts it; returns its partition's location."""
    directory = quarantine_root / f"quarantine_date={day}"
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / batch_file_name(batch_id, 0), compression="zstd")
    return _location(directory)


def _location(directory: Path) -> str:
    """A local directory's location as compaction publishes it (:meth:`eventlake.compaction.storage.Lake.uri`).

    Not ``Path.as_uri()``: it escapes the ``=`` of ``event_date=...`` as ``%3D``, which Hadoop's ``Path``
    (the metastore's) does not unescape; the metastore would find no such directory and create an empty
    ``event_date%3D...`` one beside it on every add.
    """
    return f"file://{directory.resolve()}"
