"""The compaction transform on a local Spark session: typed columns, one row per event, same winner."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa

from eventlake.catalog import curated_columns, get_event_type, spark_curated_schema
from eventlake.compaction.fixtures import LANDING_SCHEMA, LandingWriter
from eventlake.compaction.transform import compact, dedupe_events, parse_landing
from eventlake.lake import HourPartition

ITEM = get_event_type("game.item_purchased")
TICK = get_event_type("market.price_tick")
HOUR = HourPartition("2026-11-24", 9)


def landing_frame(spark, rows):
    table = pa.Table.from_pylist(rows, schema=LANDING_SCHEMA)
    frame = spark.createDataFrame(table)
    return frame.selectExpr("*", f"'{HOUR.event_date}' as event_date", f"'{HOUR.event_hour}' as event_hour")


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
    merged = compact(landing_frame(spark, late + again), published, ITEM)
    assert_same_rows(merged, parse_landing(landing_frame(spark, on_time + late), ITEM))
    assert merged.columns == [name for name, _, _ in curated_columns(ITEM)] + ["event_date", "event_hour"]


def test_rows_from_a_utc_session_keep_event_time(spark):
    rows = events(ITEM, 1)
    curated = parse_landing(landing_frame(spark, rows), ITEM).first()
    assert curated["event_time"] == rows[0]["event_time"].astimezone(UTC).replace(tzinfo=None)
