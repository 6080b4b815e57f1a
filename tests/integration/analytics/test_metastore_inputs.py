"""The analytics against a real Hive Metastore: the quarantine's partitions and a backfill of the DAG.

A thrift metastore (Hive 2.3 from pyspark's jars) and the bootstrap's Spark job create every lake
table from the catalog. The quarantine is then read through the metastore by Spark SQL (as Trino reads
it) and by the embedded engine; ``run_analytics_hourly`` is backfilled over past hours with
``dag.test`` and must leave exactly one report per (question, hour), an empty hour included.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from analytics_helpers import create_lake_tables, run_in_spark

from eventlake.analytics.engines import DuckDBEngine, MetastoreLocations, clear_location_cache
from eventlake.analytics.inputs import register_quarantine_partitions
from eventlake.analytics.intervals import ReportInterval
from eventlake.analytics.questions import question_by_name, questions_for
from eventlake.analytics.synthetic import (
    synthetic_events,
    synthetic_quarantine,
    version_now,
    write_curated_partition,
    write_quarantine_partition,
)
from eventlake.catalog.derive import QUARANTINE_TABLE, lake_tables
from eventlake.catalog.events import EVENT_TYPES
from eventlake.compaction import local_services
from eventlake.compaction.storage import Lake
from eventlake.lake import HourPartition, PartitionBounds
from eventlake.reports.store import ReportStore
from eventlake.settings import REPO_ROOT, EventlakeSettings, load_settings
from eventlake.stack.testing import free_ports

pytestmark = pytest.mark.integration

SEEDED_HOURS = (HourPartition("2026-11-24", 10), HourPartition("2026-11-24", 11))
EMPTY_HOUR = HourPartition("2026-11-24", 12)
QUARANTINED = {"2026-11-23": 4, "2026-11-24": 9}


SPARK_SQL = """
import json, sys
from eventlake.compaction.runner import build_spark
from eventlake.settings import load_settings
spark = build_spark(load_settings(), "analytics-metastore-it", master="local[1]")
rows = [row.asDict() for row in spark.sql(sys.argv[1]).collect()]
spark.stop()
print(json.dumps(rows))
"""


def spark_sql(settings: EventlakeSettings, sql: str) -> list[dict]:
    """Rows of a Spark SQL query over the metastore's tables (as Trino would read them)."""
    return list(json.loads(run_in_spark(settings, "-c", SPARK_SQL, sql).stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def lake_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventlakeSettings]:
    """Settings of a fresh lake whose metastore holds every lake table, created by the bootstrap's Spark job."""
    home = tmp_path_factory.mktemp("analytics-metastore")
    with local_services.hive_metastore(home / "metastore", free_ports(1)[0]) as metastore_uri:
        settings = load_settings(
            home=home / "lake",
            metastore_uri=metastore_uri,
            hive_database=f"analytics_it_{os.getpid()}",
            spark_executor_memory="1g",
        )
        created = create_lake_tables(settings)
        assert f"tables in {settings.hive_database}: {', '.join(t.name for t in lake_tables())}" in created
        yield settings


def test_the_quarantine_is_registered_and_read_through_the_metastore(lake_settings) -> None:
    settings = lake_settings
    quarantine = Path(Lake.from_uri(settings, settings.quarantine_uri).path(settings.quarantine_uri))
    rng = np.random.default_rng(11)
    for day, count in QUARANTINED.items():
        write_quarantine_partition(quarantine, day, synthetic_quarantine(day, count, rng))

    assert register_quarantine_partitions(settings) == sorted(QUARANTINED)
    assert register_quarantine_partitions(settings) == [], "registering again adds nothing"

    table = f"`{settings.hive_database}`.`{QUARANTINE_TABLE}`"
    counted = spark_sql(
        settings,
        f"select quarantine_date, count(*) as n, max(decode(raw_value, 'UTF-8')) as raw, max(error) as error "
        f"from {table} group by quarantine_date",
    )
    assert {row["quarantine_date"]: row["n"] for row in counted} == QUARANTINED
    assert {(row["raw"], row["error"]) for row in counted} == {("{not json", "not JSON")}

    day = ReportInterval.parse_id("20261124T0000Z--20261125T0000Z")
    engine = DuckDBEngine.from_settings(settings)
    try:
        got = engine.run(question_by_name("platform_quarantine_rate").sql(REPO_ROOT / "sql"), day.parameters())
    finally:
        engine.close()
    assert [(r["activity_date"], r["quarantined"]) for r in got.to_pylist()] == [("2026-11-24", 9)]

    write_quarantine_partition(quarantine, "2026-11-25", synthetic_quarantine("2026-11-25", 2, rng))
    assert register_quarantine_partitions(settings) == ["2026-11-25"]


def seed_hours(settings: EventlakeSettings) -> dict[HourPartition, list[dict]]:
    """Curated partitions of every table for the seeded hours, published in the metastore; the purchases."""
    from eventlake.metastore import connect

    rng = np.random.default_rng(3)
    purchases: dict[HourPartition, list[dict]] = {}
    curated = Path(Lake.from_settings(settings).curated)
    with connect(settings) as client:
        for et in EVENT_TYPES:
            locations = {}
            for hour in SEEDED_HOURS:
                table = synthetic_events(et, hour, 25, rng, users=30)
                locations[hour] = write_curated_partition(curated, et, hour, table, version=version_now()).location
                if et.table == "game_item_purchased":
                    purchases[hour] = table.to_pylist()
            client.publish_all(et.table, locations)
    return purchases


def test_a_backfill_of_past_hours_publishes_one_report_per_hour_and_question(
    lake_settings, airflow_db, monkeypatch
) -> None:
    settings = lake_settings
    purchases = seed_hours(settings)
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "run_analytics_hourly.py")).dags["run_analytics_hourly"]
    hours = (*SEEDED_HOURS, EMPTY_HOUR)
    run_ids = {}
    for hour in hours:
        run = dag.test(logical_date=hour.end)
        assert run.state == DagRunState.SUCCESS
        assert (run.data_interval_start, run.data_interval_end) == (hour.start, hour.end)
        run_ids[hour] = run.run_id

    store = ReportStore.from_settings(settings)
    hourly = {q.name for q in questions_for("hourly")}
    published = [(e["question"], e["interval_id"]) for e in store.index()]
    assert sorted(published) == sorted((q, ReportInterval(h.start, h.end).id) for q in hourly for h in hours)
    for hour in hours:
        interval = ReportInterval(hour.start, hour.end)
        recorded = store.run_reports("run_analytics_hourly", run_ids[hour])
        assert {(r["question"], r["interval_id"]) for r in recorded} == {(q, interval.id) for q in hourly}
        summary = store.summary("game_purchases_by_item", interval.id)
        assert summary["run"]["run_id"] == run_ids[hour]
        if hour == EMPTY_HOUR:
            assert summary["row_count"] == 0
            assert summary["empty"] is True
            assert b"No data in this interval" in store.read("game_purchases_by_item", interval.id, "report.html")
            continue
        revenue: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for row in purchases[hour]:
            revenue[(row["item"], row["item_kind"])] += row["price"]
        csv = store.read("game_purchases_by_item", interval.id, "result.csv").decode().splitlines()[1:]
        got = {tuple(line.replace('"', "").split(",")[:2]): Decimal(line.split(",")[3]) for line in csv}
        assert got == dict(revenue)


def test_partitions_are_fetched_by_event_date_from_the_metastore(lake_settings) -> None:
    """What the embedded engine asks for a bounded question: only the partitions of those days."""
    from eventlake.metastore import connect

    settings = lake_settings
    et = EVENT_TYPES[0]
    curated = Path(Lake.from_settings(settings).curated)
    hours = (HourPartition("2026-10-01", 3), HourPartition("2026-10-02", 0), HourPartition("2026-10-03", 23))
    rng = np.random.default_rng(5)
    with connect(settings) as client:
        published = {}
        for hour in hours:
            written = write_curated_partition(curated, et, hour, synthetic_events(et, hour, 3, rng), version="1")
            client.publish(et.table, hour, written.location)
            published[hour] = written.location
        every = client.partition_locations(et.table)
        # The metastore normalises file:/// to file:/; the paths are the same.
        assert {hour: urlparse(every[hour]).path for hour in hours} == {
            hour: urlparse(location).path for hour, location in published.items()
        }
        one_day = client.partition_locations(et.table, event_dates=lambda day: day == "2026-10-02")
        assert one_day == {hours[1]: every[hours[1]]}
        assert client.partitions(et.table, event_dates=lambda day: False) == {}
        # A table partitioned by something else is returned whole.
        assert client.partitions(QUARANTINE_TABLE, event_dates=lambda day: False) == client.partitions(QUARANTINE_TABLE)


def test_partitions_within_bounds_are_fetched_from_the_metastore(lake_settings) -> None:
    """What the embedded engine asks for a question filtering on event_date and event_hour: only those hours."""
    from eventlake.metastore import connect

    settings = lake_settings
    et = EVENT_TYPES[1]
    curated = Path(Lake.from_settings(settings).curated)
    # 9 and 10: an hour compared as a string would put 10 before 9.
    hours = [HourPartition("2026-10-05", hour) for hour in (2, 9, 10, 23)] + [HourPartition("2026-10-06", 9)]
    rng = np.random.default_rng(6)
    with connect(settings) as client:
        client.publish_all(
            et.table,
            {
                hour: write_curated_partition(
                    curated, et, hour, synthetic_events(et, hour, 2, rng), version="1"
                ).location
                for hour in hours
            },
        )
        every = client.partitions(et.table)

        def within(bounds: PartitionBounds) -> set[HourPartition]:
            got = client.partitions_within(et.table, bounds)
            assert got == {values: every[values] for values in got}, "each with its published location"
            return {HourPartition(day, int(hour)) for day, hour in got}

        # One hour, and two days of one hour: fetched by their values (an absent one is skipped).
        assert within(PartitionBounds("2026-10-05", "2026-10-05", 9, 9)) == {hours[1]}
        assert within(PartitionBounds("2026-10-05", "2026-10-06", 9, 9)) == {hours[1], hours[4]}
        assert within(PartitionBounds("2026-10-05", "2026-10-05", 3, 3)) == set()
        # More: through the metastore's filter, which compares hours as ints.
        assert within(PartitionBounds("2026-10-05", "2026-10-05", 3, 22)) == {hours[1], hours[2]}
        assert within(PartitionBounds("2026-10-05", "2026-10-05", None, 9)) == {hours[0], hours[1]}
        assert within(PartitionBounds(None, "2026-10-05", 10, None)) == {hours[2], hours[3]}
        # (Other tests of the module publish later days of this table.)
        assert within(PartitionBounds("2026-10-06", "2026-10-31")) == {hours[4]}
        assert within(PartitionBounds()) >= set(hours)


def test_every_publish_moves_the_change_token_and_an_engine_asked_again_reads_the_new_version(lake_settings) -> None:
    """The embedded engine's location cache against the real metastore: a repeated question costs one
    ``get_database`` call, and a publish (one partition, or a table's run) is seen by the next question."""
    from eventlake.metastore import connect

    settings = lake_settings
    et = EVENT_TYPES[1]
    hour = HourPartition("2026-09-01", 7)
    curated = Path(Lake.from_settings(settings).curated)
    rng = np.random.default_rng(8)
    sql = f"select count(*) as n from {et.table} where event_date = :day and event_hour = {hour.event_hour}"

    def count_and_lookups() -> tuple[int, int]:
        locations = MetastoreLocations(settings)
        engine = DuckDBEngine(locations, on_close=locations.close)
        try:
            counted = engine.run(sql, {"day": hour.event_date}).column("n")[0].as_py()
        finally:
            engine.close()
        return counted, locations.lookups

    clear_location_cache()
    with connect(settings) as client:
        before = client.partitions_token()
        client.publish(
            et.table, hour, write_curated_partition(curated, et, hour, synthetic_events(et, hour, 5, rng)).location
        )
        first = client.partitions_token()
    assert first != before, "publish sets a new token"
    assert count_and_lookups() == (5, 1)
    assert count_and_lookups() == (5, 0), "asked again: the cached location, after one token check"

    with connect(settings) as client:
        version = write_curated_partition(curated, et, hour, synthetic_events(et, hour, 8, rng), version="2")
        client.publish_all(et.table, {hour: version.location})
        assert client.partitions_token() not in (before, first), "publish_all sets a new token"
    assert count_and_lookups() == (8, 1), "the next question reads the new version"
