"""The event catalog: declarations (:mod:`.events`) and what is derived from them (:mod:`.derive`)."""

from eventlake.catalog.derive import (
    ENVELOPE_COLUMNS,
    LINEAGE_COLUMNS,
    PARTITION_COLUMNS,
    curated_columns,
    event_model,
    event_type_by_name,
    event_types,
    example_payload,
    get_event_type,
    hive_table_ddl,
    payload_model,
    published_event_adapter,
    request_model,
    spark_curated_schema,
    spark_payload_schema,
)
from eventlake.catalog.events import EVENT_TYPES
from eventlake.catalog.types import EventField, EventType

__all__ = [
    "ENVELOPE_COLUMNS",
    "EVENT_TYPES",
    "LINEAGE_COLUMNS",
    "PARTITION_COLUMNS",
    "EventField",
    "EventType",
    "curated_columns",
    "event_model",
    "event_type_by_name",
    "event_types",
    "example_payload",
    "get_event_type",
    "hive_table_ddl",
    "payload_model",
    "published_event_adapter",
    "request_model",
    "spark_curated_schema",
    "spark_payload_schema",
]
