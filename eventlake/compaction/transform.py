"""The compaction transform: landing rows (payload as JSON) -> curated rows, one per event_id, in output files.

One shuffle does all the work: every row is sent to the task of its output file (``assign_files``),
copies of one event always go to the same file (the file is picked by a hash of event_id within the
hour), so the dedupe (``dedupe_events``) and the sort by ``SORT_KEY`` happen inside that task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from eventlake.catalog import EventType, curated_columns, spark_curated_schema, spark_payload_schema
from eventlake.catalog.derive import ENVELOPE_COLUMNS, LINEAGE_COLUMNS, PARTITION_COLUMNS
from eventlake.lake import HourPartition

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Observation

#: The dedup winner among copies of one event: the first delivery on the broker.
WINNER_ORDER = ("kafka_topic", "kafka_partition", "kafka_offset")
#: Sort key of curated files: a user's events together, in time order (min/max stats prune both).
SORT_KEY = ("user_id", "event_time", "event_id")
PARTITION_NAMES = tuple(name for name, _, _ in PARTITION_COLUMNS)
#: Working columns: the output file of a row, and whether it was read from landing (not the published version).
FILE_COLUMN = "_file"
NEW_COLUMN = "_new"
#: Output files of each hour: (index of its first file, number of files). Indexes run 0..n-1 over a table.
FileLayout = Mapping[HourPartition, tuple[int, int]]


def landing_ddl() -> str:
    """Schema of a landing file (envelope, payload JSON, lineage) as Spark DDL: reads need no footer job."""
    columns = [*ENVELOPE_COLUMNS, ("payload", "string", ""), *LINEAGE_COLUMNS]
    return ", ".join(f"`{name}` {kind}" for name, kind, _ in columns)


def curated_ddl(et: EventType) -> str:
    """Schema of a curated file of an event type as Spark DDL."""
    return ", ".join(f"`{name}` {kind}" for name, kind, _ in curated_columns(et))


def curated_output_columns(et: EventType) -> list[Column]:
    """The curated columns in catalog order with catalog types, then the partition columns."""
    schema = spark_curated_schema(et, with_partitions=True)
    return [F.col(field.name).cast(field.dataType).alias(field.name) for field in schema.fields]


def parse_landing(landing: DataFrame, et: EventType) -> DataFrame:
    """Typed curated columns from landing rows: the payload JSON parsed with the catalog's schema."""
    payload = F.from_json(F.col("payload"), spark_payload_schema(et))
    payload_fields = [payload.getField(f.name).alias(f.name) for f in et.fields]
    passthrough = [F.col(name) for name, _, _ in (*ENVELOPE_COLUMNS, *LINEAGE_COLUMNS, *PARTITION_COLUMNS)]
    return landing.select(*passthrough, *payload_fields).select(*curated_output_columns(et))


def file_layout(files_per_hour: Mapping[HourPartition, int]) -> dict[HourPartition, tuple[int, int]]:
    """Consecutive file indexes for each hour's files, hours in order."""
    layout, first = {}, 0
    for hour, files in sorted(files_per_hour.items()):
        layout[hour] = (first, files)
        first += files
    return layout


def _in_hour(hour: HourPartition) -> Column:
    return (F.col("event_date") == F.lit(hour.event_date)) & (F.col("event_hour") == F.lit(hour.event_hour))


def assign_files(events: DataFrame, layout: FileLayout) -> DataFrame:
    """Every row in the shuffle partition of its output file: its hour's files, picked by a hash of event_id.

    All copies of an event share the hour and the event_id, so they meet in one task.
    """
    hours = sorted(layout)
    if not hours:
        raise ValueError("a file layout needs at least one hour")

    def file_of(hour: HourPartition) -> Column:
        first, count = layout[hour]
        return F.lit(first) + F.pmod(F.xxhash64("event_id"), F.lit(count))

    file_index = F.when(_in_hour(hours[0]), file_of(hours[0]))
    for hour in hours[1:]:
        file_index = file_index.when(_in_hour(hour), file_of(hour))
    files = sum(count for _, count in layout.values())
    return events.withColumn(FILE_COLUMN, file_index.cast("int")).repartitionById(files, FILE_COLUMN)


def dedupe_events(events: DataFrame, *, within: tuple[str, ...] = ()) -> DataFrame:
    """One row per (partition, event_id): the copy first delivered on the broker wins, every time.

    ``within`` names columns the input is already partitioned by (the output file), so the dedupe
    needs no shuffle of its own. The hash leads the sort so that its prefix tells rows apart quickly.
    """
    copies: list[Column | str] = [F.xxhash64("event_id"), *within, *PARTITION_NAMES, "event_id"]
    first_delivery = Window.partitionBy(*copies).orderBy(*[F.col(c).asc() for c in WINNER_ORDER])
    return events.withColumn("_copy", F.row_number().over(first_delivery)).where(F.col("_copy") == 1).drop("_copy")


def hour_counts(layout: FileLayout, *, split_new: bool = False) -> list[Column]:
    """Aggregates counting the rows of each hour's files, for an Observation (figures of the write, no extra job).

    Named ``rows_<i>`` by hour order; with ``split_new``, ``new_<i>`` and ``published_<i>`` instead.
    """
    counts = []
    for i, hour in enumerate(sorted(layout)):
        first, count = layout[hour]
        in_hour = F.col(FILE_COLUMN).between(first, first + count - 1)
        if split_new:
            counts.append(F.count_if(in_hour & F.col(NEW_COLUMN)).alias(f"new_{i}"))
            counts.append(F.count_if(in_hour & ~F.col(NEW_COLUMN)).alias(f"published_{i}"))
        else:
            counts.append(F.count_if(in_hour).alias(f"rows_{i}"))
    return counts


def compact(
    landing: DataFrame,
    published: DataFrame | None,
    et: EventType,
    layout: FileLayout,
    *,
    rows_read: Observation | None = None,
    rows_kept: Observation | None = None,
) -> DataFrame:
    """New landed rows merged with the published curated rows, one per event, partitioned by output
    file and sorted by ``SORT_KEY`` within it, in catalog column order.

    ``rows_read`` observes the rows of each hour before the dedupe (new and published), ``rows_kept``
    those written (see :func:`hour_counts`).
    """
    columns = curated_output_columns(et)
    merged = parse_landing(landing, et).withColumn(NEW_COLUMN, F.lit(True))
    if published is not None:
        merged = merged.unionByName(published.select(*columns).withColumn(NEW_COLUMN, F.lit(False)))
    files = assign_files(merged, layout)
    if rows_read is not None:
        files = files.observe(rows_read, *hour_counts(layout, split_new=True))
    # One hour per task: sorting by the (constant) partition columns first would only slow every comparison.
    kept = dedupe_events(files, within=(FILE_COLUMN,)).sortWithinPartitions(*SORT_KEY)
    if rows_kept is not None:
        kept = kept.observe(rows_kept, *hour_counts(layout))
    return kept.select(*columns)
