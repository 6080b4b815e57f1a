"""The parse/validate/route transform on a local SparkSession, checked against the catalog's pydantic adapter."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pydantic
import pytest

from eventlake.catalog import EVENT_TYPES, get_event_type, published_event_adapter
from eventlake.catalog.types import Choice, Integer, Money, Text
from eventlake.streaming.fixtures import MALFORMED_SAMPLES, published_event
from eventlake.streaming.kafka_source import KAFKA_SCHEMA
from eventlake.streaming.transform import ROUTED_COLUMNS, route_events, route_events_sql

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def kafka_frame(spark: Any, values: list[bytes | None]) -> Any:
    rows = [(b"key", value, "eventlake.game", 1, offset, NOW) for offset, value in enumerate(values)]
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


ROUTERS = {"arrow": route_events, "sql": route_events_sql}


@pytest.fixture(params=sorted(ROUTERS))
def router(request: pytest.FixtureRequest) -> Any:
    return ROUTERS[request.param]


def route(spark: Any, values: list[bytes | None], router: Any = route_events) -> list[Any]:
    return sorted(router(kafka_frame(spark, values)).collect(), key=lambda row: row.kafka_offset)


def test_output_columns_are_fixed(spark: Any, router: Any) -> None:
    assert tuple(router(kafka_frame(spark, [])).columns) == ROUTED_COLUMNS


def test_valid_event_is_normalised_with_lineage_and_utc_partition(spark: Any, router: Any) -> None:
    event = {
        "event_id": "0190f7a2-5b1c-7def-8abc-0123456789ab",
        "event_type": "game.item_purchased",
        "schema_version": 1,
        "event_time": "2026-11-24T01:15:00+02:00",  # 23:15 UTC the day before
        "received_at": "2026-11-23T23:15:01Z",
        "user_id": "player-1",
        "context": {"user_agent": "ua", "client_host": "10.0.0.1"},
        "payload": {"item": "sword", "item_kind": "gold", "strength": 7, "price": "25.5"},
    }
    routed = router(kafka_frame(spark, [orjson.dumps(event)])).select(
        "event_id",
        "event_type",
        "user_id",
        "payload",
        "kafka_topic",
        "kafka_offset",
        "event_date",
        "event_hour",
        "error",
    )
    expected = spark.createDataFrame(
        [
            (
                event["event_id"],
                "game.item_purchased",
                "player-1",
                '{"item":"sword","item_kind":"gold","strength":7,"price":"25.50"}',
                "eventlake.game",
                0,
                "2026-11-23",
                23,
                None,
            )
        ],
        "event_id string, event_type string, user_id string, payload string, kafka_topic string, "
        "kafka_offset long, event_date string, event_hour int, error string",
    )
    # assertDataFrameEqual imports pyspark.pandas, which breaks on the locked pandas 3: compare rows.
    assert routed.schema == expected.schema
    assert routed.collect() == expected.collect()


def test_every_event_type_lands(spark: Any, router: Any) -> None:
    rng = random.Random(3)
    events = [published_event(et, rng, event_time=NOW) for et in EVENT_TYPES]
    rows = route(spark, [orjson.dumps(e) for e in events], router)
    assert [row.error for row in rows] == [None] * len(EVENT_TYPES)
    for row, event in zip(rows, events, strict=True):
        assert row.event_type == event["event_type"]
        assert (row.event_date, row.event_hour) == ("2026-11-24", 9)
        assert set(orjson.loads(row.payload)) == set(event["payload"])
        assert row.raw_value is None


def test_malformed_and_unknown_messages_are_quarantined_with_raw_bytes(spark: Any, router: Any) -> None:
    values: list[bytes | None] = [*MALFORMED_SAMPLES, None]
    rows = route(spark, values, router)
    assert all(row.error for row in rows)
    assert [row.raw_value for row in rows[:-1]] == [bytearray(v) for v in MALFORMED_SAMPLES]
    assert all(row.event_type is None and row.event_date is None for row in rows)
    assert "unknown event type game.no_such_event" in rows[4].error
    assert "malformed JSON" in rows[0].error
    assert rows[-1].error == "empty message"


#: Cases the SQL reference router accepts although pydantic does not (Spark's JSON reader coerces a
#: number into a string column and an array into a null struct). The stream uses the Arrow router.
SQL_ROUTER_LENIENT = {"context not an object", "user_id a number"}


def _mutations(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, mutated copy) pairs: each breaks or bends one rule of the catalog."""
    et = get_event_type(event["event_type"])
    out: list[tuple[str, dict[str, Any]]] = []

    def mutate(name: str, change: Any) -> None:
        copied = copy.deepcopy(event)
        change(copied)
        out.append((name, copied))

    mutate("extra top-level field", lambda e: e.update(debug=True))
    mutate("event_type not a string", lambda e: e.update(event_type=["game.paid"]))
    mutate("payload a list", lambda e: e.update(payload=[1, {"a": 2}]))
    mutate("context not an object", lambda e: e.update(context=[1]))
    mutate("user_id a number", lambda e: e.update(user_id=12))
    mutate("wrong schema version", lambda e: e.update(schema_version=99))
    mutate("event_id not a uuid", lambda e: e.update(event_id="abc"))
    mutate("naive event_time", lambda e: e.update(event_time="2026-11-24T09:00:00"))
    mutate("offset event_time", lambda e: e.update(event_time="2026-11-24T09:00:00-05:00"))
    mutate("user_id with a space", lambda e: e.update(user_id="a b"))
    mutate("missing user_id", lambda e: e.pop("user_id"))
    mutate("payload not an object", lambda e: e.update(payload="x"))
    mutate("extra payload field", lambda e: e["payload"].update(zzz=1))
    for field in et.fields:
        t = field.type
        mutate(f"missing {field.name}", lambda e, n=field.name: e["payload"].pop(n))
        if isinstance(t, Choice):
            mutate(f"{field.name} not a choice", lambda e, n=field.name: e["payload"].update({n: "nope"}))
        if isinstance(t, Integer) and t.le is not None:
            mutate(f"{field.name} too big", lambda e, n=field.name, v=t.le + 1: e["payload"].update({n: v}))
        if isinstance(t, Money):
            mutate(f"{field.name} too precise", lambda e, n=field.name: e["payload"].update({n: "1.1234567"}))
            mutate(f"{field.name} negative", lambda e, n=field.name: e["payload"].update({n: "-3.00"}))
            mutate(f"{field.name} as number", lambda e, n=field.name: e["payload"].update({n: 12.5}))
        if isinstance(t, Text):
            long_text = "a" * (t.max_length + 1)
            mutate(f"{field.name} too long", lambda e, n=field.name, v=long_text: e["payload"].update({n: v}))
    return out


def test_routing_agrees_with_the_catalog_adapter(spark: Any, router: Any) -> None:
    rng = random.Random(11)
    cases = []
    for et in EVENT_TYPES:
        event = published_event(et, rng, event_time=NOW - timedelta(minutes=5))
        cases.append(("valid", event))
        cases.extend(_mutations(event))
    values = [orjson.dumps(event) for _, event in cases]
    rows = route(spark, values, router)
    adapter = published_event_adapter()
    disagreements = []
    for (name, event), value, row in zip(cases, values, rows, strict=True):
        if router is route_events_sql and name in SQL_ROUTER_LENIENT:
            continue
        try:
            adapter.validate_json(value)
            accepted = True
        except pydantic.ValidationError:
            accepted = False
        if accepted != (row.error is None):
            disagreements.append(f"{event['event_type']} {name}: adapter={accepted} stream_error={row.error}")
    assert not disagreements, "\n".join(disagreements)
    assert sum(row.error is None for row in rows) >= len(EVENT_TYPES)


@pytest.mark.parametrize("offset_hours", [-5, 0, 9])
def test_partition_hour_is_utc_whatever_the_offset(spark: Any, router: Any, offset_hours: int) -> None:
    moment = datetime(2026, 11, 24, 22, 45, tzinfo=timezone(timedelta(hours=offset_hours)))
    event = published_event(EVENT_TYPES[0], random.Random(1), event_time=moment)
    (row,) = route(spark, [orjson.dumps(event)], router)
    utc = moment.astimezone(UTC)
    assert (row.event_date, row.event_hour) == (utc.strftime("%Y-%m-%d"), utc.hour)
