"""Compaction of one hour in DuckDB: the same rows as the Spark transform, sorted, counted, typed like the catalog."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventlake.catalog import curated_columns, get_event_type
from eventlake.compaction.duckdb_hours import NO_DICTIONARY, HourJob, compact_hour, connection, first_deliveries, pack
from eventlake.compaction.fixtures import LANDING_SCHEMA, LandingWriter
from eventlake.compaction.runner import compaction_engine
from eventlake.compaction.storage import Lake
from eventlake.compaction.transform import SORT_KEY, compact, file_layout
from eventlake.compaction.validate import expected_arrow_schema
from eventlake.lake import HourPartition
from eventlake.settings import EventlakeSettings

ITEM = get_event_type("game.item_purchased")
TICK = get_event_type("market.price_tick")
HOUR = HourPartition("2026-11-24", 9)


def events(et, count, seed, first_offset=0):
    rows = LandingWriter(None, random.Random(seed)).events(et, HOUR, count)  # type: ignore[arg-type]
    for n, row in enumerate(rows):
        row["kafka_offset"] = first_offset + n
    return rows


def write_landing(directory, name, rows):
    path = directory / name
    pq.write_table(pa.Table.from_pylist(rows, schema=LANDING_SCHEMA), path, compression="zstd")
    return str(path)


def spark_result(spark, et, landing_rows, published_rows=None):
    """What the Spark transform keeps, as sorted Python rows of the curated columns."""

    def frame(rows):
        table = pa.Table.from_pylist(rows, schema=LANDING_SCHEMA)
        return spark.createDataFrame(table).selectExpr(
            "*", f"'{HOUR.event_date}' as event_date", f"'{HOUR.event_hour}' as event_hour"
        )

    layout = file_layout({HOUR: 1})
    published = compact(frame(published_rows), None, et, layout) if published_rows else None
    kept = compact(frame(landing_rows), published, et, layout)
    names = [name for name, _, _ in curated_columns(et)]
    return sorted(tuple(row[name] for name in names) for row in kept.toArrow().select(names).to_pylist())


def read_rows(paths):
    table = pa.concat_tables([pq.read_table(p) for p in paths])
    return sorted(tuple(row.values()) for row in table.to_pylist())


@pytest.mark.parametrize("et", [ITEM, TICK], ids=lambda et: et.event_type)
def test_an_hour_keeps_the_same_rows_as_the_spark_transform(spark, tmp_path, et):
    original = events(et, 200, seed=1)
    # Re-deliveries with later offsets and another user agent: the first delivery must win.
    again = [dict(row, kafka_offset=1000 + n, user_agent="replay") for n, row in enumerate(original[:60])]
    mixed = original + again
    random.Random(2).shuffle(mixed)
    files = [write_landing(tmp_path, f"batch-{n}.parquet", mixed[n::3]) for n in range(3)]

    result = compact_hour(HourJob(et.event_type, tuple(files), (), str(tmp_path / "out"), 1))

    written = sorted((tmp_path / "out").glob("part-*.parquet"))
    assert (result.new_rows, result.published_rows, result.kept_rows, result.files) == (260, 0, 200, 1)
    assert len(written) == 1
    table = pq.read_table(written[0])
    assert table.schema.equals(expected_arrow_schema(et))
    assert "replay" not in table["user_agent"].to_pylist()
    keys = [tuple(row[k] for k in SORT_KEY) for row in table.select(list(SORT_KEY)).to_pylist()]
    assert keys == sorted(keys)
    assert read_rows(written) == spark_result(spark, et, mixed)


def test_late_events_are_merged_into_the_published_version_once(spark, tmp_path):
    on_time = events(ITEM, 120, seed=3)
    published_dir = tmp_path / "published"
    first = compact_hour(
        HourJob(ITEM.event_type, (write_landing(tmp_path, "batch-0.parquet", on_time),), (), str(published_dir), 1)
    )
    late = events(ITEM, 15, seed=4, first_offset=500)
    # The late file also re-delivers already published events (later offsets): they stay as published.
    again = [dict(row, kafka_offset=900 + n, user_agent="replay") for n, row in enumerate(on_time[:10])]
    late_file = write_landing(tmp_path, "batch-1.parquet", late + again)

    published_files = tuple(str(p) for p in sorted(published_dir.glob("part-*.parquet")))
    result = compact_hour(HourJob(ITEM.event_type, (late_file,), published_files, str(tmp_path / "next"), 1))

    assert first.kept_rows == 120
    assert (result.new_rows, result.published_rows, result.kept_rows) == (25, 120, 135)
    merged = read_rows(sorted((tmp_path / "next").glob("part-*.parquet")))
    assert merged == spark_result(spark, ITEM, late + again, published_rows=on_time)
    assert merged == read_rows([write_landing_and_compact(tmp_path, on_time + late)])


def write_landing_and_compact(tmp_path, rows):
    path = write_landing(tmp_path, "batch-all.parquet", rows)
    compact_hour(HourJob(ITEM.event_type, (path,), (), str(tmp_path / "all"), 1))
    return str(tmp_path / "all" / "part-00000.parquet")


def test_an_hour_is_split_into_sorted_files_of_consecutive_rows_and_a_retry_replaces_them(tmp_path):
    rows = events(ITEM, 301, seed=5)
    landing = (write_landing(tmp_path, "batch-0.parquet", rows),)
    out = tmp_path / "out"
    compact_hour(HourJob(ITEM.event_type, landing, (), str(out), 5))  # an earlier attempt, with more files
    result = compact_hour(HourJob(ITEM.event_type, landing, (), str(out), 3))

    written = sorted(out.glob("part-*.parquet"))
    assert result.files == 3
    assert [p.name for p in written] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    tables = [pq.read_table(p) for p in written]
    assert [t.num_rows for t in tables] == [100, 100, 101]
    keys = [tuple(row[k] for k in SORT_KEY) for t in tables for row in t.select(list(SORT_KEY)).to_pylist()]
    assert keys == sorted(keys)
    assert len({key[-1] for key in keys}) == 301


def test_of_the_copies_of_an_event_the_first_delivered_on_the_broker_wins():
    rng = random.Random(7)
    rows = []
    for n in range(400):
        # Most events once; some two to four times, on other topics, partitions or offsets; some exact twins.
        for copy in range(rng.choice([1, 1, 1, 2, 3, 4])):
            rows.append(
                {
                    "event_id": f"e{n:04d}",
                    "kafka_topic": rng.choice(["a", "b"]),
                    "kafka_partition": rng.randrange(3),
                    "kafka_offset": rng.randrange(50),
                    "copy": copy,
                }
            )
    rng.shuffle(rows)
    table = pa.Table.from_pylist(rows)

    kept = first_deliveries(table).to_pylist()

    def position(row):
        return (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"])

    expected = {}
    for index, row in enumerate(rows):  # the lowest broker position; of exact twins, the earlier row
        best = expected.get(row["event_id"])
        if best is None or position(row) < position(rows[best]):
            expected[row["event_id"]] = index
    assert len(kept) == 400
    winners = sorted((rows[i] for i in expected.values()), key=lambda r: r["event_id"])
    assert sorted(kept, key=lambda r: r["event_id"]) == winners
    assert first_deliveries(table.slice(0, 0)).num_rows == 0
    unique = pa.table(
        {"event_id": ["x", "y"], "kafka_topic": ["a", "a"], "kafka_partition": [0, 0], "kafka_offset": [1, 2]}
    )
    assert first_deliveries(unique) is unique  # nothing to drop, nothing copied


def test_columns_with_a_value_per_row_are_written_without_a_dictionary(tmp_path):
    landing = (write_landing(tmp_path, "batch-0.parquet", events(ITEM, 50, seed=8)),)
    compact_hour(HourJob(ITEM.event_type, landing, (), str(tmp_path / "out"), 1))
    metadata = pq.read_metadata(tmp_path / "out" / "part-00000.parquet").row_group(0)
    columns = {metadata.column(i).path_in_schema: metadata.column(i) for i in range(metadata.num_columns)}
    assert {name for name, column in columns.items() if not column.has_dictionary_page} == set(NO_DICTIONARY)


def test_an_hour_without_rows_writes_no_file(tmp_path):
    empty = write_landing(tmp_path, "batch-0.parquet", [])
    result = compact_hour(HourJob(ITEM.event_type, (empty,), (), str(tmp_path / "out"), 1))
    assert (result.new_rows, result.kept_rows, result.files) == (0, 0, 0)
    assert not list((tmp_path / "out").glob("*.parquet"))


def test_the_connection_runs_one_thread_per_task():
    assert connection().execute("select current_setting('threads')").fetchone() == (1,)


def test_the_engine_follows_the_lake(tmp_path):
    local = EventlakeSettings(home=tmp_path)
    assert compaction_engine(local, Lake.from_settings(local)) == "duckdb"
    assert compaction_engine(local.model_copy(update={"compaction_engine": "spark"}), Lake.from_settings(local)) == (
        "spark"
    )
    s3 = EventlakeSettings(home=tmp_path, data_uri="s3a://lake/eventlake", s3_endpoint="http://127.0.0.1:1")
    s3_lake = Lake.from_settings(s3)
    assert compaction_engine(s3, s3_lake) == "spark"
    with pytest.raises(ValueError, match="needs a lake on local files"):
        compaction_engine(s3.model_copy(update={"compaction_engine": "duckdb"}), s3_lake)


def test_hours_are_packed_into_one_group_per_core_of_about_equal_cost():
    costs = [90, 10, 40, 40, 30, 30, 60]
    groups = pack(costs, 2)
    assert sorted(i for group in groups for i in group) == list(range(len(costs)))
    assert sorted(sum(costs[i] for i in group) for group in groups) == [140, 160]  # greedy: within 4/3 of the best
    assert pack([5.0], 4) == [[0]]
    assert len(pack(costs, 1)) == 1
