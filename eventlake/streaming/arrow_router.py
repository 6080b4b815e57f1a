"""Parse, validate and route raw Kafka records in Arrow batches: one orjson parse per message.

The rules are compiled once from the catalog declarations and mirror what ``published_event_adapter()``
accepts (the unit tests check the two agree message by message). Runs inside Spark's ``mapInArrow``,
so a batch crosses the JVM/Python boundary as Arrow, and a row costs one ``orjson.loads`` plus a few
comparisons, several times cheaper than pydantic's discriminated union or Spark's four JSON parses.
"""

from __future__ import annotations

import functools
import gc
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from eventlake.catalog import EVENT_TYPES, EventType
from eventlake.catalog.derive import USER_ID_PATTERN
from eventlake.catalog.types import Choice, Integer, Money, Text, Timestamp
from eventlake.streaming.fast_path import FAST_SCHEMA, FastPath
from eventlake.streaming.landing import encode_files
from eventlake.streaming.transform import (
    CONTEXT_LIMITS,
    ENVELOPE_FIELDS,
    EVENT_COLUMNS,
    REQUIRED_ENVELOPE_FIELDS,
    ROUTED_COLUMNS,
)

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

_TS = pa.timestamp("us", tz="UTC")
#: Arrow schema of the routed output (same names and order as :data:`ROUTED_COLUMNS`).
ROUTED_ARROW_SCHEMA = pa.schema(
    [
        *FAST_SCHEMA,
        ("kafka_topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        ("kafka_timestamp", _TS),
        ("kafka_key", pa.binary()),
        ("raw_value", pa.binary()),
        ("error", pa.string()),
        ("event_date", pa.string()),
        ("event_hour", pa.int32()),
    ]
)
assert tuple(ROUTED_ARROW_SCHEMA.names) == ROUTED_COLUMNS
#: The Python router's result tuple as Arrow (``FAST_SCHEMA`` and the error).
ROUTED_PYTHON_SCHEMA = FAST_SCHEMA.append(pa.field("error", pa.string()))


def routed_spark_schema() -> StructType:
    """``ROUTED_ARROW_SCHEMA`` as Spark's schema, for ``mapInArrow``."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(ROUTED_ARROW_SCHEMA)


_ENVELOPE_KEYS = frozenset((*ENVELOPE_FIELDS, "payload"))
_USER_ID = re.compile(USER_ID_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FRACTION = re.compile(r"(\.\d{6})\d+")


class InvalidError(ValueError):
    """One broken rule; the message names the field."""


def parse_aware_time(value: Any, name: str) -> datetime:
    """An ISO-8601 time with an offset (or a Unix time, as pydantic allows), as UTC."""
    if isinstance(value, bool):
        raise InvalidError(f"{name}: not a time")
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 2e10 else value  # pydantic reads large numbers as milliseconds
        return _EPOCH + timedelta(seconds=seconds)
    if not isinstance(value, str):
        raise InvalidError(f"{name}: not a time")
    try:
        # Python keeps microseconds only; trim longer fractions (rare: only then pay for the regex).
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value) if len(value) > 32 else value)
    except ValueError:
        raise InvalidError(f"{name}: not ISO 8601") from None
    if moment.tzinfo is None:
        raise InvalidError(f"{name}: no offset")
    return moment.astimezone(UTC)


def _money(t: Money, name: str) -> Callable[[Any], str]:
    whole_limit = t.precision - t.scale
    quantum = Decimal(1).scaleb(-t.scale)

    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidError(f"payload.{name}: not a decimal")
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else str(value))
        except InvalidOperation:
            raise InvalidError(f"payload.{name}: not a decimal") from None
        if not amount.is_finite():
            raise InvalidError(f"payload.{name}: not finite")
        _, digit_tuple, exponent = amount.normalize().as_tuple()
        assert isinstance(exponent, int)
        decimals = 0 if exponent >= 0 else -exponent
        digits = len(digit_tuple) + exponent if exponent >= 0 else max(len(digit_tuple), decimals)
        if decimals > t.scale or digits > t.precision or digits - decimals > whole_limit:
            raise InvalidError(f"payload.{name}: more digits than decimal({t.precision},{t.scale})")
        if (t.ge is not None and amount < t.ge) or (t.le is not None and amount > t.le):
            raise InvalidError(f"payload.{name}: out of range")
        # Fixed-point text always: str() would write a zero with more than 6 decimals as "0E-8".
        return format(amount.quantize(quantum), "f")

    return check


def _field_check(field: Any) -> Callable[[Any], Any]:
    """A function value -> normalised value that raises :class:`InvalidError` (compiled once per field)."""
    t, name = field.type, field.name
    if isinstance(t, Choice):
        allowed = frozenset(t.values)

        def choice(value: Any) -> Any:
            if not isinstance(value, str) or value not in allowed:
                raise InvalidError(f"payload.{name}: not one of {sorted(allowed)}")
            return value

        return choice
    if isinstance(t, Integer):
        low, high = t.ge, t.le

        def integer(value: Any) -> Any:
            if type(value) is not int or (low is not None and value < low) or (high is not None and value > high):
                raise InvalidError(f"payload.{name}: not an integer in range")
            return value

        return integer
    if isinstance(t, Money):
        return _money(t, name)
    if isinstance(t, Text):
        pattern = re.compile(t.pattern) if t.pattern else None
        shortest, longest = t.min_length, t.max_length

        def text(value: Any) -> Any:
            if (
                not isinstance(value, str)
                or not shortest <= len(value) <= longest
                or (pattern is not None and pattern.search(value) is None)
            ):
                raise InvalidError(f"payload.{name}: invalid text")
            return value

        return text
    if isinstance(t, Timestamp):
        return lambda value: parse_aware_time(value, f"payload.{name}").isoformat().replace("+00:00", "Z")
    raise TypeError(f"no check for {t!r}")  # pragma: no cover - every catalog type is handled


def _payload_check(et: EventType) -> Callable[[Any], str]:
    checks = [(f.name, f.required, _field_check(f)) for f in et.fields]
    known = frozenset(f.name for f in et.fields)

    def check(payload: Any) -> str:
        if not isinstance(payload, dict):
            raise InvalidError("payload: not an object")
        extra = payload.keys() - known
        if extra:
            raise InvalidError(f"payload: unexpected fields {','.join(sorted(extra))}")
        out: dict[str, Any] = {}
        for name, required, field_check in checks:
            value = payload.get(name)
            if value is None:
                if required:
                    raise InvalidError(f"payload.{name}: missing")
                out[name] = None
                continue
            out[name] = field_check(value)
        return orjson.dumps(out).decode()

    return check


def compile_router(event_types: tuple[EventType, ...] = EVENT_TYPES) -> Callable[[bytes | None], tuple[Any, ...]]:
    """A function raw message -> (event_id, event_type, version, event_time, received_at, user_id, user_agent,
    client_host, payload_json, error); fields are None when error is set."""
    versions = {et.event_type: et.version for et in event_types}
    payload_checks = {et.event_type: _payload_check(et) for et in event_types}
    failed = (None,) * 9

    def route(value: bytes | None) -> tuple[Any, ...]:
        if value is None:
            return (*failed, "empty message")
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError as error:
            return (*failed, f"malformed JSON: {error}")
        try:
            if not isinstance(event, dict):
                raise InvalidError("malformed JSON: not a JSON object")
            extra = event.keys() - _ENVELOPE_KEYS
            if extra:
                raise InvalidError(f"unexpected fields {','.join(sorted(extra))}")
            named_type = event.get("event_type")
            if named_type is not None and (not isinstance(named_type, str) or named_type not in versions):
                raise InvalidError(f"unknown event type {named_type}")
            missing = [name for name in (*REQUIRED_ENVELOPE_FIELDS, "payload") if event.get(name) is None]
            if missing:
                raise InvalidError(f"missing {','.join(missing)}")
            event_type: str = event["event_type"]
            version = event["schema_version"]
            if type(version) is not int or version != versions[event_type]:
                raise InvalidError(f"schema_version: {event_type} is version {versions[event_type]}")
            try:
                event_id = str(uuid.UUID(event["event_id"]))
            except (ValueError, TypeError, AttributeError):
                raise InvalidError("event_id: not a UUID") from None
            event_time = parse_aware_time(event["event_time"], "event_time")
            received_at = parse_aware_time(event["received_at"], "received_at")
            user_id = event["user_id"]
            if not isinstance(user_id, str) or len(user_id) > 64 or _USER_ID.search(user_id) is None:
                raise InvalidError("user_id: invalid")
            context = event.get("context") or {}
            if not isinstance(context, dict) or context.keys() - CONTEXT_LIMITS.keys():
                raise InvalidError("context: unexpected fields")
            for name, limit in CONTEXT_LIMITS.items():
                item = context.get(name)
                if item is not None and (not isinstance(item, str) or len(item) > limit):
                    raise InvalidError(f"context.{name}: invalid")
            payload = payload_checks[event_type](event["payload"])
        except InvalidError as error:
            return (*failed, str(error))
        except Exception as error:
            return (*failed, f"invalid: {error!r}")
        return (
            event_id,
            event_type,
            version,
            event_time,
            received_at,
            user_id,
            context.get("user_agent"),
            context.get("client_host"),
            payload,
            None,
        )

    return route


@contextmanager
def no_gc() -> Iterator[None]:
    """Garbage collection off for a while: reading and routing a batch allocate a few objects per message,
    none in a reference cycle, and collection passes over them would be wasted work."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@functools.cache
def _routers() -> tuple[Callable[[bytes | None], tuple[Any, ...]], FastPath]:
    """The exact router and the fast path, compiled on first use (once per process)."""
    return compile_router(), FastPath()


_HEAP_FROZEN = False


def freeze_worker_heap() -> None:
    """Once per reused Spark Python worker: a last collection, then what is alive (the imports, mostly) frozen.

    PySpark's daemon runs a full ``gc.collect()`` after each task of a reused worker (``SPARK_REUSE_WORKER``),
    and over the ~90,000 objects that pyarrow, pyspark and confluent-kafka leave behind one costs 35-55 ms of
    CPU here: 11 in a drain of a million events, ~0.4 us per event, and ~45 ms after each task of a
    micro-batch at 1,000 events/s. Frozen objects are out of the collector's sight for good (the tasks'
    own objects are still collected), so this is for worker processes only, never a test's or the driver's.
    """
    global _HEAP_FROZEN
    if _HEAP_FROZEN or not os.environ.get("SPARK_REUSE_WORKER"):
        return
    _routers()  # built first, so frozen with the rest: they live as long as the worker
    gc.collect()
    gc.freeze()
    _HEAP_FROZEN = True


def route_values(values: pa.Array, *, fast: bool = True) -> pa.Table:
    """Raw message values -> the routed columns (``EVENT_COLUMNS`` and ``error``), in order.

    Messages in the producer's spelling go through :class:`FastPath` (checked in bulk); the rest, and any
    the fast path does not accept, through the exact Python router, one by one.
    """
    route, fast_path = _routers()
    with no_gc():
        if fast:
            accepted_at, accepted = fast_path.accept(values)
        else:
            accepted_at, accepted = pa.array([], pa.int64()), FAST_SCHEMA.empty_table()
        slow_rows = np.ones(len(values), dtype=bool)
        slow_rows[accepted_at.to_numpy()] = False
        slow_at = pa.array(np.flatnonzero(slow_rows), pa.int64())
        results = [route(value) for value in values.take(slow_at).to_pylist()]
    columns = list(zip(*results, strict=True)) if results else [()] * 10
    slow = pa.table(
        [pa.array(column, type=f.type) for column, f in zip(columns, ROUTED_PYTHON_SCHEMA, strict=True)],
        schema=ROUTED_PYTHON_SCHEMA,
    )
    fast_rows = accepted.append_column("error", pa.nulls(accepted.num_rows, pa.string()))
    combined = pa.concat_tables([fast_rows, slow])
    order = pc.sort_indices(pa.concat_arrays([accepted_at, slow_at]))
    return combined.take(order)


def route_batch(batch: pa.RecordBatch, *, fast: bool = True) -> pa.RecordBatch:
    """One Arrow batch of raw Kafka records (key, value, topic, partition, offset, timestamp) -> routed rows."""
    routed = route_values(batch.column("value"), fast=fast)
    invalid = pc.is_valid(routed["error"])
    null_binary = pa.nulls(batch.num_rows, pa.binary())
    event_time = routed["event_time"]
    arrays = [
        *(routed[name] for name in EVENT_COLUMNS),
        batch.column("topic").cast(pa.string()),
        batch.column("partition").cast(pa.int32()),
        batch.column("offset").cast(pa.int64()),
        batch.column("timestamp").cast(_TS),
        # Only quarantined rows keep their key and raw bytes.
        pc.if_else(invalid, batch.column("key").cast(pa.binary()), null_binary),
        pc.if_else(invalid, batch.column("value").cast(pa.binary()), null_binary),
        routed["error"],
        pc.cast(pc.cast(event_time, pa.date32()), pa.string()),  # not strftime: ~15x slower in Arrow
        pc.cast(pc.hour(event_time), pa.int32()),
    ]
    return pa.RecordBatch.from_arrays([_single(a) for a in arrays], schema=ROUTED_ARROW_SCHEMA)


def _single(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def route_batches(batches: Iterator[pa.RecordBatch], *, fast: bool = True) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body (``fast=False``: every message through the exact Python router)."""
    for batch in batches:
        yield route_batch(batch, fast=fast)


def land_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A task of the stream in a Spark Python worker: :func:`route_and_encode`, garbage collection off.

    Both sources run it: the Python source in ``read()``, Spark's own connector in ``mapInArrow``.
    """
    freeze_worker_heap()
    with no_gc():  # consuming allocates a message object per record, none in a cycle
        yield from route_and_encode(batches)


def route_and_encode(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Raw Kafka records of one task -> its landing and quarantine files, encoded (``ENCODED_SCHEMA``).

    What a task of either source runs (:func:`land_batches`): rows are routed and encoded where they were
    read, so only finished files cross into Spark and to the driver.
    """
    routed = [route_batch(batch) for batch in batches]
    if routed:
        yield from encode_files(pa.Table.from_batches(routed, schema=ROUTED_ARROW_SCHEMA)).to_batches()
