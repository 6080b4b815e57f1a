"""Checks of a written curated version before it is published: row count and schema, from Parquet footers."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from eventlake.catalog import EventType, spark_curated_schema
from eventlake.compaction.storage import Lake


class ValidationError(RuntimeError):
    """A written version is not fit to publish."""


@dataclass(frozen=True)
class VersionFiles:
    files: int
    bytes: int
    rows: int


def expected_arrow_schema(et: EventType) -> pa.Schema:
    """The Arrow schema curated files of an event type must have (catalog order and types)."""
    from pyspark.sql import types as spark_types

    def arrow_type(spark_type: spark_types.DataType) -> pa.DataType:
        if isinstance(spark_type, spark_types.DecimalType):
            return pa.decimal128(spark_type.precision, spark_type.scale)
        if isinstance(spark_type, spark_types.TimestampType):
            return pa.timestamp("us", tz="UTC")
        simple = {
            spark_types.StringType: pa.string(),
            spark_types.IntegerType: pa.int32(),
            spark_types.LongType: pa.int64(),
        }
        return simple[type(spark_type)]

    return pa.schema([(field.name, arrow_type(field.dataType)) for field in spark_curated_schema(et).fields])


def validate_version(lake: Lake, version_path: str, et: EventType, expected_rows: int) -> VersionFiles:
    """Raise unless the version's files hold ``expected_rows`` rows with exactly the catalog's schema."""
    expected = expected_arrow_schema(et)
    infos = lake.data_files(version_path)
    rows = 0
    for info in infos:
        with lake.fs.open_input_file(info.path) as source:
            metadata = pq.ParquetFile(source).metadata
            schema = metadata.schema.to_arrow_schema()
        actual = pa.schema([(field.name, field.type) for field in schema])
        if not actual.equals(expected):
            raise ValidationError(f"{info.path}: schema {actual} != catalog {expected}")
        rows += metadata.num_rows
    if rows != expected_rows:
        raise ValidationError(f"{version_path}: {rows} rows written, {expected_rows} distinct events expected")
    return VersionFiles(len(infos), sum(info.size or 0 for info in infos), rows)
