"""Where a Spark SQL reader's one-hour query over the curated tables spends its time (not a benchmark).

``bench_compaction`` measures the one-hour filter over the 16 curated tables against the landing zone in Spark
SQL; this script takes the day it left behind (``bench_compaction.py --keep-work-dir``) and splits the curated
query's time: Spark's analysis, optimization (where the partitions are pruned, one metastore filter call per
table), planning and execution, with the Hive client calls Spark made; then the metastore's answer times for
the calls Spark sends (``get_table``, ``get_partitions_by_filter``) and for those compaction's planning sends
(``get_partition_names``, ``get_partitions_by_names``), with the embedded metastore as configured (Hive's direct
SQL on Derby) and with direct SQL off (DataNucleus queries, integral partition keys pushed down).

    .venv/bin/python benchmarks/bench_compaction.py --keep-work-dir
    .venv/bin/python benchmarks/diagnose_spark_sql_hour.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_compaction import FILTER_HOUR, bench_settings

from eventlake import metastore
from eventlake.catalog import EVENT_TYPES
from eventlake.compaction.local_services import free_port, hive_metastore
from eventlake.settings import EventlakeSettings
from eventlake.spark import spark_conf

#: JVM flags of the metastore with Hive's direct SQL off: DataNucleus (JDO) queries, which can filter on
#: the int ``event_hour`` only with integral push-down on.
WITHOUT_DIRECT_SQL = ("-Dhive.metastore.try.direct.sql=false", "-Dhive.metastore.integral.jdo.pushdown=true")
TABLES = [et.table for et in EVENT_TYPES]


def per_table_ms(call: Callable[[str], Any], rounds: int) -> float:
    """Median over ``rounds`` of the mean time of ``call`` per table (ms), after one warm-up round."""
    times = []
    for n in range(rounds + 1):
        started = time.perf_counter()
        for table in TABLES:
            call(table)
        if n:
            times.append(1000 * (time.perf_counter() - started) / len(TABLES))
    return statistics.median(times)


def metastore_calls(settings: EventlakeSettings, rounds: int) -> dict[str, float]:
    """Answer times per table of the calls a Spark reader and compaction's planning send (ms)."""
    hour_filter = f'event_date = "{FILTER_HOUR.event_date}" and event_hour = {FILTER_HOUR.event_hour}'
    with metastore.connect(settings) as wrapper:
        client, database = wrapper._client, wrapper.database
        names = {table: client.get_partition_names(database, table, -1) for table in TABLES}
        figures = {
            "get_table": per_table_ms(lambda t: client.get_table(database, t), rounds),
            "get_partitions_by_filter, the same hour again": per_table_ms(
                lambda t: client.get_partitions_by_filter(database, t, hour_filter, -1), rounds
            ),
            "get_partition_names": per_table_ms(lambda t: client.get_partition_names(database, t, -1), rounds),
            "get_partitions_by_names, a day's 24": per_table_ms(
                lambda t: client.get_partitions_by_names(database, t, names[t]), rounds
            ),
        }
        first = []
        for hour in range(rounds):  # hours not asked before on this metastore
            other = f'event_date = "{FILTER_HOUR.event_date}" and event_hour = {hour}'
            started = time.perf_counter()
            for table in TABLES:
                client.get_partitions_by_filter(database, table, other, -1)
            first.append(1000 * (time.perf_counter() - started) / len(TABLES))
        figures["get_partitions_by_filter, an hour asked first"] = statistics.median(first)
    return figures


def spark_phases(settings: EventlakeSettings, runs: int) -> list[dict[str, Any]]:
    """The curated one-hour query of ``bench_compaction`` in a reader's session: each run's phases and calls."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = SparkSession.builder.master("local[2]").appName("diagnose-spark-sql-hour")
    conf = spark_conf(settings, cores_max=2) | {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"}
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    hive_metrics = spark._jvm.org.apache.spark.metrics.source.HiveCatalogMetrics
    source = " union all ".join(
        f"select event_date, event_hour, user_id from `{settings.hive_database}`.`{t}`" for t in TABLES
    )
    sql = (
        f"select count(*) as events, count(distinct user_id) as users from ({source}) "
        f"where event_date = '{FILTER_HOUR.event_date}' and event_hour = {FILTER_HOUR.event_hour}"
    )
    out = []
    try:
        for _ in range(runs):
            calls = hive_metrics.METRIC_HIVE_CLIENT_CALLS().getCount()
            started = time.perf_counter()
            frame = spark.sql(sql)
            execution = frame._jdf.queryExecution()
            execution.executedPlan()
            planned = time.perf_counter()
            frame.collect()
            done = time.perf_counter()
            phases = execution.tracker().phases()
            out.append(
                {"total_s": round(done - started, 3), "execution_s": round(done - planned, 3)}
                | {f"{phase}_s": phases.apply(phase).durationMs() / 1000 for phase in ("analysis", "optimization")}
                | {"hive_client_calls": hive_metrics.METRIC_HIVE_CLIENT_CALLS().getCount() - calls}
            )
            print(f"  spark run: {out[-1]}", flush=True)
    finally:
        spark.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/eventlake-bench-compaction"))
    parser.add_argument("--runs", type=int, default=6, help="Spark runs per metastore configuration (first one cold)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each metastore call over the 16 tables")
    args = parser.parse_args()
    home = args.work_dir / "metastore"
    if not (home / "metastore_db").exists():
        parser.error(f"no metastore under {home}: run bench_compaction.py --keep-work-dir first")
    for label, flags in (("direct SQL (as configured)", ()), ("direct SQL off", WITHOUT_DIRECT_SQL)):
        with hive_metastore(home, free_port(range(23700, 23800)), jvm_options=flags) as uri:
            settings = bench_settings(args.work_dir, uri, "realistic", 30.0)
            print(f"metastore with {label}:", flush=True)
            runs = spark_phases(settings, args.runs)[1:]
            for key in runs[0]:
                print(f"  spark, median of {len(runs)} warm runs: {key} {statistics.median(r[key] for r in runs)}")
            for call, ms in metastore_calls(settings, args.rounds).items():
                print(f"  metastore {call}: {ms:.1f} ms per table", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
