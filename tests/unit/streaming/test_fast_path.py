"""The router's fast path against the exact Python router: same rows, same values, for every spelling."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pytest

from eventlake.catalog import EVENT_TYPES
from eventlake.catalog.types import Integer, Money, Text, Timestamp
from eventlake.streaming.arrow_router import route_values
from eventlake.streaming.fast_path import FastPath
from eventlake.streaming.fixtures import MALFORMED_SAMPLES, message_stream, published_event

NOW = datetime(2026, 11, 24, 9, 30, 12, 345678, tzinfo=UTC)


def producer_spelling(event: dict[str, Any]) -> bytes:
    """The producer API's spelling: datetimes serialised by orjson with ``Z`` (``OPT_UTC_Z``)."""
    document = dict(event, event_time=NOW, received_at=NOW.replace(microsecond=0))
    return orjson.dumps(document, option=orjson.OPT_UTC_Z)


def assert_same_as_python(values: list[bytes | None]) -> pa.Table:
    fast = route_values(pa.array(values, pa.binary()))
    exact = route_values(pa.array(values, pa.binary()), fast=False)
    for name in exact.column_names:
        got, want = fast[name].to_pylist(), exact[name].to_pylist()
        diffs = [(values[i], g, w) for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
        assert not diffs, f"{name}: {len(diffs)} differences, first {diffs[0]}"
    return exact


def test_the_usual_spellings_all_take_the_fast_path() -> None:
    rng = random.Random(4)
    events = [published_event(et, rng) for et in EVENT_TYPES for _ in range(5)]
    values = [orjson.dumps(e) for e in events] + [producer_spelling(e) for e in events]
    accepted, table = FastPath().accept(pa.array(values, pa.binary()))
    types = dict(zip(accepted.to_pylist(), table["event_type"].to_pylist(), strict=True))
    assert types == dict(enumerate([e["event_type"] for e in events] * 2))
    assert_same_as_python(values)


def _spellings(event: dict[str, Any]) -> list[Any]:
    """Valid and invalid variants of one event, most of them outside the fast path's spelling."""
    out: list[Any] = []

    def variant(change: Any) -> None:
        copied = copy.deepcopy(event)
        change(copied)
        out.append(copied)

    variant(lambda e: e.update(event_id=e["event_id"].upper()))
    variant(lambda e: e.update(event_id=e["event_id"].replace("-", "")))
    variant(lambda e: e.update(event_time="2026-11-24T01:15:00+02:00"))
    variant(lambda e: e.update(event_time="2026-11-24T01:15:00.5-05:30"))
    variant(lambda e: e.update(event_time="2026-11-24T01:15:00.123456789Z"))
    variant(lambda e: e.update(event_time="2026-02-30T01:15:00Z"))
    variant(lambda e: e.update(event_time="1975-06-01T00:00:00Z"))
    variant(lambda e: e.update(event_time="2026-11-24 01:15:00Z"))
    variant(lambda e: e.update(event_time=1_764_000_000))
    variant(lambda e: e.update(received_at="2026-11-24T24:00:00Z"))
    variant(lambda e: e.update(schema_version=1.0))
    variant(lambda e: e.update(schema_version=True))
    variant(lambda e: e.update(user_id="ü-player"))
    variant(lambda e: e.update(user_id="a" * 65))
    variant(lambda e: e.update(context=None))
    variant(lambda e: e.pop("context"))
    variant(lambda e: e.update(context=[]))
    variant(lambda e: e.update(context={"user_agent": None, "client_host": None}))
    variant(lambda e: e.update(context={"user_agent": 'say "hi"', "client_host": "h"}))
    variant(lambda e: e.update(context={"user_agent": "Ünïcode/1.0", "client_host": "h"}))
    variant(lambda e: e.update(context={"user_agent": "x" * 257, "client_host": "h"}))
    variant(lambda e: e.update(context={"client_host": "h"}))
    variant(lambda e: e.update(payload=dict(reversed(list(e["payload"].items())))))
    variant(lambda e: e["payload"].update(extra=1))
    for field in next(et for et in EVENT_TYPES if et.event_type == event["event_type"]).fields:
        name, t = field.name, field.type
        variant(lambda e, n=name: e["payload"].update({n: None}))
        variant(lambda e, n=name: e["payload"].pop(n))
        if isinstance(t, Money):
            for amount in ("007.50", "1e2", " 5.00", "5.", ".5", "-0.00", "-3", "0", "0.000001", 12.5, 7, "9" * 40):
                variant(lambda e, n=name, a=amount: e["payload"].update({n: a}))
            variant(lambda e, n=name, t=t: e["payload"].update({n: "9" * (t.precision - t.scale)}))
            variant(lambda e, n=name, t=t: e["payload"].update({n: "9" * (t.precision - t.scale + 1)}))
            variant(lambda e, n=name, t=t: e["payload"].update({n: "1." + "5" * (t.scale + 1)}))
        if isinstance(t, Integer):
            for number in (t.le, (t.le or 0) + 1, t.ge, (t.ge or 0) - 1, "7", 7.0, -0, True, 2**63 - 1):
                variant(lambda e, n=name, v=number: e["payload"].update({n: v}))
        if isinstance(t, Text):
            for text in ("", "x" * t.max_length, "x" * (t.max_length + 1), "a b", "/a//b", "ünï", "tab\there"):
                variant(lambda e, n=name, v=text: e["payload"].update({n: v}))
        if isinstance(t, Timestamp):
            for moment in ("2026-11-24T10:00:00+01:00", "2026-11-24T10:00:00.000001Z", "2026-11-24T10:00:00", 5):
                variant(lambda e, n=name, v=moment: e["payload"].update({n: v}))
    return out


def test_fast_path_agrees_with_the_python_router_on_every_spelling() -> None:
    rng = random.Random(9)
    values: list[bytes | None] = [None, b"", *MALFORMED_SAMPLES]
    for et in EVENT_TYPES:
        event = published_event(et, rng, event_time=NOW - timedelta(minutes=1))
        values.append(orjson.dumps(event))
        values += [orjson.dumps(variant) for variant in _spellings(event)]
        compact = orjson.dumps(event)
        values += [
            orjson.dumps(event, option=orjson.OPT_INDENT_2),
            compact[:-2] + b",}}",  # trailing commas: DuckDB-style readers accept them, orjson does not
            compact[:-1] + b",}",
            compact.replace(b'"user_id":', b'"user_id":"dup","user_id":', 1),  # orjson keeps the last value
            compact.replace(b'"schema_version":1', b'"schema_version":NaN'),
            compact + b" ",
            compact + b"x",
        ]
    routed = assert_same_as_python(values)
    assert 0 < sum(e is None for e in routed["error"].to_pylist()) < len(values)


def test_fast_path_agrees_with_the_python_router_on_damaged_bytes() -> None:
    rng = random.Random(13)
    canonical = [value for _, _, value in message_stream(len(EVENT_TYPES) * 4)]
    values: list[bytes | None] = []
    for _ in range(3000):
        value = bytearray(rng.choice(canonical))
        at = rng.randrange(len(value))
        action = rng.randrange(3)
        if action == 0:
            value[at] = rng.choice(b'"\\{}[],:0123456789abcdefZT.-+ e\x00\xff')
        elif action == 1:
            del value[at]
        else:
            value.insert(at, rng.choice(b'"\\{},:09aZ. \n'))
        values.append(bytes(value))
    assert_same_as_python(values)


@pytest.mark.parametrize("rows", [0, 1, 1000])
def test_route_values_keeps_the_order_of_its_input(rows: int) -> None:
    messages = [value for _, _, value in message_stream(rows, malformed_every=7)]
    routed = route_values(pa.array(messages, pa.binary()))
    assert routed.num_rows == rows
    assert routed["event_id"].to_pylist() == [
        None if value in MALFORMED_SAMPLES else orjson.loads(value)["event_id"] for value in messages
    ]


def test_a_day_that_does_not_exist_leaves_the_other_times_of_its_batch_on_the_fast_path() -> None:
    et = EVENT_TYPES[0]
    rng = random.Random(11)
    valid = ["2026-11-24T01:15:00.5-05:30", "2026-11-24T10:00:00Z", "2026-11-24T23:59:59.123+23:59"]
    values = [orjson.dumps(dict(published_event(et, rng), event_time=t)) for t in [*valid, "2026-02-30T01:15:00Z"]]
    expected = {i: datetime.fromisoformat(t) for i, t in enumerate(valid)}
    # Every time valid: the column is cast at once; with a day that does not exist, row by row.
    for batch in (values[:3], values):
        accepted, table = FastPath().accept(pa.array(batch, pa.binary()))
        assert dict(zip(accepted.to_pylist(), table["event_time"].to_pylist(), strict=True)) == expected
    assert_same_as_python(values)
