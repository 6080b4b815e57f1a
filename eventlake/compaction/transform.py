"""The compaction transform: landing rows (payload as JSON) -> curated rows, one per event_id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from eventlake.catalog import EventType, spark_curated_schema, spark_payload_schema
from eventlake.catalog.derive import ENVELOPE_COLUMNS, LINEAGE_COLUMNS, PARTITION_COLUMNS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

#: The dedup winner among copies of one event: the first delivery on the broker.
WINNER_ORDER = ("kafka_topic", "kafka_partition", "kafka_offset")
#: Sort key of curated files: a user's events together, in time order (min/max stats prune both).
SORT_KEY = ("user_id", "event_time", "event_id")
PARTITION_NAMES = tuple(name for name, _, _ in PARTITION_COLUMNS)


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


def dedupe_events(events: DataFrame) -> DataFrame:
    """One row per (partition, event_id): the copy first delivered on the broker wins, every time."""
    first_delivery = Window.partitionBy(*PARTITION_NAMES, "event_id").orderBy(*[F.col(c).asc() for c in WINNER_ORDER])
    return events.withColumn("_copy", F.row_number().over(first_delivery)).where(F.col("_copy") == 1).drop("_copy")


def compact(landing: DataFrame, published: DataFrame | None, et: EventType) -> DataFrame:
    """New landed rows merged with the published curated rows, deduplicated, in catalog column order."""
    parsed = parse_landing(landing, et)
    merged = parsed if published is None else parsed.unionByName(published.select(*curated_output_columns(et)))
    return dedupe_events(merged).select(*curated_output_columns(et))


def partition_stats(new_ids: DataFrame, published_ids: DataFrame | None) -> DataFrame:
    """Per partition: rows read from landing and from the published version, and distinct event ids."""
    keys = [*PARTITION_NAMES, "event_id"]
    tagged = new_ids.select(*keys, F.lit(True).alias("_new"))
    if published_ids is not None:
        tagged = tagged.unionByName(published_ids.select(*keys, F.lit(False).alias("_new")))
    return tagged.groupBy(*PARTITION_NAMES).agg(
        F.sum(F.col("_new").cast("long")).alias("rows_new"),
        F.sum((~F.col("_new")).cast("long")).alias("rows_published"),
        F.countDistinct("event_id").alias("distinct_events"),
    )
