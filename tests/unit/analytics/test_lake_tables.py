"""The quarantine is a lake table like the curated ones: declared once, DDL derived, read typed."""

from __future__ import annotations

import pyarrow as pa

from eventlake.analytics.inputs import quarantine_partitions
from eventlake.analytics.synthetic import quarantine_arrow_schema
from eventlake.catalog.derive import QUARANTINE_COLUMNS, QUARANTINE_TABLE, hive_ddl, lake_tables
from eventlake.catalog.events import EVENT_TYPES
from eventlake.compaction.storage import Lake
from eventlake.settings import load_settings
from eventlake.streaming.arrow_router import ROUTED_ARROW_SCHEMA
from eventlake.streaming.transform import QUARANTINE_COLUMNS as STREAM_QUARANTINE_COLUMNS


def test_lake_tables_are_every_curated_table_then_the_quarantine() -> None:
    assert [t.name for t in lake_tables()] == [*(et.table for et in EVENT_TYPES), QUARANTINE_TABLE]


def test_the_quarantine_table_declares_what_the_stream_writes() -> None:
    assert tuple(name for name, _, _ in QUARANTINE_COLUMNS) == STREAM_QUARANTINE_COLUMNS
    written = pa.schema([ROUTED_ARROW_SCHEMA.field(name) for name in STREAM_QUARANTINE_COLUMNS])
    assert written.equals(quarantine_arrow_schema())


def test_the_quarantine_ddl_comes_from_the_same_derivation_as_the_curated_tables() -> None:
    table = lake_tables()[-1]
    ddl = hive_ddl(table, database="eventlake", location="s3a://lake/landing/quarantine")
    assert ddl.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `eventlake`.`landing_quarantine` (")
    for name, hive, _ in QUARANTINE_COLUMNS:
        assert f"`{name}` {hive} COMMENT" in ddl
    assert "PARTITIONED BY (`quarantine_date` string)" in ddl
    assert "STORED AS PARQUET\nLOCATION 's3a://lake/landing/quarantine'" in ddl
    assert "TBLPROPERTIES" not in ddl


def test_the_quarantine_reads_typed_as_declared(lake, engine) -> None:
    sql = "select * from landing_quarantine where quarantine_date = :first_date"
    got = engine.run(sql, {"first_date": "2026-11-24"})
    assert got.schema.field("raw_value").type == pa.binary()
    assert got.schema.field("kafka_timestamp").type == pa.timestamp("us")
    assert got.schema.field("kafka_partition").type == pa.int32()
    assert set(got.column("quarantine_date").to_pylist()) == {"2026-11-24"}
    assert got.num_rows == 7, "the hidden (uncommitted) batch file is not read"


def test_quarantine_days_on_storage_are_found_by_their_directories(tmp_path) -> None:
    quarantine = tmp_path / "landing" / "quarantine"
    for name in ("quarantine_date=2026-11-23", "quarantine_date=2026-11-24", "_tmp", "quarantine_date=junk", "x=1"):
        (quarantine / name).mkdir(parents=True)
    settings = load_settings(home=tmp_path / "home")
    found = quarantine_partitions(Lake.from_uri(settings, quarantine.as_uri()), quarantine.as_uri())
    assert found == {
        ("2026-11-23",): f"file://{quarantine}/quarantine_date=2026-11-23",
        ("2026-11-24",): f"file://{quarantine}/quarantine_date=2026-11-24",
    }
