"""The producer API against an in-memory publisher: what is accepted, what is refused, what is published."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient

from eventlake.catalog import EVENT_TYPES, example_payload, published_event_adapter
from eventlake.kafka_publisher import MemoryPublisher
from eventlake.settings import EventlakeSettings
from producer_app import create_app
from producer_app.service import ApiError, ProducerService, parse_json

SWORD = {"item": "sword", "item_kind": "gold", "strength": 7, "price": "10.00"}


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def settings(tmp_path: Any) -> EventlakeSettings:
    return EventlakeSettings(home=tmp_path, producer_max_event_bytes=4096, producer_max_body_bytes=64 * 1024)


@pytest.fixture
def app(settings: EventlakeSettings, publisher: MemoryPublisher) -> Flask:
    return create_app(settings, publisher)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def published(publisher: MemoryPublisher) -> list[Any]:
    """What reached the broker, validated as the stream will validate it."""
    return [published_event_adapter().validate_json(message.value) for message in publisher.messages]


# --- accepted -------------------------------------------------------------------------------------
@pytest.mark.parametrize("et", EVENT_TYPES, ids=lambda et: et.event_type)
def test_every_event_type_is_accepted_on_its_endpoint_and_published_in_the_envelope(
    client: FlaskClient, publisher: MemoryPublisher, et: Any
) -> None:
    payload = example_payload(et)
    response = client.post(f"/v1/events/{et.event_type}", json={"user_id": "player-1", "payload": payload})

    assert response.status_code == 202, response.json
    [event] = published(publisher)
    assert response.json["event_ids"] == [str(event.event_id)]
    assert event.event_type == et.event_type
    assert event.schema_version == et.version
    assert event.user_id == "player-1"
    assert publisher.messages[0].key == b"player-1"
    assert publisher.messages[0].topic == f"eventlake.{et.domain}"
    assert uuid.UUID(str(event.event_id)).version == 7


def test_client_event_id_and_time_are_kept(client: FlaskClient, publisher: MemoryPublisher) -> None:
    event_id = str(uuid.uuid4())
    event_time = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    body = {"user_id": "u1", "event_id": event_id, "event_time": "2026-11-24T10:30:00+01:00", "payload": SWORD}

    assert client.post("/v1/events/game.item_purchased", json=body).status_code == 202

    [event] = published(publisher)
    assert str(event.event_id) == event_id
    assert event.event_time == event_time
    assert event.received_at >= event_time


def test_money_stays_exact_and_is_published_as_a_string(client: FlaskClient, publisher: MemoryPublisher) -> None:
    payload = {"account_id": "acc-1", "amount": 1234567890123.45, "currency": "EUR"}

    assert client.post("/v1/events/bank.deposited", json={"user_id": "u", "payload": payload}).status_code == 202

    raw = orjson.loads(publisher.messages[0].value)
    assert raw["payload"]["amount"] == "1234567890123.45"
    assert published(publisher)[0].payload.amount == Decimal("1234567890123.45")


def test_only_allow_listed_context_is_kept(client: FlaskClient, publisher: MemoryPublisher) -> None:
    headers = {
        "Authorization": "Bearer secret-token",
        "Cookie": "session=secret-cookie",
        "X-Forwarded-For": "6.6.6.6",
        "X-Api-Key": "secret-key",
        "User-Agent": "ab/2.3",
    }
    body = {"user_id": "u1", "payload": SWORD}
    assert client.post("/v1/events/game.item_purchased", json=body, headers=headers).status_code == 202

    raw = orjson.loads(publisher.messages[0].value)
    assert raw["context"] == {"user_agent": "ab/2.3", "client_host": "127.0.0.1"}
    assert b"secret" not in publisher.messages[0].value
    assert b"6.6.6.6" not in publisher.messages[0].value


def test_generic_endpoint_takes_the_type_from_the_body(client: FlaskClient, publisher: MemoryPublisher) -> None:
    body = {"event_type": "game.paid", "user_id": "u1", "payload": {"amount": "3.50"}}

    assert client.post("/v1/events", json=body).status_code == 202
    assert published(publisher)[0].event_type == "game.paid"


def test_batch_publishes_every_event_and_returns_their_ids(client: FlaskClient, publisher: MemoryPublisher) -> None:
    events = [
        {"event_type": et.event_type, "user_id": f"u{i}", "payload": example_payload(et)}
        for i, et in enumerate(EVENT_TYPES)
    ]

    response = client.post("/v1/batch", json={"events": events})

    assert response.status_code == 202
    assert [str(e.event_id) for e in published(publisher)] == response.json["event_ids"]
    assert [e.event_type for e in published(publisher)] == [et.event_type for et in EVENT_TYPES]


# --- compatibility routes -------------------------------------------------------------------------
def test_legacy_get_with_query_string(client: FlaskClient, publisher: MemoryPublisher) -> None:
    response = client.get("/purchase_a_sword?user_id=knight-7&item_kind=gold&strength=7&price=10")

    assert response.status_code == 202, response.json
    [event] = published(publisher)
    assert event.event_type == "game.item_purchased"
    assert event.user_id == "knight-7"
    assert event.payload.item == "sword"
    assert event.payload.strength == 7
    assert event.payload.price == Decimal("10")


def test_legacy_route_without_user_id_defaults_to_the_client_host(
    client: FlaskClient, publisher: MemoryPublisher
) -> None:
    assert client.get("/").status_code == 202
    [event] = published(publisher)
    assert event.event_type == "game.page_viewed"
    assert event.user_id == "anonymous@127.0.0.1"
    assert event.payload.page == "/"


@pytest.mark.parametrize(
    ("kwargs", "amount"),
    [
        ({"json": {"user_id": "u1", "account_id": "acc-9", "amount": "250.75", "currency": "EUR"}}, "250.75"),
        ({"data": {"user_id": "u1", "account_id": "acc-9", "amount": "250.75", "currency": "EUR"}}, "250.75"),
    ],
    ids=["json", "form"],
)
def test_legacy_post_deposit_with_json_or_form(
    client: FlaskClient, publisher: MemoryPublisher, kwargs: dict[str, Any], amount: str
) -> None:
    assert client.post("/deposit/", **kwargs).status_code == 202
    [event] = published(publisher)
    assert event.event_type == "bank.deposited"
    assert event.payload.amount == Decimal(amount)


def test_legacy_route_refuses_to_contradict_its_implied_value(client: FlaskClient, publisher: MemoryPublisher) -> None:
    response = client.get("/purchase_a_sword?user_id=u&item=axe&item_kind=gold&strength=7&price=10")

    assert response.status_code == 422
    assert response.json["details"][0]["field"] == "item"
    assert publisher.messages == []


def test_legacy_route_names_the_missing_field(client: FlaskClient, publisher: MemoryPublisher) -> None:
    response = client.get("/purchase_a_sword?user_id=u&item_kind=gold&price=10")

    assert response.status_code == 422
    assert {"field": "payload.strength", "problem": "Field required"} in response.json["details"]
    assert publisher.messages == []


# --- refused: nothing published, a clear JSON error ---------------------------------------------
def _typed(payload: Any = None, **envelope: Any) -> dict[str, Any]:
    return {"user_id": "u1", "payload": SWORD if payload is None else payload, **envelope}


BAD_JSON_BODIES = {
    "unknown_field": (422, "payload.colour", _typed({**SWORD, "colour": "red"})),
    "extra_envelope_field": (422, "headers", _typed(headers={"Authorization": "x"})),
    "missing_field": (422, "payload.price", _typed({k: v for k, v in SWORD.items() if k != "price"})),
    "missing_user_id": (422, "user_id", {"payload": SWORD}),
    "wrong_type_string_for_int": (422, "payload.strength", _typed({**SWORD, "strength": "7"})),
    "wrong_type_bool_for_int": (422, "payload.strength", _typed({**SWORD, "strength": True})),
    "wrong_type_float_for_int": (422, "payload.strength", _typed({**SWORD, "strength": 7.5})),
    "out_of_range_high": (422, "payload.strength", _typed({**SWORD, "strength": 11})),
    "out_of_range_negative": (422, "payload.strength", _typed({**SWORD, "strength": -1})),
    "negative_money": (422, "payload.price", _typed({**SWORD, "price": "-1.00"})),
    "too_many_decimals": (422, "payload.price", _typed({**SWORD, "price": "1.001"})),
    "huge_number": (422, "payload.price", _typed({**SWORD, "price": 10**30})),
    "huge_integer": (422, "payload.strength", _typed({**SWORD, "strength": 2**63})),
    "lossy_float_money": (422, "payload.price", _typed({**SWORD, "price": 1234567890.123456789})),
    "nan_string": (422, "payload.price", _typed({**SWORD, "price": "NaN"})),
    "infinity_string": (422, "payload.price", _typed({**SWORD, "price": "Infinity"})),
    "unknown_choice": (422, "payload.item_kind", _typed({**SWORD, "item_kind": "plutonium"})),
    "bad_user_id": (422, "user_id", _typed(user_id="a\r\nSet-Cookie: x=1")),
    "empty_user_id": (422, "user_id", _typed(user_id="")),
    "bad_event_id": (422, "event_id", _typed(event_id="not-a-uuid")),
    "naive_event_time": (422, "event_time", _typed(event_time="2026-11-24T10:00:00")),
    "far_future_event_time": (
        422,
        "event_time",
        _typed(event_time=(datetime.now(UTC) + timedelta(days=2)).isoformat()),
    ),
    "other_event_type": (422, "event_type", _typed(event_type="game.paid")),
    "array_body": (422, "(body)", [SWORD]),
    "null_payload": (422, "payload", _typed(payload=None) | {"payload": None}),
}


@pytest.mark.parametrize(("status", "field", "body"), BAD_JSON_BODIES.values(), ids=BAD_JSON_BODIES.keys())
def test_bad_json_input_is_refused_naming_the_field(
    client: FlaskClient, publisher: MemoryPublisher, status: int, field: str, body: Any
) -> None:
    response = client.post("/v1/events/game.item_purchased", data=json.dumps(body), content_type="application/json")

    assert response.status_code == status, response.json
    assert response.json["error"] == "invalid_event"
    assert field in [detail["field"] for detail in response.json["details"]]
    assert publisher.messages == []


BAD_RAW_BODIES = {
    "empty": (400, "empty_body", b"", "application/json"),
    "whitespace": (400, "empty_body", b"  \n", "application/json"),
    "not_json": (400, "invalid_json", b"user_id=u1", "application/json"),
    "trailing_garbage": (400, "invalid_json", b'{"user_id": "u1"} x', "application/json"),
    "nan_literal": (400, "invalid_json", b'{"user_id":"u","payload":{"price":NaN}}', "application/json"),
    "infinity_literal": (400, "invalid_json", b'{"user_id":"u","payload":{"price":Infinity}}', "application/json"),
    "overflowing_exponent": (400, "invalid_json", b'{"user_id":"u","payload":{"price":1e999}}', "application/json"),
    "deeply_nested": (400, "invalid_json", b"[" * 1500 + b"]" * 1500, "application/json"),
    "invalid_utf8": (400, "invalid_json", b'{"user_id": "\xff\xfe"}', "application/json"),
    "lone_surrogate": (400, "invalid_json", b'{"user_id": "\\ud800"}', "application/json"),
    "text_plain": (415, "unsupported_media_type", orjson.dumps(_typed()), "text/plain"),
    "form": (415, "unsupported_media_type", b"user_id=u1", "application/x-www-form-urlencoded"),
    "no_content_type": (415, "unsupported_media_type", orjson.dumps(_typed()), ""),
    "latin1_charset": (415, "unsupported_charset", orjson.dumps(_typed()), "application/json; charset=latin-1"),
    "oversize": (413, "body_too_large", orjson.dumps(_typed(user_id="u" * 10_000)), "application/json"),
}


@pytest.mark.parametrize(
    ("status", "error", "body", "content_type"), BAD_RAW_BODIES.values(), ids=BAD_RAW_BODIES.keys()
)
def test_malformed_requests_are_refused_with_a_json_error(
    client: FlaskClient, publisher: MemoryPublisher, status: int, error: str, body: bytes, content_type: str
) -> None:
    response = client.post("/v1/events/game.item_purchased", data=body, content_type=content_type)

    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.json["error"] == error
    assert response.json["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert publisher.messages == []


def test_unknown_event_type_is_404_on_its_endpoint_and_422_on_the_generic_one(
    client: FlaskClient, publisher: MemoryPublisher
) -> None:
    assert client.post("/v1/events/game.teleported", json=_typed()).json["error"] == "unknown_event_type"
    generic = client.post("/v1/events", json={**_typed(), "event_type": "game.teleported"})
    assert generic.status_code == 422
    assert generic.json["details"][0]["field"] == "event_type"
    assert publisher.messages == []


def test_unknown_route_and_wrong_method_answer_json(client: FlaskClient) -> None:
    assert client.get("/nope").json["error"] == "not_found"
    response = client.get("/v1/batch")
    assert response.status_code == 405
    assert response.mimetype == "application/json"


def test_body_over_the_global_limit_is_413(client: FlaskClient, publisher: MemoryPublisher) -> None:
    events = [{"event_type": "game.paid", "user_id": "u" * 60, "payload": {"amount": "1.00"}}] * 700
    response = client.post("/v1/batch", data=orjson.dumps({"events": events}), content_type="application/json")

    assert response.status_code == 413
    assert response.mimetype == "application/json"
    assert publisher.messages == []


def test_batch_over_the_event_limit_is_413(
    client: FlaskClient, publisher: MemoryPublisher, settings: EventlakeSettings
) -> None:
    events = [{"event_type": "game.paid", "user_id": "u", "payload": {"amount": "1"}}] * (
        settings.producer_max_batch_events + 1
    )
    response = client.post("/v1/batch", json={"events": events})

    assert response.status_code == 413
    assert response.json["error"] == "batch_too_large"
    assert publisher.messages == []


def test_batch_is_all_or_nothing_and_names_the_bad_item(client: FlaskClient, publisher: MemoryPublisher) -> None:
    good = {"event_type": "game.paid", "user_id": "u", "payload": {"amount": "1.00"}}
    bad = {"event_type": "game.paid", "user_id": "u", "payload": {"amount": "lots"}}

    response = client.post("/v1/batch", json={"events": [good, good, bad]})

    assert response.status_code == 422
    assert response.json["details"][0]["field"] == "events[2].payload.amount"
    assert publisher.messages == []


def test_batch_with_one_event_too_far_in_the_future_publishes_nothing(
    client: FlaskClient, publisher: MemoryPublisher
) -> None:
    good = {"event_type": "game.paid", "user_id": "u", "payload": {"amount": "1.00"}}
    future = {**good, "event_time": (datetime.now(UTC) + timedelta(days=2)).isoformat()}

    response = client.post("/v1/batch", json={"events": [good, future, good]})

    assert response.status_code == 422
    assert response.json["details"][0]["field"] == "event_time"
    assert publisher.messages == []


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
def test_an_event_time_with_no_utc_equivalent_is_refused_not_a_server_error(
    client: FlaskClient, publisher: MemoryPublisher, moment: str
) -> None:
    """Found by the fuzz test: the first minute of year 1 at a positive offset is before any UTC datetime."""
    event = {"user_id": "u", "event_time": moment, "payload": {"amount": "1.00"}}

    single = client.post("/v1/events/game.paid", json=event)
    batch = client.post("/v1/batch", json={"events": [{**event, "event_type": "game.paid"}]})

    for response in (single, batch):
        assert response.status_code == 422, response.json
        assert response.json["details"][0]["field"].endswith("event_time")
        assert "UTC" in response.json["details"][0]["problem"]
    assert publisher.messages == []


def test_batch_events_share_the_request_and_keep_what_the_client_chose(
    client: FlaskClient, publisher: MemoryPublisher
) -> None:
    chosen_id, chosen_time = "0190f3a0-0000-7000-8000-000000000001", "2026-11-24T10:00:00+02:00"
    plain = {"event_type": "game.paid", "user_id": "u", "payload": {"amount": "1.00"}}
    chosen = {**plain, "event_id": chosen_id, "event_time": chosen_time}

    response = client.post("/v1/batch", json={"events": [plain, chosen, plain]}, headers={"User-Agent": "ab/2.3"})

    assert response.status_code == 202
    raw = [orjson.loads(message.value) for message in publisher.messages]
    assert response.json["event_ids"][1] == chosen_id == raw[1]["event_id"]
    assert len(set(response.json["event_ids"])) == 3
    assert raw[1]["event_time"] == "2026-11-24T08:00:00Z"
    assert raw[0]["event_time"] == raw[0]["received_at"] == raw[1]["received_at"] == raw[2]["received_at"]
    assert all(event["context"] == {"user_agent": "ab/2.3", "client_host": "127.0.0.1"} for event in raw)


@pytest.mark.parametrize("body", [{"events": []}, {"events": "x"}, {"items": []}, []], ids=str)
def test_batch_shape_errors(client: FlaskClient, publisher: MemoryPublisher, body: Any) -> None:
    assert client.post("/v1/batch", json=body).status_code == 422
    assert publisher.messages == []


def test_header_injection_in_user_agent_never_reaches_the_event(
    client: FlaskClient, publisher: MemoryPublisher
) -> None:
    environ = {"HTTP_USER_AGENT": "evil\r\nX-Injected: 1\x00"}
    response = client.post("/v1/events/game.item_purchased", json=_typed(), environ_overrides=environ)

    assert response.status_code == 202
    assert "X-Injected" not in response.headers
    assert orjson.loads(publisher.messages[0].value)["context"]["user_agent"] == "evilX-Injected: 1"


def test_header_injection_in_a_query_value_is_refused(client: FlaskClient, publisher: MemoryPublisher) -> None:
    response = client.get("/declare_a_war?user_id=u%0d%0aSet-Cookie:%20a=b&enemy=Mordor")

    assert response.status_code == 422
    assert "Set-Cookie" not in response.headers
    assert publisher.messages == []


# --- broker down ----------------------------------------------------------------------------------
def test_broker_unavailable_is_503_with_retry_after_and_the_ids_to_retry(
    client: FlaskClient, publisher: MemoryPublisher
) -> None:
    publisher.unavailable = "no broker acknowledgement within 1.5 s"
    event_id = str(uuid.uuid4())

    response = client.post("/v1/events/game.item_purchased", json=_typed(event_id=event_id))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json["error"] == "broker_unavailable"
    assert response.json["event_ids"] == [event_id]
    assert client.get("/ready").status_code == 503
    assert client.get("/health").status_code == 200


def test_readiness_and_openapi(client: FlaskClient) -> None:
    assert client.get("/ready").json["status"] == "ready"
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.")
    assert "/v1/events/game.item_purchased" in document["paths"]
    assert "/purchase_a_sword" in document["paths"]


def test_generated_ids_are_uuid7_in_time_order() -> None:
    import time

    import uuid6

    from producer_app.service import uuid7s

    [first] = uuid7s(1)
    time.sleep(0.002)
    later = [uuid7s(1)[0] for _ in range(1000)]

    assert all(uuid6.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in [first, *later])
    assert all(first < i for i in later)
    assert len(set(later)) == len(later)
    assert abs(uuid6.UUID(first).time - time.time_ns() // 1_000_000) < 5_000


def test_a_batch_of_uuid7s_is_canonical_distinct_and_uses_every_random_bit() -> None:
    import uuid6

    from producer_app.service import uuid7s

    ids = uuid7s(2000)

    assert all(str(uuid.UUID(i)) == i for i in ids)  # lower-case, 8-4-4-4-12
    assert all(uuid6.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == len(ids)
    assert len({uuid6.UUID(i).time for i in ids}) == 1  # one clock reading for the lot
    # The 74 random bits vary: every variant digit and every hex digit at each random position occurs.
    assert {i[19] for i in ids} == set("89ab")
    for position in (15, 16, 17, 20, 21, 22, *range(24, 36)):
        assert {i[position] for i in ids} == set("0123456789abcdef"), position


# --- the batch body's one-pass validation agrees with the exact path ------------------------------
def _batch_outcome(call: Any) -> Any:
    try:
        return [request.model_dump() for request in call()]
    except ApiError as error:
        return error.status, error.body()


_PAID = b'{"event_type":"game.paid","user_id":"u","payload":{"amount":%s}}'
HOSTILE_BATCH_BODIES = [
    b'{"events": []}',
    b'{"events": "x"}',
    b'{"events": [], "more": 1}',
    b"[]",
    b"",
    b"{",
    b'{"events": [' + _PAID % b"NaN" + b"]}",
    b'{"events": [' + _PAID % b"1e400" + b"]}",
    b'{"events": [' + _PAID % b"123456789012345678901234567890" + b"]}",
    b'{"events": [' + _PAID % b"0.1000000000000000055" + b"]}",
    b'{"events": [' + _PAID % b'"1.00"' + b"," + _PAID % b'"lots"' + b"]}",
    b'{"events": [' + _PAID % b'"1.00"' + b"]} trailing",
    b'\xef\xbb\xbf{"events": [' + _PAID % b'"1.00"' + b"]}",
    b'{"events": [{"event_type":"game.paid","user_id":"u\xff","payload":{"amount":"1"}}]}',
    b'{"events": [{"event_type":"game.paid","user_id":"u\\ud800","payload":{"amount":"1"}}]}',
    b'{"events": [{"event_type":"game.nope","user_id":"u","payload":{}}]}',
    b'{"events": [{"event_type":"game.paid","user_id":"u","user_id":"v","payload":{"amount":"1"}}]}',
    b'{"events": [{"event_type":"game.paid","user_id":"u","event_time":1700000000,"payload":{"amount":"1"}}]}',
    b'{"events": ' + b"[" * 2000 + b"]" * 2000 + b"}",
]


@pytest.mark.parametrize("body", HOSTILE_BATCH_BODIES, ids=lambda body: body[:48].decode(errors="replace"))
def test_batch_body_validation_answers_exactly_as_parsing_then_validating(
    body: bytes, settings: EventlakeSettings
) -> None:
    service = ProducerService(settings, MemoryPublisher())

    def exact() -> Any:
        return service.validate_batch(parse_json(body))

    assert _batch_outcome(lambda: service.validate_batch_body(body)) == _batch_outcome(exact)


def test_valid_batches_of_every_type_take_the_one_pass_path_with_the_same_result(
    settings: EventlakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    events = [
        {"event_type": et.event_type, "user_id": f"p-{n}", "event_time": "2026-12-07T10:00:00+01:00",
         "payload": example_payload(et, rng)}
        for n in range(20) for et in EVENT_TYPES
    ]  # fmt: skip
    body = orjson.dumps({"events": events})
    service = ProducerService(settings, MemoryPublisher())
    expected = [request.model_dump() for request in service.validate_batch(parse_json(body))]
    monkeypatch.setattr("producer_app.service.parse_json", lambda _: pytest.fail("took the exact path"))

    assert [request.model_dump() for request in service.validate_batch_body(body)] == expected
