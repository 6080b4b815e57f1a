"""The landing commit protocol: hidden files, manifest, rename; idempotent replays and roll-forward."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from eventlake import lake
from eventlake.streaming.control import FencedOutError
from eventlake.streaming.landing import LandingWriter, encode_files
from eventlake.streaming.transform import LANDING_COLUMNS, QUARANTINE_COLUMNS, ROUTED_COLUMNS

T0 = datetime(2026, 11, 24, 9, 5, tzinfo=UTC)


def routed_table(rows: int, *, bad_every: int = 0, hours: tuple[int, ...] = (9,), first_offset: int = 0) -> pa.Table:
    """A table shaped like route_events' output (valid rows over two types and several hours)."""
    columns: dict[str, list] = {name: [] for name in ROUTED_COLUMNS}
    for i in range(rows):
        bad = bool(bad_every) and i % bad_every == 0
        hour = hours[(i // 2) % len(hours)]
        event_type = ("game.paid", "bank.deposited")[i % 2]
        values = {
            "event_id": None if bad else f"id-{first_offset + i}",
            "event_type": None if bad else event_type,
            "schema_version": None if bad else 1,
            "event_time": None if bad else T0.replace(hour=hour),
            "received_at": None if bad else T0,
            "user_id": None if bad else "u1",
            "user_agent": None,
            "client_host": None,
            "payload": None if bad else '{"amount":"1.00"}',
            "kafka_topic": "eventlake.game",
            "kafka_partition": i % 3,
            "kafka_offset": first_offset + i,
            "kafka_timestamp": T0,
            "kafka_key": b"k" if bad else None,
            "raw_value": b"{broken" if bad else None,
            "error": "malformed JSON" if bad else None,
            "event_date": None if bad else "2026-11-24",
            "event_hour": None if bad else hour,
        }
        for name, value in values.items():
            columns[name].append(value)
    schema = pa.schema(
        [
            (name, pa.timestamp("us", tz="UTC"))
            if name in ("event_time", "received_at", "kafka_timestamp")
            else (name, pa.binary())
            if name in ("kafka_key", "raw_value")
            else (name, pa.int32())
            if name in ("schema_version", "kafka_partition", "event_hour")
            else (name, pa.int64())
            if name == "kafka_offset"
            else (name, pa.string())
            for name in ROUTED_COLUMNS
        ]
    )
    return pa.table(columns, schema=schema)


@pytest.fixture
def writer(tmp_path: Path) -> LandingWriter:
    return LandingWriter(str(tmp_path / "landing"), str(tmp_path / "quarantine"))


def visible_rows(root: Path) -> pa.Table:
    """What a directory-listing reader sees (pyarrow skips names starting with _ or ., like Hive/Trino)."""
    if not root.exists():
        return pa.table({})
    return ds.dataset(str(root), format="parquet", partitioning="hive").to_table()


def test_batch_lands_by_type_date_hour_and_quarantines_bad_rows(writer: LandingWriter, tmp_path: Path) -> None:
    commit = writer.write_batch(routed_table(100, bad_every=10, hours=(9, 10)), batch_id=4)
    assert (commit.landed_rows, commit.quarantined_rows) == (90, 10)
    landed = visible_rows(tmp_path / "landing")
    assert landed.num_rows == 90
    assert sorted(
        p.relative_to(tmp_path / "landing").as_posix() for p in (tmp_path / "landing").rglob("*.parquet")
    ) == [
        "event_type=bank.deposited/event_date=2026-11-24/event_hour=10/batch-000000000004-0000.parquet",
        "event_type=bank.deposited/event_date=2026-11-24/event_hour=9/batch-000000000004-0001.parquet",
        "event_type=game.paid/event_date=2026-11-24/event_hour=10/batch-000000000004-0002.parquet",
        "event_type=game.paid/event_date=2026-11-24/event_hour=9/batch-000000000004-0003.parquet",
    ]
    quarantine = visible_rows(tmp_path / "quarantine")
    assert quarantine.num_rows == 10
    assert set(quarantine["raw_value"].to_pylist()) == {b"{broken"}
    assert set(quarantine.column_names) >= {"kafka_topic", "kafka_partition", "kafka_offset", "error", "raw_value"}
    manifest = json.loads((tmp_path / "landing" / lake.COMMITS_DIR / lake.commit_manifest_name(4)).read_text())
    assert manifest["landed_rows"] == 90
    assert len(manifest["files"]) == 5


def test_replaying_a_committed_batch_writes_nothing_twice(writer: LandingWriter, tmp_path: Path) -> None:
    table = routed_table(50)
    writer.write_batch(table, batch_id=1)
    replay = writer.write_batch(table, batch_id=1)
    assert replay.replayed
    assert visible_rows(tmp_path / "landing").num_rows == 50


def test_crash_before_the_manifest_leaves_nothing_visible_and_the_retry_lands_once(tmp_path: Path) -> None:
    def crash() -> None:
        raise FencedOutError("simulated crash before the commit point")

    crashing = LandingWriter(str(tmp_path / "landing"), str(tmp_path / "quarantine"), fencing_check=crash)
    table = routed_table(60, bad_every=6)
    with pytest.raises(FencedOutError):
        crashing.write_batch(table, batch_id=7)
    assert list((tmp_path / "landing").rglob("_batch-*.parquet"))  # hidden files were written...
    assert visible_rows(tmp_path / "landing").num_rows == 0  # ...and no reader sees them
    assert not (tmp_path / "landing" / lake.COMMITS_DIR / lake.commit_manifest_name(7)).exists()

    retry = LandingWriter(str(tmp_path / "landing"), str(tmp_path / "quarantine"))
    retry.write_batch(table, batch_id=7)
    landed = visible_rows(tmp_path / "landing")
    assert landed.num_rows == 50
    assert sorted(landed["kafka_offset"].to_pylist()) == [i for i in range(60) if i % 6]
    assert not list((tmp_path / "landing").rglob("_batch-*.parquet"))


def test_crash_after_the_manifest_is_rolled_forward_on_recovery(writer: LandingWriter, tmp_path: Path) -> None:
    writer.write_batch(routed_table(30, hours=(1, 2, 3)), batch_id=2)
    # Undo the renames, as if the driver died between the manifest and the renames.
    for path in (tmp_path / "landing").rglob("batch-*.parquet"):
        path.rename(path.with_name("_" + path.name))
    assert visible_rows(tmp_path / "landing").num_rows == 0
    fresh = LandingWriter(str(tmp_path / "landing"), str(tmp_path / "quarantine"))
    assert fresh.recover() == [2]
    assert visible_rows(tmp_path / "landing").num_rows == 30


def test_empty_batch_commits_nothing(writer: LandingWriter, tmp_path: Path) -> None:
    commit = writer.write_batch(routed_table(0), batch_id=9)
    assert commit.landed_rows == 0
    assert not (tmp_path / "landing").exists() or not list((tmp_path / "landing").rglob("*.json"))


def test_files_encoded_by_several_tasks_commit_as_one_batch(writer: LandingWriter, tmp_path: Path) -> None:
    # Two Spark tasks, each with its own partitions, encode their rows; the driver commits both at once.
    first = encode_files(routed_table(40, bad_every=8, first_offset=0))
    second = encode_files(routed_table(30, bad_every=10, first_offset=100))
    commit = writer.write_encoded(pa.concat_tables([second, first]), batch_id=3)
    assert (commit.landed_rows, commit.quarantined_rows) == (35 + 27, 5 + 3)
    landed = visible_rows(tmp_path / "landing")
    assert sorted(landed["kafka_offset"].to_pylist()) == sorted(
        [i for i in range(40) if i % 8] + [100 + i for i in range(30) if i % 10]
    )
    paths = sorted(p.name for p in (tmp_path / "landing").rglob("*.parquet"))
    assert paths == [lake.batch_file_name(3, n) for n in range(4)]  # two files in each of two directories
    manifest = json.loads((tmp_path / "landing" / lake.COMMITS_DIR / lake.commit_manifest_name(3)).read_text())
    assert manifest["offsets"] == {"eventlake.game": {"0": [0, 127], "1": [1, 128], "2": [2, 129]}}
    # The same files in another order (tasks finishing the other way round) get the same names.
    again = LandingWriter(str(tmp_path / "again"), str(tmp_path / "again-quarantine"))
    assert again.write_encoded(pa.concat_tables([first, second]), batch_id=3).files == commit.files


def test_encoded_files_hold_what_write_batch_would_land(tmp_path: Path) -> None:
    table = routed_table(50, bad_every=5, hours=(1, 2))
    files = encode_files(table)
    assert set(files["root"].to_pylist()) == {"landing", "quarantine"}
    assert sum(files["rows"].to_pylist()) == 50
    for root, data in zip(files["root"].to_pylist(), files["data"], strict=True):
        content = pq.read_table(pa.BufferReader(data.as_buffer()))
        assert tuple(content.column_names) == (LANDING_COLUMNS if root == "landing" else QUARANTINE_COLUMNS)
