"""Benchmark: every daily report over one day of 5M compacted events, DuckDB (embedded) vs Spark SQL.

Generates one day of curated Parquet in the lake layout (catalog columns, 16 tables x 24 hours),
then, in one run: all daily questions on DuckDB (queries alone, and the full publish with checks,
charts and files), and the same SQL transpiled by sqlglot on Spark SQL ``local[2]`` over the same
files. Prints the figures and writes ``var/bench/analytics.json``.

Goals (2 cores): all daily reports < 30 s; DuckDB >= 5x faster than Spark SQL.

    .venv/bin/python benchmarks/bench_analytics.py [--events 5000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from results import write_result

from eventlake.analytics.engines import DuckDBEngine
from eventlake.analytics.intervals import ReportInterval
from eventlake.analytics.questions import questions_for
from eventlake.analytics.runner import run_reports
from eventlake.analytics.sqltext import to_spark
from eventlake.analytics.synthetic import (
    synthetic_events,
    synthetic_quarantine,
    write_curated_partition,
    write_quarantine_partition,
)
from eventlake.analytics.views import FILE_MODIFIED_TIME, derived_views
from eventlake.catalog.derive import QUARANTINE_TABLE
from eventlake.catalog.events import EVENT_TYPES
from eventlake.lake import hours_between
from eventlake.reports.store import ReportStore
from eventlake.settings import REPO_ROOT

DAY = ReportInterval(datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
SQL_DIR = REPO_ROOT / "sql"
#: Share of the day's events per type (page views dominate, as in the game).
WEIGHTS = {"game.page_viewed": 6, "market.price_tick": 1, "game.item_purchased": 2, "bank.asset_prices_viewed": 2}


def generate(root: Path, events: int) -> dict[str, list[str]]:
    """One day of curated partitions (one file per partition, as compaction leaves them)."""
    rng = np.random.default_rng(42)
    weights = np.array([WEIGHTS.get(et.event_type, 1) for et in EVENT_TYPES], dtype=float)
    per_type = np.floor(events * weights / weights.sum()).astype(int)
    per_type[0] += events - per_type.sum()
    hours = hours_between(DAY.start, DAY.end)
    locations: dict[str, list[str]] = {}
    for et, count in zip(EVENT_TYPES, per_type, strict=True):
        per_hour = np.full(len(hours), count // len(hours))
        per_hour[: count % len(hours)] += 1
        for hour, rows in zip(hours, per_hour, strict=True):
            table = synthetic_events(et, hour, int(rows), rng, users=50_000)
            written = write_curated_partition(root / "curated", et, hour, table, version="1")
            locations.setdefault(et.table, []).append(written.location)
    day = f"{DAY.start:%Y-%m-%d}"
    quarantined = write_quarantine_partition(root / "quarantine", day, synthetic_quarantine(day, 1000, rng))
    locations[QUARANTINE_TABLE] = [quarantined]
    return locations


def time_duckdb(locations: dict[str, list[str]], repeat: int) -> dict[str, object]:
    questions = questions_for("daily")
    totals, per_question = [], {q.name: [] for q in questions}
    rows = {}
    for _ in range(repeat):
        started = time.perf_counter()
        engine = DuckDBEngine(lambda table, dates: locations.get(table, []))
        for question in questions:
            t0 = time.perf_counter()
            result = engine.run(question.sql(SQL_DIR), DAY.parameters())
            per_question[question.name].append(time.perf_counter() - t0)
            rows[question.name] = result.num_rows
        engine.close()
        totals.append(time.perf_counter() - started)
    return {
        "total_seconds_median": statistics.median(totals),
        "total_seconds_runs": totals,
        "per_question_median": {k: statistics.median(v) for k, v in per_question.items()},
        "rows": rows,
    }


def time_publish(locations: dict[str, list[str]], reports: Path) -> float:
    """The whole daily DAG task's work: freshness, queries, checks, charts, files, index."""
    engine = DuckDBEngine(lambda table, dates: locations.get(table, []))
    started = time.perf_counter()
    run_reports(engine, ReportStore(reports), questions_for("daily"), DAY, SQL_DIR, run={"dag_id": "bench"})
    elapsed = time.perf_counter() - started
    engine.close()
    return elapsed


def time_spark(root: Path, repeat: int) -> dict[str, object]:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bench-analytics")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "3g")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        for et in EVENT_TYPES:
            frame = (
                spark.read.option("basePath", str(root / "curated" / et.table))
                .parquet(str(root / "curated" / et.table))
                .withColumn(FILE_MODIFIED_TIME, F.col("_metadata.file_modification_time"))
                .drop("v")
            )
            frame.createOrReplaceTempView(et.table)
        spark.read.parquet(str(root / "quarantine")).createOrReplaceTempView(QUARANTINE_TABLE)
        for view in derived_views().values():
            spark.sql(view.create_sql("spark", temporary=True))
        questions = questions_for("daily")
        totals, per_question, rows = [], {q.name: [] for q in questions}, {}
        for _ in range(repeat):
            started = time.perf_counter()
            for question in questions:
                text = to_spark(question.sql(SQL_DIR))
                t0 = time.perf_counter()
                result = spark.sql(text, args=DAY.parameters()).collect()
                per_question[question.name].append(time.perf_counter() - t0)
                rows[question.name] = len(result)
            totals.append(time.perf_counter() - started)
        return {
            "total_seconds_median": statistics.median(totals),
            "total_seconds_runs": totals,
            "per_question_median": {k: statistics.median(v) for k, v in per_question.items()},
            "rows": rows,
        }
    finally:
        spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spark-repeat", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated data in this folder")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    try:
        t0 = time.perf_counter()
        locations = generate(root, args.events)
        generate_seconds = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in (root / "curated").rglob("*.parquet"))
        print(
            f"generated {args.events:,} events in {generate_seconds:.1f} s: {size / 1e6:.0f} MB Parquet, 384 partitions"
        )

        duck = time_duckdb(locations, args.repeat)
        publish_seconds = time_publish(locations, root / "reports")
        # Printed before Spark starts: Spark takes many times longer, and these figures stand alone.
        print(f"all daily queries, DuckDB (median of {args.repeat}): {duck['total_seconds_median']:.2f} s", flush=True)
        print(f"all daily reports published on DuckDB: {publish_seconds:.2f} s (goal < 30 s)", flush=True)
        spark = time_spark(root, args.spark_repeat)
        ratio = spark["total_seconds_median"] / duck["total_seconds_median"]

        print(f"\n{'question':40s} {'duckdb s':>9s} {'spark s':>9s} {'ratio':>7s} {'rows':>6s}")
        for name, seconds in duck["per_question_median"].items():
            spark_seconds = spark["per_question_median"][name]
            print(
                f"{name:40s} {seconds:9.3f} {spark_seconds:9.3f} {spark_seconds / seconds:7.1f} {duck['rows'][name]:6d}"
            )
        print(f"\nall daily queries, DuckDB (median of {args.repeat}): {duck['total_seconds_median']:.2f} s")
        print(
            f"all daily queries, Spark SQL local[2] (median of {args.spark_repeat}): "
            f"{spark['total_seconds_median']:.2f} s"
        )
        print(f"DuckDB speed-up: {ratio:.1f}x (goal >= 5x); load average {os.getloadavg()[0]:.1f}")
        print(
            f"all daily reports published (queries, checks, charts, files) on DuckDB: "
            f"{publish_seconds:.2f} s (goal < 30 s)"
        )
        mismatched = {k: (v, spark["rows"][k]) for k, v in duck["rows"].items() if spark["rows"][k] != v}
        if mismatched:
            print(f"WARNING: row counts differ between engines: {mismatched}")

        result = {
            "benchmark": "analytics",
            "events": args.events,
            "parquet_bytes": size,
            "cores": os.cpu_count(),
            "duckdb": duck,
            "spark_local_2": spark,
            "duckdb_publish_all_daily_reports_seconds": publish_seconds,
            "speedup_duckdb_vs_spark": ratio,
            "goals": {
                "all_daily_reports_under_30s": publish_seconds < 30,
                "duckdb_at_least_5x_spark": ratio >= 5,
            },
            "targets": [
                {
                    "target": "all daily reports published (queries, checks, charts, files), DuckDB",
                    "goal": "< 30 s",
                    "measured": f"{publish_seconds:.1f} s",
                    "met": publish_seconds < 30,
                },
                {
                    "target": "all daily queries, DuckDB vs Spark SQL local[2]",
                    "goal": ">= 5x faster",
                    "measured": f"{ratio:.1f}x",
                    "met": ratio >= 5,
                },
            ],
            "row_counts_match": not mismatched,
            # Figures on a shared 2-core machine are only comparable at a similar load.
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "measured_at": datetime.now(UTC).isoformat(),
        }
        write_result("analytics", result)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
