"""Everything derived from the event catalog: validation models, Spark schemas, DDL, fixtures.

Nothing in here names an event field: add or change a field in :mod:`eventlake.catalog.events` and
every artefact below follows.
"""

# Models are built at runtime from the declarations; mypy cannot type those arguments statically.
# mypy: disable-error-code="arg-type"
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    create_model,
)

from eventlake.catalog.events import EVENT_TYPES
from eventlake.catalog.types import Choice, EventType, Integer, Money, Text, Timestamp

USER_ID_PATTERN = r"^[A-Za-z0-9_.@:-]+$"
#: A double holds every decimal of up to 15 significant digits exactly (DBL_DIG).
EXACT_FLOAT_DIGITS = 15
_INTEGER_TEXT = re.compile(r"^[+-]?[0-9]{1,19}$")

#: Envelope columns present on every event (name, Spark type name, Hive type, description).
ENVELOPE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("event_id", "string", "Unique, time-ordered id (UUIDv7); a client retry reuses it."),
    ("event_type", "string", "Wire name of the event type, <domain>.<name>."),
    ("schema_version", "int", "Version of the event type's declaration."),
    ("event_time", "timestamp", "When it happened, by the client (UTC)."),
    ("received_at", "timestamp", "When the producer API accepted it (UTC)."),
    ("user_id", "string", "The player or customer."),
    ("user_agent", "string", "Allow-listed request context: the User-Agent."),
    ("client_host", "string", "Allow-listed request context: the client address."),
)
#: Where a landed or curated row came from on the broker (lineage; the dedup tie-breaker).
LINEAGE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("kafka_topic", "string", "Topic the event was read from."),
    ("kafka_partition", "int", "Partition the event was read from."),
    ("kafka_offset", "bigint", "Offset of the event in its partition."),
)
#: Hive partition columns of the landing zone and the curated tables (from event_time, UTC).
PARTITION_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("event_date", "string", "Date of event_time, UTC, yyyy-MM-dd."),
    ("event_hour", "int", "Hour of event_time, UTC, 0-23."),
)

_STRICT = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="strings")


def event_types() -> tuple[EventType, ...]:
    return EVENT_TYPES


@cache
def event_type_by_name() -> dict[str, EventType]:
    """Event types by wire name (``game.item_purchased``)."""
    return {et.event_type: et for et in EVENT_TYPES}


def get_event_type(name: str) -> EventType:
    try:
        return event_type_by_name()[name]
    except KeyError:
        raise KeyError(f"unknown event type {name!r}; known: {', '.join(sorted(event_type_by_name()))}") from None


def _class_name(et: EventType, suffix: str) -> str:
    return "".join(part.capitalize() for part in f"{et.domain}_{et.name}".split("_")) + suffix


def _exact_money(value: Any) -> Any:
    """Money sent as a JSON number is taken only when the double that carried it is exact."""
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        digits = Decimal(repr(value)).as_tuple().digits
        if len(digits) > EXACT_FLOAT_DIGITS:
            raise ValueError(
                f"money with more than {EXACT_FLOAT_DIGITS} significant digits must be sent as a JSON string"
            )
        return Decimal(repr(value))
    return value


def _in_utc(moment: datetime) -> datetime:
    """An aware time in UTC, as the envelope publishes it; ``0001-01-01T00:00:00+01:00`` has no equivalent
    in UTC (it would be in year 0, before the first instant a ``datetime`` holds), so it is refused."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("has no equivalent in UTC within years 1 to 9999") from None


#: A request's ``event_time``: sent with its offset (ISO 8601), validated into UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]


def _pydantic_field(field: Any) -> tuple[Any, Any]:
    annotation = field.type.python_type()
    if isinstance(field.type, Timestamp):
        annotation = AwareDatetime
    elif isinstance(field.type, Money):
        annotation = Annotated[annotation, BeforeValidator(_exact_money)]
    kwargs = field.type.constraints()
    if field.example is not None:
        kwargs["examples"] = [field.example]
    if not field.required:
        return annotation | None, Field(None, description=field.description, **kwargs)
    return annotation, Field(..., description=field.description, **kwargs)


@cache
def _payload_model_cached(event_type: str) -> type[BaseModel]:
    et = get_event_type(event_type)
    fields = {f.name: _pydantic_field(f) for f in et.fields}
    return create_model(  # type: ignore[call-overload,no-any-return]
        _class_name(et, "Payload"), __config__=_STRICT, __doc__=et.description, **fields
    )


def payload_model(et: EventType) -> type[BaseModel]:
    """The pydantic model of an event type's payload."""
    return _payload_model_cached(et.event_type)


UserId = Annotated[str, Field(min_length=1, max_length=64, pattern=USER_ID_PATTERN, description="Player id.")]


@cache
def _request_model_cached(event_type: str) -> type[BaseModel]:
    et = get_event_type(event_type)
    return create_model(  # type: ignore[call-overload,no-any-return]
        _class_name(et, "Request"),
        __config__=_STRICT,
        __doc__=f"Request body of {et.event_type}: {et.description}",
        event_type=(Literal[et.event_type] | None, Field(None, description="May be omitted on its own endpoint.")),
        event_id=(UUID | None, Field(None, description="Client-chosen id; a retry with the same id is idempotent.")),
        event_time=(Instant | None, Field(None, description="When it happened (ISO 8601 with offset).")),
        user_id=(UserId, ...),
        payload=(payload_model(et), ...),
    )


def request_model(et: EventType) -> type[BaseModel]:
    """What a client sends for one event of this type (envelope fields it may set + payload)."""
    return _request_model_cached(et.event_type)


@cache
def _tagged_request_model_cached(event_type: str) -> type[BaseModel]:
    et = get_event_type(event_type)
    return create_model(  # type: ignore[call-overload,no-any-return]
        _class_name(et, "TaggedRequest"),
        __base__=request_model(et),
        __doc__=f"One {et.event_type} event on the generic and batch endpoints: {et.description}",
        event_type=(Literal[et.event_type], Field(..., description="Which event type this is.")),
    )


def tagged_request_model(et: EventType) -> type[BaseModel]:
    """Like :func:`request_model`, with ``event_type`` required (the generic and batch endpoints)."""
    return _tagged_request_model_cached(et.event_type)


def _tagged_request() -> Any:
    """The type of one request of any event type, discriminated on ``event_type``."""
    union = Union[tuple(tagged_request_model(et) for et in EVENT_TYPES)]  # type: ignore[valid-type]  # noqa: UP007
    return Annotated[union, Field(discriminator="event_type")]


@cache
def tagged_request_adapter() -> TypeAdapter[Any]:
    """Validates one request of any event type, discriminated on ``event_type``."""
    return TypeAdapter(_tagged_request())


@cache
def tagged_batch_adapter() -> TypeAdapter[Any]:
    """Validates a list of requests of any event types (the batch endpoint) in one call."""
    return TypeAdapter(list[_tagged_request()])  # type: ignore[misc]


@cache
def batch_body_model() -> type[BaseModel]:
    """The batch endpoint's whole body, ``{"events": [...]}``, for validating the raw JSON in one pass."""
    return create_model(  # type: ignore[call-overload,no-any-return]
        "BatchRequest",
        __config__=ConfigDict(extra="forbid"),
        __doc__="Up to the configured number of events of any types, each tagged with its event_type.",
        events=(list[_tagged_request()], ...),  # type: ignore[misc]
    )


def payload_from_text(et: EventType, values: dict[str, Any]) -> dict[str, Any]:
    """A payload from text values (query strings, form fields): integers parsed, the rest left to validation."""
    integers = {f.name for f in et.fields if isinstance(f.type, Integer)}
    return {
        name: int(value) if name in integers and isinstance(value, str) and _INTEGER_TEXT.match(value) else value
        for name, value in values.items()
    }


class RequestContext(BaseModel):
    """The allow-listed part of the HTTP request kept with an event. Nothing else is copied."""

    model_config = _STRICT
    user_agent: str | None = Field(None, max_length=256)
    client_host: str | None = Field(None, max_length=64)


@cache
def _event_model_cached(event_type: str) -> type[BaseModel]:
    et = get_event_type(event_type)
    return create_model(  # type: ignore[call-overload,no-any-return]
        _class_name(et, "Event"),
        __config__=_STRICT,
        __doc__=f"{et.event_type} as published on the topic: {et.description}",
        event_id=(UUID, ...),
        event_type=(Literal[et.event_type], ...),
        schema_version=(Literal[et.version], ...),
        event_time=(AwareDatetime, ...),
        received_at=(AwareDatetime, ...),
        user_id=(UserId, ...),
        context=(RequestContext, Field(default_factory=RequestContext)),
        payload=(payload_model(et), ...),
    )


def event_model(et: EventType) -> type[BaseModel]:
    """An event as published on the topic: the full envelope plus the payload."""
    return _event_model_cached(et.event_type)


@cache
def published_event_adapter() -> TypeAdapter[Any]:
    """Validates any published event (discriminated on ``event_type``): what the stream uses."""
    union = Union[tuple(event_model(et) for et in EVENT_TYPES)]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(Annotated[union, Field(discriminator="event_type")])


# --- Spark ----------------------------------------------------------------------------------------
def _spark_simple_type(name: str) -> Any:
    from pyspark.sql.types import IntegerType, LongType, StringType, TimestampType

    return {"string": StringType(), "int": IntegerType(), "bigint": LongType(), "timestamp": TimestampType()}[name]


def spark_payload_schema(et: EventType) -> Any:
    """StructType of the payload (what ``from_json`` of the payload JSON yields)."""
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField(f.name, f.type.spark_type(), nullable=not f.required) for f in et.fields])


def curated_columns(et: EventType) -> list[tuple[str, str, str]]:
    """(name, hive type, comment) of a curated table's data columns, in table order."""
    payload = [(f.name, f.type.hive_type(), f.description) for f in et.fields]
    clash = {name for name, _, _ in payload} & {name for name, _, _ in ENVELOPE_COLUMNS + LINEAGE_COLUMNS}
    if clash:
        raise ValueError(f"{et.event_type}: payload fields clash with envelope columns: {sorted(clash)}")
    return [*ENVELOPE_COLUMNS, *payload, *LINEAGE_COLUMNS]


def spark_curated_schema(et: EventType, *, with_partitions: bool = False) -> Any:
    """StructType of a curated table (envelope, payload, lineage[, partitions])."""
    from pyspark.sql.types import StructField, StructType

    payload_types = {f.name: f.type.spark_type() for f in et.fields}
    columns = curated_columns(et) + (list(PARTITION_COLUMNS) if with_partitions else [])
    return StructType(
        [StructField(name, payload_types.get(name) or _spark_simple_type(hive), True) for name, hive, _ in columns]
    )


#: The quarantine: every message the stream could not land, with its raw bytes (written by the stream).
QUARANTINE_TABLE = "landing_quarantine"
#: Columns of a quarantine file, in order (name, Hive type, description).
QUARANTINE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    *LINEAGE_COLUMNS,
    ("kafka_timestamp", "timestamp", "Broker timestamp of the message (UTC)."),
    ("kafka_key", "binary", "Key of the message, as sent."),
    ("raw_value", "binary", "The message, byte for byte as sent."),
    ("error", "string", "Why it was not landed: the first rule it broke."),
)
#: Hive partition column of the quarantine (from the broker timestamp, so a replay files rows identically).
QUARANTINE_PARTITION_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("quarantine_date", "string", "Date of kafka_timestamp, UTC, yyyy-MM-dd."),
)


@dataclass(frozen=True)
class LakeTable:
    """One external Parquet table of the lake as the metastore knows it."""

    name: str
    description: str
    columns: tuple[tuple[str, str, str], ...]
    partitions: tuple[tuple[str, str, str], ...]
    properties: tuple[tuple[str, str], ...] = ()


def curated_table(et: EventType) -> LakeTable:
    """The curated table of an event type."""
    return LakeTable(
        et.table,
        et.description,
        tuple(curated_columns(et)),
        PARTITION_COLUMNS,
        (("eventlake.event_type", et.event_type), ("eventlake.schema_version", str(et.version))),
    )


def quarantine_table() -> LakeTable:
    return LakeTable(
        QUARANTINE_TABLE,
        "Messages the stream could not land (malformed, unknown type or invalid), with their raw bytes.",
        QUARANTINE_COLUMNS,
        QUARANTINE_PARTITION_COLUMNS,
    )


def lake_tables() -> tuple[LakeTable, ...]:
    """Every metastore table of the lake: one curated table per event type, then the quarantine."""
    return (*(curated_table(et) for et in EVENT_TYPES), quarantine_table())


def hive_ddl(table: LakeTable, *, database: str, location: str) -> str:
    """CREATE EXTERNAL TABLE statement (Spark SQL / HiveQL) of a lake table."""
    columns = ",\n  ".join(f"`{name}` {hive} COMMENT '{_sql_comment(doc)}'" for name, hive, doc in table.columns)
    partitions = ", ".join(f"`{name}` {hive}" for name, hive, _ in table.partitions)
    properties = ", ".join(f"'{key}'='{value}'" for key, value in table.properties)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table.name}` (\n  {columns}\n)\n"
        f"COMMENT '{_sql_comment(table.description)}'\n"
        f"PARTITIONED BY ({partitions})\n"
        f"STORED AS PARQUET\n"
        f"LOCATION '{location}'" + (f"\nTBLPROPERTIES ({properties})" if properties else "")
    )


def hive_table_ddl(et: EventType, *, database: str, location: str) -> str:
    """CREATE EXTERNAL TABLE statement (Spark SQL / HiveQL) of an event type's curated table."""
    return hive_ddl(curated_table(et), database=database, location=location)


def _sql_comment(text: str) -> str:
    return text.replace("'", "")


# --- fixtures -------------------------------------------------------------------------------------
def example_payload(et: EventType, rng: random.Random | None = None) -> dict[str, Any]:
    """A valid payload (JSON-ready values). Deterministic for a seeded ``rng``; the examples without."""
    out: dict[str, Any] = {}
    for f in et.fields:
        if rng is None:
            out[f.name] = f.example
            continue
        t = f.type
        if isinstance(t, Choice):
            out[f.name] = rng.choice(t.values)
        elif isinstance(t, Integer):
            out[f.name] = rng.randint(t.ge if t.ge is not None else 0, t.le if t.le is not None else 1000)
        elif isinstance(t, Money):
            low = t.ge if t.ge is not None else Decimal(0)
            cents = rng.randint(1, 100_000)
            out[f.name] = str(max(low, Decimal(cents).scaleb(-2)).quantize(Decimal(1).scaleb(-min(t.scale, 2))))
        elif isinstance(t, Timestamp):
            out[f.name] = (datetime(2026, 11, 24, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 86_399))).isoformat()
        elif isinstance(t, Text):
            example = str(f.example or "x")
            # Vary names a little (guilds, enemies, accounts) but keep paths valid paths.
            out[f.name] = example if example.startswith("/") else f"{example}{rng.randint(1, 9)}"
        else:  # pragma: no cover - every type is handled above
            raise TypeError(t)
    return out


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every event type's request body (for the OpenAPI document and the docs)."""
    return {et.event_type: request_model(et).model_json_schema() for et in EVENT_TYPES}
