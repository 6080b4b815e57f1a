"""Spark batch job: compact the closed hours of an interval into new curated versions and publish them.

``spark-submit spark_jobs/compact_events.py --interval-start ISO --interval-end ISO [--result-path P]``
Settings come from the environment (``EVENTLAKE_*``). Prints one line per published partition and
writes a JSON result that the ``compact_events`` DAG turns into Airflow asset events.
"""

from __future__ import annotations

import argparse
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

from eventlake.compaction.runner import build_spark, result_path, run_compaction
from eventlake.settings import load_settings

#: Fault injection for the kill -9 tests: the job SIGKILLs itself at this checkpoint.
KILL_AT_ENV = "EVENTLAKE_COMPACTION_KILL_AT"


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _kill_at(point: str) -> None:
    if os.environ.get(KILL_AT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval-start", required=True, type=_parse_time)
    parser.add_argument("--interval-end", required=True, type=_parse_time)
    parser.add_argument("--now", type=_parse_time, help="Planning time (default: the clock); for tests.")
    parser.add_argument("--result-path", type=Path)
    parser.add_argument("--master", help="Spark master (default: from spark-submit).")
    args = parser.parse_args(argv)

    settings = load_settings()
    # The wall clock decides which hours are closed; everything else follows the interval.
    now = args.now or datetime.now(UTC)
    spark = build_spark(settings, "eventlake-compact-events", master=args.master)
    try:
        result = run_compaction(
            spark,
            settings,
            interval_start=args.interval_start,
            interval_end=args.interval_end,
            now=now,
            checkpoint=_kill_at,
        )
    finally:
        spark.stop()
    for partition in result.published:
        print(f"compacted {partition.log_line()}", flush=True)
    for skipped in result.skipped:
        print(
            f"skipped {skipped['table']} {skipped['event_date']}/{skipped['event_hour']:02d}: {skipped['reason']}"
            f" ({skipped['pending_files']} pending files)",
            flush=True,
        )
    rate = result.rows_in / result.seconds if result.seconds else 0.0
    print(f"published {len(result.published)} partitions, {result.rows_in} rows in, {rate:,.0f} rows/s", flush=True)
    result.write(args.result_path or result_path(settings, args.interval_start))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
