"""Benchmark: a day of landed events in thousands of small files vs the compacted curated tables.

Lands a day (default 5M events, 3 event types, 60 files per type and hour = 4,320 files, 1% re-delivered
duplicates) in the landing layout, compacts it with the real job (``run_compaction``, Spark local[2],
a real Hive Metastore from pyspark's jars), then runs the same queries over both layouts, side by side,
on DuckDB and Spark SQL: a full-scan GROUP BY and a one-hour filter. Prints medians and ratios and
writes ``var/bench/compaction.json``.

    .venv/bin/python benchmarks/bench_compaction.py [--events 5000000] [--files-per-hour 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eventlake import metastore
from eventlake.catalog import EventType, get_event_type
from eventlake.catalog.types import Choice, Integer, Money, Text, Timestamp
from eventlake.compaction.fixtures import LANDING_SCHEMA
from eventlake.compaction.local_services import free_port, hive_metastore
from eventlake.compaction.runner import build_spark, run_compaction
from eventlake.compaction.storage import Lake
from eventlake.lake import HourPartition, batch_file_name, landing_partition_path
from eventlake.settings import REPO_ROOT, EventlakeSettings

MIX = (("game.item_purchased", 0.6), ("game.page_viewed", 0.3), ("bank.deposited", 0.1))
DAY = datetime(2026, 11, 20, tzinfo=UTC)
FILTER_HOUR = HourPartition("2026-11-20", 12)


def _strings(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(str))


def payload_json(et: EventType, n: int, rng: np.random.Generator) -> pa.Array:
    """Payload JSON of ``n`` random valid events, built column-wise (no Python loop over rows)."""
    parts: list[Any] = ["{"]
    for i, field in enumerate(et.fields):
        t = field.type
        parts.append(f'{"," if i else ""}"{field.name}":')
        if isinstance(t, Choice):
            parts.append(pc.binary_join_element_wise('"', pa.array(rng.choice(t.values, n)), '"', ""))
        elif isinstance(t, Integer):
            parts.append(_strings(rng.integers(t.ge or 0, (t.le or 1000) + 1, n)))
        elif isinstance(t, Money):
            cents = rng.integers(1, 100_000, n)
            text = np.char.add(
                np.char.add((cents // 100).astype(str), "."), np.char.zfill((cents % 100).astype(str), 2)
            )
            parts.append(pc.binary_join_element_wise('"', pa.array(text), '"', ""))
        elif isinstance(t, Text):
            example = str(field.example)
            values = np.char.add(example, rng.integers(1, 10, n).astype(str)) if not example.startswith("/") else None
            parts.append(
                pc.binary_join_element_wise('"', pa.array(values if values is not None else [example] * n), '"', "")
            )
        elif isinstance(t, Timestamp):
            parts.append('"2026-11-20T10:00:00Z"')
    parts.append("}")
    arrays = [p if isinstance(p, pa.Array) else pa.array([p] * n) for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def land_day(lake: Lake, events: int, files_per_hour: int, seed: int = 7) -> dict[str, int]:
    """Write the day's landing files; returns counts."""
    rng = np.random.default_rng(seed)
    batch_id, offset, files, rows_total, duplicates = 0, 0, 0, 0, 0
    for hour_of_day in range(24):
        hour = HourPartition.of(DAY + timedelta(hours=hour_of_day))
        for name, share in MIX:
            et = get_event_type(name)
            n = int(events * share / 24)
            ids = pa.array([f"{x:032x}" for x in rng.integers(0, 2**62, n)])
            ids = pc.binary_join_element_wise(
                pc.utf8_slice_codeunits(ids, 0, 8),
                "-",
                pc.utf8_slice_codeunits(ids, 8, 12),
                "-4",
                pc.utf8_slice_codeunits(ids, 13, 16),
                "-8",
                pc.utf8_slice_codeunits(ids, 17, 20),
                "-",
                pc.utf8_slice_codeunits(ids, 20, 32),
                "",
            )
            micros = np.sort(rng.integers(0, 3_600_000_000, n)) + int(hour.start.timestamp() * 1_000_000)
            block = pa.table(
                {
                    "event_id": ids,
                    "event_type": pa.array([name] * n),
                    "schema_version": pa.array(np.full(n, et.version, dtype=np.int32)),
                    "event_time": pa.array(micros, pa.timestamp("us", tz="UTC")),
                    "received_at": pa.array(micros + rng.integers(1_000, 2_000_000, n), pa.timestamp("us", tz="UTC")),
                    "user_id": pa.array(np.char.add("user-", rng.integers(0, 50_000, n).astype(str))),
                    "user_agent": pa.array(["bench/1.0"] * n),
                    "client_host": pa.array(["127.0.0.1"] * n),
                    "payload": payload_json(et, n, rng),
                    "kafka_topic": pa.array([f"eventlake.{et.topic_name}"] * n),
                    "kafka_partition": pa.array(rng.integers(0, 3, n).astype(np.int32)),
                    "kafka_offset": pa.array(np.arange(offset, offset + n, dtype=np.int64)),
                },
                schema=LANDING_SCHEMA,
            )
            offset += n
            # 1% of each hour re-delivered in a later file of the same hour (a producer retry or a replay).
            again = block.take(pa.array(rng.choice(n, n // 100, replace=False)))
            again = again.set_column(11, "kafka_offset", pa.array(np.arange(offset, offset + len(again))))
            offset += len(again)
            block = pa.concat_tables([block, again])
            duplicates += len(again)
            directory = f"{lake.landing}/{landing_partition_path(name, hour)}"
            lake.fs.create_dir(directory, recursive=True)
            for chunk in np.array_split(np.arange(block.num_rows), files_per_hour):
                path = f"{directory}/{batch_file_name(batch_id, 0)}"
                pq.write_table(block.take(pa.array(chunk)), path, compression="snappy")
                batch_id += 1
                files += 1
            rows_total += block.num_rows
    return {"files": files, "rows": rows_total, "duplicates": duplicates}


def median_seconds(run: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def count_files(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*.parquet") if not any(part.startswith("_") for part in p.parts[len(root.parts) :])]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--files-per-hour", type=int, default=60, help="Landing files per event type and hour.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/eventlake-bench-compaction"))
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "var" / "bench" / "compaction.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)

    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True)
    with hive_metastore(args.work_dir / "metastore", free_port(range(23500, 23600))) as metastore_uri:
        settings = EventlakeSettings(
            home=args.work_dir / "home", metastore_uri=metastore_uri, hive_database="eventlake_bench"
        )
        lake = Lake.from_settings(settings)
        started = time.perf_counter()
        landed = land_day(lake, args.events, args.files_per_hour)
        print(
            f"landed {landed['rows']:,} rows ({landed['duplicates']:,} duplicates) in {landed['files']:,} files "
            f"in {time.perf_counter() - started:.1f}s"
        )

        spark = build_spark(
            settings,
            "eventlake-bench-compaction",
            master="local[2]",
            extra_conf={
                "spark.driver.memory": "4g",
                "spark.ui.enabled": "false",
                "spark.ui.showConsoleProgress": "false",
            },
        )
        spark.sparkContext.setLogLevel("ERROR")
        metastore.create_tables(spark, settings)
        result = run_compaction(
            spark, settings, interval_start=DAY, interval_end=DAY + timedelta(days=1), now=DAY + timedelta(days=2)
        )
        compaction_rate = result.rows_in / result.seconds
        rows_out = sum(p.rows_out for p in result.published)
        print(
            f"compacted {result.rows_in:,} rows -> {rows_out:,} in {result.seconds:.1f}s: "
            f"{compaction_rate:,.0f} rows/s input (Spark local[2], one run over the day)"
        )
        assert rows_out == landed["rows"] - landed["duplicates"], "compaction lost or duplicated events"

        landing_root = Path(lake.landing)
        curated_root = Path(lake.curated)
        landing_files, landing_bytes = count_files(landing_root)
        curated_files, curated_bytes = count_files(curated_root)
        print(
            f"files: landing {landing_files:,} ({landing_bytes / 2**20:,.0f} MiB) -> curated {curated_files:,} "
            f"({curated_bytes / 2**20:,.0f} MiB): {landing_files / curated_files:,.0f}x fewer"
        )

        tables = [get_event_type(name).table for name, _ in MIX]
        landing_glob = f"{landing_root}/*/*/*/*.parquet"
        curated_globs = [f"{curated_root}/{t}/*/*/v=*/*.parquet" for t in tables]
        group_by = "select event_hour, count(*) as events, count(distinct user_id) as users from {src} group by 1"
        one_hour = (
            "select count(*) as events, count(distinct user_id) as users from {src} "
            f"where event_date = '{FILTER_HOUR.event_date}' and event_hour = {FILTER_HOUR.event_hour}"
        )

        def duck(sql: str, globs: list[str]) -> Any:
            source = " union all ".join(
                f"select event_date, event_hour, user_id from read_parquet('{g}', hive_partitioning=true)"
                for g in globs
            )
            with duckdb.connect() as con:
                return sorted(con.sql(sql.format(src=f"({source})")).fetchall())

        def spark_landing(sql: str) -> Any:
            landing = spark.read.option("basePath", str(landing_root)).parquet(str(landing_root))
            landing.selectExpr(
                "event_date", "cast(event_hour as int) as event_hour", "user_id"
            ).createOrReplaceTempView("landing")
            return sorted(tuple(r) for r in spark.sql(sql.format(src="landing")).collect())

        def spark_curated(sql: str) -> Any:
            for t in tables:
                spark.sql(f"refresh table eventlake_bench.{t}")
            source = " union all ".join(
                f"select event_date, event_hour, user_id from eventlake_bench.{t}" for t in tables
            )
            return sorted(tuple(r) for r in spark.sql(sql.format(src=f"({source})")).collect())

        figures: dict[str, Any] = {}
        for engine, runs in (
            ("duckdb", (lambda q: duck(q, [landing_glob]), lambda q: duck(q, curated_globs))),
            ("spark_sql", (spark_landing, spark_curated)),
        ):
            for query_name, sql in (("full_scan_group_by", group_by), ("one_hour_filter", one_hour)):
                landing_s, landing_rows = median_seconds(lambda sql=sql, r=runs: r[0](sql), args.repeat)
                curated_s, curated_rows = median_seconds(lambda sql=sql, r=runs: r[1](sql), args.repeat)
                # Landing holds the re-delivered copies; distinct users agree, event counts differ by them.
                assert [row[-1] for row in landing_rows] == [row[-1] for row in curated_rows], (
                    landing_rows,
                    curated_rows,
                )
                figures[f"{engine}.{query_name}"] = {
                    "landing_s": round(landing_s, 4),
                    "curated_s": round(curated_s, 4),
                    "speedup": round(landing_s / curated_s, 2),
                }
                print(
                    f"{engine:9} {query_name:18} landing {landing_s:7.3f}s  curated {curated_s:7.3f}s  "
                    f"{landing_s / curated_s:6.1f}x"
                )
        spark.stop()

    output = {
        "benchmark": "compaction",
        "measured_at": datetime.now(UTC).isoformat(),
        "events": landed["rows"],
        "duplicates": landed["duplicates"],
        "landing_files": landing_files,
        "landing_bytes": landing_bytes,
        "curated_files": curated_files,
        "curated_bytes": curated_bytes,
        "file_ratio": round(landing_files / curated_files, 1),
        "compaction_seconds": result.seconds,
        "compaction_rows_per_s": round(compaction_rate),
        "compaction_spark": "local[2]",
        "queries": figures,
        "medians_of": args.repeat,
        # Figures on a shared 2-core machine are only comparable at a similar load.
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=2))
    print(f"wrote {args.output}")
    shutil.rmtree(args.work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
