"""Spark job: create the metastore database and one external curated table per catalog event type."""

from __future__ import annotations

import argparse

from eventlake.compaction.runner import build_spark
from eventlake.metastore import create_tables
from eventlake.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--master", help="Spark master (default: from spark-submit).")
    args = parser.parse_args(argv)
    settings = load_settings()
    spark = build_spark(settings, "eventlake-create-tables", master=args.master)
    try:
        tables = create_tables(spark, settings)
    finally:
        spark.stop()
    print(f"tables in {settings.hive_database}: {', '.join(tables)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
