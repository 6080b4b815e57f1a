"""The router's fast path: events in the producer's own spelling, matched by one regex per type and checked in bulk.

Nearly every message on the topics was written by the producer API (or the fixtures), in one spelling:
compact JSON, keys in the catalog's order, UUIDs in lower case, ISO-8601 times, money as decimal strings.
For each event type a template regex, compiled from the catalog, matches exactly that spelling and
captures the values; the rest of the rules (times, ranges, text patterns) are then checked on whole
columns with Arrow compute functions, and the normalised payload JSON is assembled the same way. A
message costs one ``re.fullmatch`` instead of a JSON parse plus a dozen Python checks.

Conservative by construction: a string in a template is printable ASCII without ``"`` or ``\\`` (so a
match is valid JSON whose values are exactly the captured text), and every check is at least as strict
as :func:`eventlake.streaming.arrow_router.compile_router`'s. A message that does not match, or fails a
check, is not rejected here: it goes to the exact Python router, which has the last word (malformed
messages, and valid events spelled otherwise: upper-case UUIDs, money as a JSON number, keys in
another order...). The unit tests check that both give the same result for everything the fast path
accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from eventlake.catalog import EVENT_TYPES, EventType
from eventlake.catalog.derive import USER_ID_PATTERN
from eventlake.catalog.types import Choice, EventField, Integer, Money, Text, Timestamp
from eventlake.streaming.transform import CONTEXT_LIMITS, EVENT_COLUMNS

_TS = pa.timestamp("us", tz="UTC")
#: Printable ASCII except ``"`` and ``\\``: the characters a template string may hold.
_PLAIN = rb"[ !#-\[\]-~]"
_UUID = rb"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
# Date-time, fraction, offset. Years 1980-2999 only: an instant is then always after 1970 and inside the
# range of Python's datetime, whatever its UTC offset.
_TIME = (
    rb'"((?:19[89][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]'
    rb'(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]))"'
)
#: Offset of the event type's text in a message of the template's spelling (after the UUID).
TYPE_AT = len(b'{"event_id":"') + 36 + len(b'","event_type":"')
#: :meth:`FastPath.accept`'s result (beside the indices of the accepted messages): the routed event.
FAST_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("schema_version", pa.int32()),
        ("event_time", _TS),
        ("received_at", _TS),
        ("user_id", pa.string()),
        ("user_agent", pa.string()),
        ("client_host", pa.string()),
        ("payload", pa.string()),
    ]
)
assert tuple(FAST_SCHEMA.names) == EVENT_COLUMNS


def _plain(low: int, high: int) -> bytes:
    return _PLAIN + b"{%d,%d}" % (low, high)


def _nullable_string(limit: int) -> bytes:
    return b'(?:"(' + _plain(0, limit) + b')"|null)'


@dataclass
class _Columns:
    """The captured groups of one type's matches, as Arrow string arrays, with a running validity mask."""

    groups: list[pa.Array]
    valid: pa.Array

    def take(self, n: int) -> pa.Array:
        return self.groups[n]

    def require(self, condition: pa.Array) -> None:
        self.valid = pc.and_kleene(self.valid, pc.fill_null(condition, False))


def _matches(pattern: str) -> Callable[[pa.Array], pa.Array]:
    """A vectorised ``re.search(pattern, value) is not None``: RE2 when it reads the pattern, else Python's re."""
    try:
        pc.match_substring_regex(pa.array(["x"]), pattern)
    except pa.ArrowInvalid:
        compiled = re.compile(pattern)
        return lambda values: pa.array([compiled.search(v) is not None for v in values.to_pylist()], pa.bool_())
    return lambda values: pc.match_substring_regex(values, pattern)


def _slice(text: pa.Array, start: int, stop: int | None = None) -> pa.Array:
    """Characters ``[start:stop]`` of ASCII text at least that long, cut as bytes (UTF-8 slicing decodes each)."""
    return pc.binary_slice(text.view(pa.binary()), start, stop).view(pa.string())


def _utc(columns: _Columns, n: int) -> pa.Array:
    """A captured time (date-time, optional fraction, offset) -> the UTC instant."""
    try:
        # Arrow's cast reads the template's spelling whole (1-6 fraction digits, Z or an offset) and
        # rejects a day that does not exist; one such row fails the column, which then takes the checks below.
        return pc.cast(columns.take(n), _TS)
    except pa.ArrowInvalid:
        return _utc_by_parts(columns, n)


def _utc_by_parts(columns: _Columns, n: int) -> pa.Array:
    """:func:`_utc` row by row in Arrow: a day that does not exist invalidates its row, not the column."""
    text = columns.take(n)
    local = pc.strptime(_slice(text, 0, 19), format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
    columns.require(pc.is_valid(local))
    # strptime rolls a day that does not exist (February 30) over into the next month: compare day and month.
    columns.require(pc.equal(pc.day(local), pc.cast(_slice(text, 8, 10), pa.int64())))
    columns.require(pc.equal(pc.month(local), pc.cast(_slice(text, 5, 7), pa.int64())))
    is_utc = pc.ends_with(text, "Z")
    zone = pc.if_else(is_utc, "+00:00", _slice(text, -6))
    # What lies between the seconds and the offset: "" or "." and 1-6 digits.
    # UTF-8 slicing for these two: Arrow's binary_slice fails on rows shorter than the start.
    rest = pc.if_else(is_utc, pc.utf8_slice_codeunits(text, 19, -1), pc.utf8_slice_codeunits(text, 19, -6))
    micros = pc.cast(pc.utf8_rpad(pc.utf8_slice_codeunits(rest, 1), width=6, padding="0"), pa.int64())
    sign = pc.if_else(pc.starts_with(zone, "-"), -1, 1)
    hours = pc.cast(_slice(zone, 1, 3), pa.int64())
    minutes = pc.cast(_slice(zone, 4, 6), pa.int64())
    shift = pc.subtract(micros, pc.multiply(sign, pc.multiply(pc.add(pc.multiply(hours, 60), minutes), 60_000_000)))
    instant = pc.add(pc.cast(local, pa.int64()), shift)
    return pc.cast(instant, pa.timestamp("us")).cast(_TS)


def _iso_utc(instant: pa.Array) -> pa.Array:
    """What ``datetime.isoformat()`` writes for a UTC instant, with ``Z`` (the Python router's spelling)."""

    # From parts: Arrow's strftime formats through C++ streams and costs more than the rest of a row.
    def two(part: pa.Array) -> pa.Array:
        return pc.utf8_lpad(pc.cast(part, pa.string()), width=2, padding="0")

    micros = pc.add(pc.multiply(pc.millisecond(instant), 1000), pc.microsecond(instant))
    fraction = pc.binary_join_element_wise(".", pc.utf8_lpad(pc.cast(micros, pa.string()), width=6, padding="0"), "")
    return pc.binary_join_element_wise(
        pc.cast(pc.cast(instant, pa.date32()), pa.string()),
        "T",
        two(pc.hour(instant)),
        ":",
        two(pc.minute(instant)),
        ":",
        two(pc.second(instant)),
        pc.if_else(pc.equal(micros, 0), "", fraction),
        "Z",
        "",
    )


@dataclass
class _Field:
    """How one payload field is matched (its regex piece, how many groups) and checked and written."""

    regex: bytes
    groups: int
    finish: Callable[[_Columns, int], pa.Array]


def _field(spec: EventField) -> _Field:
    t = spec.type
    if isinstance(t, Choice):
        choices = b"|".join(re.escape(value.encode()) for value in t.values)
        return _Field(b'"(' + choices + b')"', 1, lambda c, n: _quoted(c.take(n)))
    if isinstance(t, Text):
        matches = _matches(t.pattern) if t.pattern else None

        def text(columns: _Columns, n: int) -> pa.Array:
            if matches is not None:
                columns.require(matches(columns.take(n)))
            return _quoted(columns.take(n))

        return _Field(b'"(' + _plain(t.min_length, t.max_length) + b')"', 1, text)
    if isinstance(t, Integer):
        low, high = t.ge, t.le

        def integer(columns: _Columns, n: int) -> pa.Array:
            number = pc.cast(columns.take(n), pa.int64())
            if low is not None:
                columns.require(pc.greater_equal(number, low))
            if high is not None:
                columns.require(pc.less_equal(number, high))
            return pc.cast(number, pa.string())

        return _Field(rb"(-?(?:0|[1-9][0-9]{0,17}))", 1, integer)
    if isinstance(t, Money):
        return _money(t)
    if isinstance(t, Timestamp):
        return _Field(_TIME, 1, lambda c, n: _quoted(_iso_utc(_utc(c, n))))
    raise TypeError(f"no fast path for {t!r}")  # pragma: no cover - every catalog type is handled


def _money(t: Money) -> _Field:
    """Money without a sign (negative amounts take the slow path), padded to its scale, range-checked."""
    whole_digits = t.precision - t.scale
    whole = b"(0|[1-9][0-9]{0,%d})" % (whole_digits - 1) if whole_digits > 0 else b"(0)"
    fraction = b"(?:\\.([0-9]{1,%d}))?" % t.scale if t.scale else b"()"
    decimal = pa.decimal128(t.precision, t.scale)

    def amount(columns: _Columns, n: int) -> pa.Array:
        if t.scale:
            padded = pc.utf8_rpad(pc.fill_null(columns.take(n + 1), ""), width=t.scale, padding="0")
            text = pc.binary_join_element_wise(columns.take(n), padded, ".")
        else:
            text = columns.take(n)
        if (t.ge is not None and t.ge > 0) or t.le is not None:
            # Only rows still valid are cast: a check that already failed may have left text Arrow cannot read.
            value = pc.cast(pc.if_else(columns.valid, text, "0"), decimal)
            if t.ge is not None and t.ge > 0:
                columns.require(pc.greater_equal(value, pa.scalar(Decimal(t.ge), decimal)))
            if t.le is not None:
                columns.require(pc.less_equal(value, pa.scalar(Decimal(t.le), decimal)))
        return _quoted(text)

    return _Field(b'"' + whole + fraction + b'"', 2, amount)


def _constant(value: Any, rows: int, type_: pa.DataType) -> pa.Array:
    return pc.fill_null(pa.nulls(rows, type_), pa.scalar(value, type_))


def _quoted(text: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise('"', text, '"', "")


@dataclass
class _Template:
    """One event type's spelling: the regex and how each payload field is checked and written."""

    et: EventType
    regex: re.Pattern[bytes]
    fields: list[_Field]


def _template(et: EventType) -> _Template:
    fields = [_field(f) for f in et.fields]
    payload = b",".join(b'"%s":%s' % (f.name.encode(), spec.regex) for f, spec in zip(et.fields, fields, strict=True))
    context = b",".join(b'"%s":%s' % (name.encode(), _nullable_string(limit)) for name, limit in CONTEXT_LIMITS.items())
    regex = (
        b'{"event_id":"' + _UUID + b'","event_type":"' + re.escape(et.event_type.encode())
        + b'","schema_version":' + str(et.version).encode()
        + b',"event_time":' + _TIME + b',"received_at":' + _TIME
        + b',"user_id":"(' + _plain(1, 64) + b')","context":{' + context + b'},"payload":{' + payload + b"}}"
    )  # fmt: skip
    return _Template(et, re.compile(regex), fields)


# Groups before the payload's: event_id, event_time, received_at, user_id, one per context field.
_PAYLOAD_GROUP = 4 + len(CONTEXT_LIMITS)
_USER_ID_MATCHES = _matches(USER_ID_PATTERN)


class FastPath:
    """Matches a batch of raw messages against the templates; :meth:`accept` returns what passed every check."""

    def __init__(self, event_types: tuple[EventType, ...] = EVENT_TYPES) -> None:
        self.templates = {et.event_type.encode(): _template(et) for et in event_types}
        self.longest_type = max((len(name) for name in self.templates), default=0)

    def accept(self, values: pa.Array) -> tuple[pa.Array, pa.Table]:
        """(indices, ``FAST_SCHEMA`` columns) of the messages (a binary array) the fast path accepts, by type."""
        values = values.cast(pa.binary())
        # The event type sits at a fixed offset in the template's spelling: group the rows by it in bulk.
        head = pc.binary_slice(values, TYPE_AT, TYPE_AT + self.longest_type + 1)
        parts = []
        for name, template in self.templates.items():
            rows = pc.indices_nonzero(pc.fill_null(pc.starts_with(head, (name + b'"').decode()), False))
            if len(rows) == 0:
                continue
            matches = [template.regex.fullmatch(v) for v in values.take(rows).to_pylist()]
            found = [m is not None for m in matches]
            if any(found):
                captured = [m.groups() for m in matches if m is not None]
                parts.append(self._finish(template, rows.filter(pa.array(found)), captured))
        if not parts:
            return pa.array([], pa.int64()), FAST_SCHEMA.empty_table()
        return pa.concat_arrays([p[0] for p in parts]), pa.concat_tables([p[1] for p in parts])

    @staticmethod
    def _finish(template: _Template, at: pa.Array, captured: list[tuple[Any, ...]]) -> tuple[pa.Array, pa.Table]:
        rows = len(captured)
        # Template strings are ASCII: viewing the bytes as UTF-8 needs no validation.
        groups = [pa.array(column, pa.binary()).view(pa.string()) for column in zip(*captured, strict=True)]
        columns = _Columns(groups, pc.is_valid(groups[0]))  # all true: the event id always matched
        event_time = _utc(columns, 1)
        received_at = _utc(columns, 2)
        user_id = columns.take(3)
        columns.require(_USER_ID_MATCHES(user_id))
        pieces: list[Any] = []
        n = _PAYLOAD_GROUP
        for spec, finisher in zip(template.et.fields, template.fields, strict=True):
            pieces += [("," if pieces else "{") + f'"{spec.name}":', finisher.finish(columns, n)]
            n += finisher.groups
        payload = pc.binary_join_element_wise(*pieces, "}", "")
        et = template.et
        table = pa.table(
            {
                "event_id": columns.take(0),
                "event_type": _constant(et.event_type, rows, pa.string()),
                "schema_version": _constant(et.version, rows, pa.int32()),
                "event_time": event_time,
                "received_at": received_at,
                "user_id": user_id,
                "user_agent": columns.take(4),
                "client_host": columns.take(5),
                "payload": payload,
            },
            schema=FAST_SCHEMA,
        )
        keep = columns.valid
        return pc.cast(at, pa.int64()).filter(keep), table.filter(keep)
