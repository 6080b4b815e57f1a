"""One compaction run: plan every table, then per table read -> transform -> write -> validate -> publish."""

from __future__ import annotations

import json
import logging
import operator
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventlake import metastore
from eventlake.catalog import EVENT_TYPES, EventType
from eventlake.compaction.plan import (
    CompactionPlan,
    PartitionTask,
    PublishedVersion,
    SkippedPartition,
    output_files,
    plan_compaction,
)
from eventlake.compaction.storage import Lake
from eventlake.compaction.transform import (
    PARTITION_NAMES,
    FileLayout,
    compact,
    curated_ddl,
    file_layout,
    landing_ddl,
)
from eventlake.compaction.validate import validate_version
from eventlake.lake import CURATED_MANIFEST, HourPartition
from eventlake.spark import COMPACTION_DRIVER_JAVA_OPTIONS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from eventlake.settings import EventlakeSettings

log = logging.getLogger(__name__)

#: Curated (typed, zstd) bytes per landing (JSON payload) byte: an upper bound (small landing files
#: are mostly footer), so an hour is split into several files early rather than late.
CURATED_BYTES_PER_LANDING_BYTE = 0.5
#: Tables compacted at once: a table's last task (its last file) leaves a core idle otherwise.
CONCURRENT_TABLES = 3
#: Up to this many new files of an hour are handed to Spark by path; more, and the directory is read.
LISTED_FILES_MAX = 64
#: Names of landed data files (the contract's ``batch-<id>-<n>.parquet``); anything else is skipped.
LANDING_FILE_GLOB = "batch-*.parquet"
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
    # The job reads (thousands of) small landed files: listing them on the driver is milliseconds; a
    # distributed listing job would be one task per directory.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
    # A landing file is a few KB: opening one costs about as much as reading 64 KB, not Spark's default
    # 4 MB, which would make one task per 32 files (thousands of tasks per run).
    "spark.sql.files.openCostInBytes": str(64 * 1024),
    # Each write task holds one hour (one output file): with an open writer per partition value allowed,
    # Spark does not re-sort the task's rows by the partition columns before writing them.
    "spark.sql.maxConcurrentOutputFileWriters": "2",
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
    plan_seconds: float = 0.0
    publish_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2))
        temporary.replace(path)


def result_path(settings: EventlakeSettings, interval_start: datetime, run_id: str | None = None) -> Path:
    """Where a run of an interval leaves its result (read by the DAG's asset task).

    Keyed by the Airflow run too: a manual rerun of an interval beside its scheduled run (runs may
    overlap) must not read the other's result.
    """
    name = f"{interval_start:%Y%m%dT%H%M%S}"
    if run_id:
        name += "__" + re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)
    return settings.run_dir / "compaction" / f"{name}.json"


def build_spark(
    settings: EventlakeSettings, app_name: str, *, master: str | None = None, extra_conf: dict[str, str] | None = None
) -> SparkSession:
    """A Spark session with the compaction's settings (and the metastore, for SQL readers)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    # Takes effect where this process starts the JVM (a session built in-process); spark-submit passes it.
    conf = {**SPARK_CONF, "spark.driver.extraJavaOptions": driver_java_options(settings, master)}
    for key, value in {**conf, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    builder = builder.config("spark.hadoop.hive.metastore.uris", settings.metastore_uri)
    return builder.enableHiveSupport().getOrCreate()


def driver_java_options(settings: EventlakeSettings, master: str | None) -> str:
    """The JVM options of the job's driver: :data:`~eventlake.spark.COMPACTION_DRIVER_JAVA_OPTIONS`, unless the
    driver also runs the Spark transform's tasks (a ``local`` master with the spark engine)."""
    if (master or "").startswith("local") and compaction_engine(settings, Lake.from_settings(settings)) == "spark":
        return ""
    return COMPACTION_DRIVER_JAVA_OPTIONS


def published_versions(lake: Lake, locations: dict[HourPartition, str], hours: set[HourPartition]) -> dict:
    """The published version of each hour that has landed files, with its manifest."""
    return {
        hour: PublishedVersion.from_manifest(location, lake.manifest(lake.path(location)))
        for hour, location in locations.items()
        if hour in hours
    }


def iter_plans(
    settings: EventlakeSettings,
    lake: Lake,
    client: metastore.MetastoreClient,
    *,
    interval_start: datetime,
    interval_end: datetime,
    now: datetime,
    event_types: tuple[EventType, ...] = EVENT_TYPES,
) -> Iterator[tuple[str, CompactionPlan]]:
    """Each table's plan (table name, plan) as soon as it is made; tables without landed files are left out."""
    for et in event_types:
        landed = lake.landed_files(et.event_type)
        if not landed:
            continue
        hours = {f.hour for f in landed}
        days = {hour.event_date for hour in hours}
        # Only the days with landed data: the metastore call does not grow with the table's history.
        published = published_versions(lake, client.partition_locations(et.table, event_dates=days.__contains__), hours)
        yield (
            et.table,
            plan_compaction(
                event_type=et.event_type,
                table=et.table,
                landed=landed,
                published=published,
                interval_start=interval_start,
                interval_end=interval_end,
                now=now,
                lateness_grace=timedelta(minutes=settings.compaction_lateness_grace_minutes),
                min_input_files=settings.compaction_min_input_files,
            ),
        )


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
    """Compact every table's planned partitions and publish them; the per-partition results.

    Each table is one Spark job (its schema is its own), submitted as soon as its plan is made; a few run
    at once so that both cores stay busy while a table's last file is written, and each is published as
    soon as it is written.
    """
    started = time.perf_counter()
    hook = checkpoint or (lambda _point: None)
    lake = Lake.from_settings(settings)
    result = RunResult(interval_start.isoformat(), interval_end.isoformat(), now.isoformat())
    by_name = {et.table: et for et in event_types}
    with metastore.connect(settings) as client, ThreadPoolExecutor(max_workers=CONCURRENT_TABLES) as pool:
        futures = []
        try:
            for table, plan in iter_plans(
                settings,
                lake,
                client,
                interval_start=interval_start,
                interval_end=interval_end,
                now=now,
                event_types=event_types,
            ):
                result.skipped.extend(_skipped_json(s) for s in plan.skipped)
                if plan.tasks:
                    futures.append(pool.submit(write_table, spark, settings, lake, by_name[table], plan.tasks))
            result.plan_seconds = round(time.perf_counter() - started, 3)
            log.info("planned in %.2fs: %d tables to write", result.plan_seconds, len(futures))
            hook("planned")
            for future in as_completed(futures):
                staged = future.result()
                hook("written")
                publishing = time.perf_counter()
                result.published.extend(publish_table(lake, client, staged, now, hook))
                result.publish_seconds += time.perf_counter() - publishing
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    result.rows_in = sum(p.rows_in for p in result.published)
    result.publish_seconds = round(result.publish_seconds, 3)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


@dataclass(frozen=True)
class HourCounts:
    """Rows of one hour in a table's Spark job: read from landing, read from the published version, written."""

    new: int
    published: int
    kept: int


@dataclass(frozen=True)
class StagedTable:
    """One table's planned partitions, written by its Spark job to a staging directory, not yet published."""

    et: EventType
    tasks: tuple[PartitionTask, ...]
    staging: str
    counts: dict[HourPartition, HourCounts]


def write_table(
    spark: SparkSession, settings: EventlakeSettings, lake: Lake, et: EventType, tasks: tuple[PartitionTask, ...]
) -> StagedTable:
    """Rewrite the planned partitions of one table in one Spark job into staging (see :func:`compaction_engine`)."""
    files = {
        task.hour: output_files(
            task, settings.compaction_target_file_bytes, curated_per_landing_byte=CURATED_BYTES_PER_LANDING_BYTE
        )
        for task in tasks
    }
    staging = f"{lake.table_path(et.table)}/_staging/{tasks[0].version}"
    if compaction_engine(settings, lake) == "duckdb":
        return _write_table_by_hour(spark, lake, et, tasks, files, staging)
    return _write_table_spark(spark, lake, et, tasks, file_layout(files), staging)


def compaction_engine(settings: EventlakeSettings, lake: Lake) -> str:
    """Where a partition's rows are merged: ``duckdb`` (one Spark task per core, each running DuckDB over
    its hours' files; local lakes only) or ``spark`` (the Spark transform, one shuffle per table)."""
    local = lake.uri("").startswith("file:")
    engine = settings.compaction_engine
    if engine == "auto":
        return "duckdb" if local else "spark"
    if engine == "duckdb" and not local:
        raise ValueError(
            "EVENTLAKE_COMPACTION_ENGINE=duckdb needs a lake on local files; on object storage use spark (or auto)"
        )
    return engine


def _write_table_by_hour(
    spark: SparkSession,
    lake: Lake,
    et: EventType,
    tasks: tuple[PartitionTask, ...],
    files: dict[HourPartition, int],
    staging: str,
) -> StagedTable:
    """The hours in one Spark task per core, each merging its hours one by one in DuckDB into staging.

    A task costs ~0.1 s of Spark and Python set-up whatever it does (measured 2026-12-02, ``local[2]``), so
    hours are packed by estimated cost rather than given a task each.
    """
    from functools import partial

    from pyspark.sql.pandas.types import from_arrow_schema

    from eventlake.compaction.duckdb_hours import RESULT_SCHEMA, HourJob, pack, run_jobs

    clock = _PhaseClock(et.table)
    jobs = [
        HourJob(
            event_type=et.event_type,
            landing_files=tuple(lake.landed_path(f) for f in task.new_files),
            published_files=tuple(
                info.path for info in (lake.data_files(lake.path(task.previous.location)) if task.previous else ())
            ),
            output_dir=f"{staging}/{task.hour.path}",
            files=files[task.hour],
        ).to_json()
        for task in tasks
    ]
    costs = [_hour_cost(task) for task in tasks]
    groups = [[(i, jobs[i]) for i in group] for group in pack(costs, spark.sparkContext.defaultParallelism)]
    spark.sparkContext.setJobDescription(f"compact {et.table}: {len(jobs)} hours in {len(groups)} tasks")
    tasks_of_groups = spark.range(0, len(groups), 1, len(groups))
    rows = tasks_of_groups.mapInArrow(partial(run_jobs, groups=groups), from_arrow_schema(RESULT_SCHEMA)).collect()
    counts = {
        tasks[row["job"]].hour: HourCounts(row["new_rows"], row["published_rows"], row["kept_rows"]) for row in rows
    }
    if len(counts) != len(tasks):
        raise RuntimeError(f"{et.table}: {len(counts)} of {len(tasks)} hours came back from the Spark job")
    clock.lap(f"write of {sum(c.new for c in counts.values())} new rows in {len(tasks)} partitions (duckdb)")
    return StagedTable(et, tasks, staging, counts)


def _hour_cost(task: PartitionTask) -> float:
    """Estimated work of an hour in bytes: what it reads, a landing file counting as 64 KB more (its opening)."""
    return task.new_bytes + len(task.new_files) * 64 * 1024 + (task.previous.bytes if task.previous else 0)


def _write_table_spark(
    spark: SparkSession, lake: Lake, et: EventType, tasks: tuple[PartitionTask, ...], layout: FileLayout, staging: str
) -> StagedTable:
    """The table's partitions in one Spark job (one read, one shuffle)."""
    from pyspark.sql import Observation

    clock = _PhaseClock(et.table)
    landing = _read_landing(spark, lake, et, tasks)
    published = _read_published(spark, lake, et, tasks)
    # Observation names are unique per session: tables run concurrently, and runs may share a session.
    run_id = uuid.uuid4().hex
    rows_read, rows_kept = Observation(f"{et.table}-{run_id}-read"), Observation(f"{et.table}-{run_id}-kept")
    (
        compact(landing, published, et, layout, rows_read=rows_read, rows_kept=rows_kept)
        .write.option("compression", "zstd")
        .partitionBy(*PARTITION_NAMES)
        .mode("overwrite")
        .parquet(lake.uri(staging))
    )
    read, kept = rows_read.get, rows_kept.get
    counts = {
        hour: HourCounts(int(read[f"new_{i}"]), int(read[f"published_{i}"]), int(kept[f"rows_{i}"]))
        for i, hour in enumerate(sorted(layout))
    }
    clock.lap(f"write of {sum(c.new for c in counts.values())} new rows in {len(tasks)} partitions")
    return StagedTable(et, tasks, staging, counts)


def publish_table(
    lake: Lake, client: metastore.MetastoreClient, staged: StagedTable, now: datetime, hook: Checkpoint
) -> list[PartitionResult]:
    """Move a staged table's files into their version directories, validate, write manifests, publish."""
    clock = _PhaseClock(staged.et.table)
    et = staged.et
    version_paths = {task.hour: lake.version_path(et.table, task.hour, task.version) for task in staged.tasks}
    for task in staged.tasks:
        version_path = version_paths[task.hour]
        for n, info in enumerate(lake.data_files(f"{staged.staging}/{task.hour.path}")):
            lake.move(info.path, f"{version_path}/part-{n:05d}.parquet")
        lake.fs.create_dir(version_path, recursive=True)
    hook("moved")
    clock.lap(f"move of {len(staged.tasks)} partitions' files into their versions")

    results, locations = [], {}
    for task in staged.tasks:
        version_path = version_paths[task.hour]
        counts = staged.counts[task.hour]
        written = validate_version(lake, version_path, et, counts.kept)
        partition = PartitionResult(
            table=et.table,
            event_type=et.event_type,
            event_date=task.hour.event_date,
            event_hour=task.hour.event_hour,
            version=task.version,
            location=lake.uri(version_path),
            previous_location=task.previous.location if task.previous else None,
            late=task.late,
            files_in=len(task.new_files),
            bytes_in=task.new_bytes,
            rows_in=counts.new,
            rows_published_before=counts.published,
            duplicates_removed=counts.new + counts.published - written.rows,
            late_rows_merged=written.rows - counts.published if task.previous else 0,
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
        results.append(partition)
        locations[task.hour] = partition.location
    hook("manifest_written")
    clock.lap(f"validation and manifests of {len(results)} versions")
    client.publish_all(et.table, locations)
    hook("published")
    clock.lap(f"metastore publish of {len(results)} partitions")
    lake.delete_dir(staged.staging)
    lake.remove_empty_dirs(f"{lake.table_path(et.table)}/_staging", lake.table_path(et.table))
    clock.lap("clean-up of the staging directory")
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


def _read_landing(spark: SparkSession, lake: Lake, et: EventType, tasks: tuple[PartitionTask, ...]) -> DataFrame:
    """The planned landing files: whole hour directories up to their last planned file, or listed files.

    Handing Spark a few directories instead of thousands of paths saves most of the listing (each path
    is a py4j call and a file-system check); files that landed after planning sort after the last
    planned one (batch ids only grow), so they are left for the next run.
    """
    from pyspark.sql import functions as F

    reader = (
        spark.read.schema(landing_ddl())
        .option("basePath", lake.uri(lake.landing_type_path(et.event_type)))
        .option("pathGlobFilter", LANDING_FILE_GLOB)
    )
    whole = [task for task in tasks if task.all_visible and len(task.new_files) > LISTED_FILES_MAX]
    listed = [task for task in tasks if task not in whole]
    frames = []
    if whole:
        directories = [lake.uri(f"{lake.landing_type_path(et.event_type)}/{task.hour.path}") for task in whole]
        planned = [
            (F.col("event_date") == task.hour.event_date)
            & (F.col("event_hour") == str(task.hour.event_hour))
            & (F.col("_metadata.file_name") <= task.new_files[-1].name)
            for task in whole
        ]
        frames.append(reader.parquet(*directories).where(reduce(operator.or_, planned)))
    if listed:
        frames.append(reader.parquet(*[lake.uri(lake.landed_path(f)) for task in listed for f in task.new_files]))
    return reduce(lambda left, right: left.unionByName(right), frames).withColumn("event_hour", _int("event_hour"))


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
        spark.read.schema(curated_ddl(et))
        .option("basePath", lake.uri(lake.table_path(et.table)))
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
