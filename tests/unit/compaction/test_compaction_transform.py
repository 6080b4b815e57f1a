"""The compaction transform on a local Spark session: typed columns, one row per event, same winner."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa

from eventlake.catalog import curated_columns, get_event_type, spark_curated_schema
from eventlake.compaction.fixtures import LANDING_SCHEMA, LandingWriter
from eventlake.compaction.transform import SORT_KEY, compact, dedupe_events, file_layout, parse_landing
from eventlake.lake import HourPartition

ITEM = get_event_type("game.item_purchased")
TICK = get_event_type("market.price_tick")
HOUR = HourPartition("2026-11-24", 9)
NEXT_HOUR = HourPartition("2026-11-24", 10)
ONE_FILE = file_layout({HOUR: 1})


def landing_frame(spark, rows, hour=HOUR):
    table = pa.Table.from_pylist(rows, schema=LANDING_SCHEMA)
    frame = spark.createDataFrame(table)
    return frame.selectExpr("*", f"'{hour.event_date}' as event_date", f"'{hour.event_hour}' as event_hour")


def assert_same_rows(actual, expected):
    """Same columns and the same rows (pyspark's assertDataFrameEqual needs pyspark.pandas, broken on pandas 3)."""
    assert actual.columns == expected.columns
    assert sorted(actual.collect()) == sorted(expected.collect())


def events(et, count, seed=1):
    writer = LandingWriter(None, random.Random(seed))  # type: ignore[arg-type]
    rows = writer.events(et, HOUR, count)
    for offset, row in enumerate(rows):
        row["kafka_offset"] = offset
    return rows


def test_parse_landing_types_the_payload_like_the_catalog(spark):
    rows = events(TICK, 3)
    rows[0]["payload"] = (
        '{"coin_id": "bitcoin", "symbol": "btc", "price": "42000.12345678", "quote_currency": "usd",'
        ' "quote_time": "2026-11-24T09:59:58Z"}'
    )
    curated = parse_landing(landing_frame(spark, rows), TICK)
    expected = spark_curated_schema(TICK, with_partitions=True)
    assert [(f.name, f.dataType) for f in curated.schema] == [(f.name, f.dataType) for f in expected]
    assert curated.columns == [name for name, _, _ in curated_columns(TICK)] + ["event_date", "event_hour"]
    first = curated.where(curated.event_id == rows[0]["event_id"]).first()
    assert first["price"] == Decimal("42000.12345678")
    assert first["quote_time"] == datetime(2026, 11, 24, 9, 59, 58)
    assert (first["event_date"], first["event_hour"]) == ("2026-11-24", 9)


def test_duplicates_keep_the_first_delivery_whatever_the_input_order(spark):
    original = events(ITEM, 50)
    redelivered = [dict(row, kafka_offset=row["kafka_offset"] + 1000, user_agent="replay") for row in original[:20]]
    mixed = redelivered + original
    random.Random(3).shuffle(mixed)
    deduped = dedupe_events(parse_landing(landing_frame(spark, mixed), ITEM))
    expected = parse_landing(landing_frame(spark, original), ITEM)
    assert_same_rows(deduped, expected)
    assert deduped.where(deduped.user_agent == "replay").count() == 0


def test_compact_merges_late_events_into_the_published_rows_once(spark):
    on_time = events(ITEM, 30, seed=1)
    published = parse_landing(landing_frame(spark, on_time), ITEM)
    late = events(ITEM, 5, seed=2)
    for offset, row in enumerate(late):
        row["kafka_offset"] = 500 + offset
    # A late file also re-delivers three already published events.
    again = [dict(row, kafka_offset=900 + n) for n, row in enumerate(on_time[:3])]
    merged = compact(landing_frame(spark, late + again), published, ITEM, ONE_FILE)
    assert_same_rows(merged, parse_landing(landing_frame(spark, on_time + late), ITEM))
    assert merged.columns == [name for name, _, _ in curated_columns(ITEM)] + ["event_date", "event_hour"]


def test_each_file_holds_one_hour_every_copy_of_its_events_sorted_and_is_counted(spark):
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    first, second = events(ITEM, 300, seed=4), events(ITEM, 100, seed=5)
    for offset, row in enumerate(second):
        row["kafka_offset"] = 5000 + offset
    # Re-deliveries of a third of each hour, with later offsets, so each hour's files hold copies to drop.
    again = [dict(row, kafka_offset=9000 + n, user_agent="replay") for n, row in enumerate(first[:100])]
    again_next = [dict(row, kafka_offset=9500 + n, user_agent="replay") for n, row in enumerate(second[:30])]
    landing = landing_frame(spark, first + again).unionByName(landing_frame(spark, second + again_next, NEXT_HOUR))
    layout = file_layout({HOUR: 3, NEXT_HOUR: 1})
    rows_read, rows_kept = Observation("read"), Observation("kept")
    curated = compact(landing, None, ITEM, layout, rows_read=rows_read, rows_kept=rows_kept)

    per_file = curated.withColumn("task", F.spark_partition_id()).collect()
    assert len(per_file) == 400
    assert not [row for row in per_file if row["user_agent"] == "replay"]
    tasks: dict[int, list] = {}
    for row in per_file:
        tasks.setdefault(row["task"], []).append(row)
    assert len(tasks) == 4
    for rows in tasks.values():
        assert len({(row["event_date"], row["event_hour"]) for row in rows}) == 1
        keys = [tuple(row[k] for k in SORT_KEY) for row in rows]
        assert keys == sorted(keys)
    assert {row["task"] for row in per_file if row["event_hour"] == NEXT_HOUR.event_hour} == {3}
    assert rows_read.get == {"new_0": 400, "published_0": 0, "new_1": 130, "published_1": 0}
    assert rows_kept.get == {"rows_0": 300, "rows_1": 100}


def test_rows_from_a_utc_session_keep_event_time(spark):
    rows = events(ITEM, 1)
    curated = parse_landing(landing_frame(spark, rows), ITEM).first()
    assert curated["event_time"] == rows[0]["event_time"].astimezone(UTC).replace(tzinfo=None)
