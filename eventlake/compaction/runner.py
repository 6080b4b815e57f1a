"""One compaction run: plan every table, then per table read -> transform -> write -> validate -> publish."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventlake import metastore
from eventlake.catalog import EVENT_TYPES, EventType
from eventlake.compaction.plan import (
    CompactionPlan,
    PartitionTask,
    PublishedVersion,
    SkippedPartition,
    plan_compaction,
    rows_per_file,
)
from eventlake.compaction.storage import Lake
from eventlake.compaction.transform import PARTITION_NAMES, SORT_KEY, compact, partition_stats
from eventlake.compaction.validate import validate_version
from eventlake.lake import CURATED_MANIFEST, HourPartition

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from eventlake.settings import EventlakeSettings

log = logging.getLogger(__name__)

#: Curated (typed, zstd) bytes per landing (JSON payload, snappy) byte, measured on catalog fixtures.
CURATED_BYTES_PER_LANDING_BYTE = 0.5
#: Points of a run where a fault-injection hook is called (the kill -9 tests stop the job there).
CHECKPOINTS = ("planned", "written", "moved", "manifest_written", "published")
Checkpoint = Callable[[str], None]

#: Spark settings the compaction depends on (partition values as strings; UTC; modern timestamps).
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "static",
    "spark.sql.adaptive.enabled": "true",
    # The job reads an explicit list of (thousands of) landed files: listing them on the driver is
    # milliseconds; a distributed listing job would be one task per file.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
}


@dataclass(frozen=True)
class PartitionResult:
    """What one published partition version holds and took; one line of the task log."""

    table: str
    event_type: str
    event_date: str
    event_hour: int
    version: str
    location: str
    previous_location: str | None
    late: bool
    files_in: int
    bytes_in: int
    rows_in: int
    rows_published_before: int
    duplicates_removed: int
    late_rows_merged: int
    rows_out: int
    files_out: int
    bytes_out: int

    def log_line(self) -> str:
        return (
            f"{self.table} {self.event_date}/{self.event_hour:02d}: files {self.files_in} -> {self.files_out}, "
            f"bytes {self.bytes_in} -> {self.bytes_out}, rows {self.rows_in}+{self.rows_published_before} -> "
            f"{self.rows_out}, duplicates removed {self.duplicates_removed}, late rows merged "
            f"{self.late_rows_merged}, location {self.location}"
        )


@dataclass
class RunResult:
    interval_start: str
    interval_end: str
    now: str
    published: list[PartitionResult] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    rows_in: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2))
        temporary.replace(path)


def result_path(settings: EventlakeSettings, interval_start: datetime) -> Path:
    """Where the run of an interval leaves its result (read by the DAG's asset task)."""
    return settings.run_dir / "compaction" / f"{interval_start:%Y%m%dT%H%M%S}.json"


def build_spark(
    settings: EventlakeSettings, app_name: str, *, master: str | None = None, extra_conf: dict[str, str] | None = None
) -> SparkSession:
    """A Spark session with the compaction's settings (and the metastore, for SQL readers)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in {**SPARK_CONF, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    builder = builder.config("spark.hadoop.hive.metastore.uris", settings.metastore_uri)
    return builder.enableHiveSupport().getOrCreate()


def published_versions(lake: Lake, locations: dict[HourPartition, str], hours: set[HourPartition]) -> dict:
    """The published version of each hour that has landed files, with its manifest."""
    return {
        hour: PublishedVersion.from_manifest(location, lake.manifest(lake.path(location)))
        for hour, location in locations.items()
        if hour in hours
    }


def plan_run(
    settings: EventlakeSettings,
    lake: Lake,
    client: metastore.MetastoreClient,
    *,
    interval_start: datetime,
    interval_end: datetime,
    now: datetime,
    event_types: tuple[EventType, ...] = EVENT_TYPES,
) -> dict[str, CompactionPlan]:
    """Plans of every table for the interval, from the landing listing and the metastore."""
    plans = {}
    for et in event_types:
        landed = lake.landed_files(et.event_type)
        if not landed:
            continue
        hours = {f.hour for f in landed}
        published = published_versions(lake, client.partition_locations(et.table), hours)
        plans[et.table] = plan_compaction(
            event_type=et.event_type,
            table=et.table,
            landed=landed,
            published=published,
            interval_start=interval_start,
            interval_end=interval_end,
            now=now,
            lateness_grace=timedelta(minutes=settings.compaction_lateness_grace_minutes),
            min_input_files=settings.compaction_min_input_files,
        )
    return plans


def run_compaction(
    spark: SparkSession,
    settings: EventlakeSettings,
    *,
    interval_start: datetime,
    interval_end: datetime,
    now: datetime,
    checkpoint: Checkpoint | None = None,
    event_types: tuple[EventType, ...] = EVENT_TYPES,
) -> RunResult:
    """Compact every table's planned partitions and publish them; the per-partition results."""
    started = time.perf_counter()
    hook = checkpoint or (lambda _point: None)
    lake = Lake.from_settings(settings)
    result = RunResult(interval_start.isoformat(), interval_end.isoformat(), now.isoformat())
    with metastore.connect(settings) as client:
        plans = plan_run(
            settings,
            lake,
            client,
            interval_start=interval_start,
            interval_end=interval_end,
            now=now,
            event_types=event_types,
        )
        hook("planned")
        by_name = {et.table: et for et in event_types}
        for table, plan in plans.items():
            result.skipped.extend(_skipped_json(s) for s in plan.skipped)
            if plan.tasks:
                published = compact_table(spark, settings, lake, client, by_name[table], plan.tasks, now, hook)
                result.published.extend(published)
    result.rows_in = sum(p.rows_in for p in result.published)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def compact_table(
    spark: SparkSession,
    settings: EventlakeSettings,
    lake: Lake,
    client: metastore.MetastoreClient,
    et: EventType,
    tasks: tuple[PartitionTask, ...],
    now: datetime,
    hook: Checkpoint,
) -> list[PartitionResult]:
    """Rewrite the planned partitions of one table in one Spark pass, then publish each."""
    clock = _PhaseClock(et.table)
    landing = _read_landing(spark, lake, et, tasks)
    published = _read_published(spark, lake, et, tasks)
    clock.lap("read")
    stats = {
        HourPartition(row["event_date"], int(row["event_hour"])): row.asDict()
        for row in partition_stats(
            landing.select(*PARTITION_NAMES, "event_id").withColumn("event_hour", _int("event_hour")),
            published.select(*PARTITION_NAMES, "event_id") if published is not None else None,
        ).collect()
    }
    rows_new = sum(int(s["rows_new"]) for s in stats.values())
    bytes_new = sum(task.new_bytes for task in tasks)
    per_file = rows_per_file(
        settings.compaction_target_file_bytes, bytes_new, rows_new, output_per_input_byte=CURATED_BYTES_PER_LANDING_BYTE
    )
    files_per_hour = {hour: max(1, math.ceil(int(s["distinct_events"]) / per_file)) for hour, s in stats.items()}
    log.info("%s: %d partitions, %d rows in, %d rows per file", et.table, len(tasks), rows_new, per_file)

    staging = f"{lake.table_path(et.table)}/_staging/{tasks[0].version}"
    clock.lap("stats")
    curated = compact(landing, published, et)
    (
        assign_files(spark, curated, files_per_hour)
        .write.option("maxRecordsPerFile", per_file)
        .option("compression", "zstd")
        .partitionBy(*PARTITION_NAMES)
        .mode("overwrite")
        .parquet(lake.uri(staging))
    )
    clock.lap("write")
    hook("written")

    results = []
    for task in tasks:
        version_path = lake.version_path(et.table, task.hour, task.version)
        for n, info in enumerate(lake.data_files(f"{staging}/{task.hour.path}")):
            lake.move(info.path, f"{version_path}/part-{n:05d}.parquet")
        lake.fs.create_dir(version_path, recursive=True)
        hook("moved")
        hour_stats = stats.get(task.hour, {"rows_new": 0, "rows_published": 0, "distinct_events": 0})
        expected = int(hour_stats["distinct_events"])
        written = validate_version(lake, version_path, et, expected)
        rows_in, rows_before = int(hour_stats["rows_new"] or 0), int(hour_stats["rows_published"] or 0)
        location = lake.uri(version_path)
        partition = PartitionResult(
            table=et.table,
            event_type=et.event_type,
            event_date=task.hour.event_date,
            event_hour=task.hour.event_hour,
            version=task.version,
            location=location,
            previous_location=task.previous.location if task.previous else None,
            late=task.late,
            files_in=len(task.new_files),
            bytes_in=task.new_bytes,
            rows_in=rows_in,
            rows_published_before=rows_before,
            duplicates_removed=rows_in + rows_before - written.rows,
            late_rows_merged=written.rows - rows_before if task.previous else 0,
            rows_out=written.rows,
            files_out=written.files,
            bytes_out=written.bytes,
        )
        lake.write_json(
            f"{version_path}/{CURATED_MANIFEST}",
            {
                "table": et.table,
                "event_type": et.event_type,
                "schema_version": et.version,
                "partition": task.hour.spec,
                "version": task.version,
                "created_at": now.isoformat(),
                "rows": written.rows,
                "files": written.files,
                "bytes": written.bytes,
                "supersedes": task.previous.version if task.previous else None,
                "input_files": sorted(task.input_files),
                "stats": asdict(partition),
            },
        )
        hook("manifest_written")
        client.publish(et.table, task.hour, location)
        hook("published")
        results.append(partition)
    clock.lap("publish")
    lake.delete_dir(staging)
    lake.remove_empty_dirs(f"{lake.table_path(et.table)}/_staging", lake.table_path(et.table))
    return results


class _PhaseClock:
    """Logs how long each phase of a table's compaction took."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        log.info("%s: %s took %.2fs", self.table, phase, now - self.last)
        self.last = now


def assign_files(spark: SparkSession, curated: DataFrame, files_per_hour: dict[HourPartition, int]) -> DataFrame:
    """One shuffle that puts each output file's rows in one task, sorted by the sort key.

    An hour of ``n`` files is split by a hash of user_id (so a user's events of the hour sit in one
    file), and every file is its own shuffle key: hours are written in parallel, never one task for all.
    """
    from pyspark.sql import functions as F

    first, layout = 0, []
    for hour, files in sorted(files_per_hour.items()):
        layout.append((hour.event_date, hour.event_hour, first, files))
        first += files
    file_layout = spark.createDataFrame(layout, "event_date string, event_hour int, _first int, _files int")
    bucket = F.col("_first") + F.pmod(F.xxhash64("user_id"), F.col("_files"))
    return (
        curated.join(F.broadcast(file_layout), on=list(PARTITION_NAMES), how="inner")
        .withColumn("_file", bucket)
        .repartition(max(first, 1), "_file")
        .sortWithinPartitions(*PARTITION_NAMES, *SORT_KEY)
        .select(*curated.columns)
    )


def _read_landing(spark: SparkSession, lake: Lake, et: EventType, tasks: tuple[PartitionTask, ...]) -> DataFrame:
    paths = [lake.uri(lake.landed_path(f)) for task in tasks for f in task.new_files]
    return spark.read.option("basePath", lake.uri(lake.landing_type_path(et.event_type))).parquet(*paths)


def _read_published(
    spark: SparkSession, lake: Lake, et: EventType, tasks: tuple[PartitionTask, ...]
) -> DataFrame | None:
    # An empty published version (its landed files held no rows) has nothing to merge.
    locations = [
        lake.uri(lake.path(task.previous.location))
        for task in tasks
        if task.previous and lake.data_files(lake.path(task.previous.location))
    ]
    if not locations:
        return None
    return (
        spark.read.option("basePath", lake.uri(lake.table_path(et.table)))
        .parquet(*locations)
        .drop("v")
        .withColumn("event_hour", _int("event_hour"))
    )


def _int(name: str) -> Any:
    from pyspark.sql.functions import col

    return col(name).cast("int")


def _skipped_json(skipped: SkippedPartition) -> dict[str, Any]:
    return {
        "table": skipped.table,
        "event_date": skipped.hour.event_date,
        "event_hour": skipped.hour.event_hour,
        "reason": skipped.reason,
        "pending_files": skipped.pending_files,
    }
