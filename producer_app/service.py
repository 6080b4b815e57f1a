"""The producer's core, free of Flask: validate a request, wrap it in the envelope, publish, and the errors."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from eventlake.catalog import EventType, event_types, request_model
from eventlake.catalog.derive import payload_from_text, tagged_batch_adapter, tagged_request_adapter
from eventlake.kafka_publisher import OutgoingMessage, Publisher, PublishUnavailableError
from eventlake.settings import EventlakeSettings

MAX_ERROR_DETAILS = 50
USER_AGENT_MAX = 256
_NOT_USER_ID_CHARS = re.compile(r"[^A-Za-z0-9_.@:-]")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
ENVELOPE_KEYS = ("user_id", "event_id", "event_time")


class ApiError(Exception):
    """An answer other than 202: status, machine code, human message, and which field broke how."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        details: Sequence[dict[str, str]] = (),
        headers: dict[str, str] | None = None,
        event_ids: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = list(details)
        self.headers = headers or {}
        self.event_ids = list(event_ids)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.details:
            out["details"] = self.details
        if self.event_ids:
            out["event_ids"] = self.event_ids
        return out


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """The allow-listed part of an HTTP request, and when it arrived. Nothing else is kept."""

    user_agent: str | None
    client_host: str | None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_headers(cls, user_agent: str | None, client_host: str | None) -> RequestInfo:
        if user_agent is not None:
            # Control characters never reach an event, whatever the HTTP layer let through.
            user_agent = _CONTROL_CHARS.sub("", user_agent)[:USER_AGENT_MAX] or None
        return cls(user_agent=user_agent, client_host=(client_host or None) and client_host[:64])

    def default_user_id(self) -> str:
        """Who an event is from when the original pipelines' requests do not say: the client host."""
        return _NOT_USER_ID_CHARS.sub("_", f"anonymous@{self.client_host}" if self.client_host else "anonymous")


def uuid7s(count: int) -> list[str]:
    """``count`` new UUIDv7s (RFC 9562: 48-bit Unix ms, version 7, variant, 74 random bits), formatted.

    One clock reading and one ``urandom`` call for the lot: a batch's ids share their millisecond, and
    their random bits keep them unique (RFC 9562 does not require order within a millisecond).
    """
    millis = (time.time_ns() // 1_000_000).to_bytes(6, "big")
    random_bytes = os.urandom(10 * count)
    ids = []
    for start in range(0, 10 * count, 10):
        rand = random_bytes[start : start + 10]
        # Byte 6: version 7 over 4 random bits; byte 8: variant 0b10 over 6 random bits.
        text = (millis + bytes((0x70 | rand[0] & 0x0F, rand[1], 0x80 | rand[2] & 0x3F)) + rand[3:]).hex()
        ids.append(f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}")
    return ids


def uuid7() -> str:
    """A new UUIDv7 (see :func:`uuid7s`)."""
    return uuid7s(1)[0]


def parse_json(body: bytes) -> Any:
    """The body as JSON (strict: no NaN/Infinity, valid UTF-8 without lone surrogates, depth <= 1024)."""
    if not body.strip():
        raise ApiError(400, "empty_body", "the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None


def _field_path(loc: Sequence[int | str], prefix: str) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("game.", "bank.", "market.")):
            continue  # the union member pydantic tried: the client's event_type, not a field
        else:
            path = f"{path}.{part}" if path else part
    return path or "(body)"


def _problem(err: Any) -> str:
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "missing or unknown event_type; the known ones are listed in /openapi.json"
    return str(err["msg"])


def validation_details(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Which field broke how, never echoing the input (it may be huge or hostile)."""
    return [
        {
            "field": _field_path(
                (*err["loc"], "event_type") if err["type"].startswith("union_tag") else err["loc"], prefix
            ),
            "problem": _problem(err),
        }
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def invalid_event(details: list[dict[str, str]]) -> ApiError:
    first = details[0] if details else {"field": "(body)", "problem": "invalid"}
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return ApiError(
        422, "invalid_event", f"{first['field']}: {first['problem']}{more}", details=details[:MAX_ERROR_DETAILS]
    )


class ProducerService:
    """Validates requests, builds published events and publishes them through the injected publisher."""

    def __init__(self, settings: EventlakeSettings, publisher: Publisher) -> None:
        self.settings = settings
        self.publisher = publisher
        self.ack_timeout = settings.producer_ack_timeout_seconds
        self.max_future_skew = timedelta(seconds=settings.producer_max_future_skew_seconds)
        self.max_batch_events = settings.producer_max_batch_events
        self.topics = {et.event_type: settings.topic(et.topic_name) for et in event_types()}
        # Validators are built once per process: here, before the worker settles its heap, not on its first requests.
        tagged_request_adapter()
        tagged_batch_adapter()

    # --- validation ------------------------------------------------------------------------------
    def validate_typed(self, et: EventType, document: Any) -> BaseModel:
        """One event of a known type (its own endpoint)."""
        try:
            return request_model(et).model_validate(document)
        except ValidationError as exc:
            raise invalid_event(validation_details(exc)) from None

    def validate_tagged(self, document: Any, prefix: str = "") -> BaseModel:
        """One event whose type is in its ``event_type`` field."""
        try:
            return tagged_request_adapter().validate_python(document)  # type: ignore[no-any-return]
        except ValidationError as exc:
            raise invalid_event(validation_details(exc, prefix)) from None

    def validate_batch(self, document: Any) -> list[BaseModel]:
        if not isinstance(document, dict) or set(document) != {"events"} or not isinstance(document["events"], list):
            raise invalid_event([{"field": "events", "problem": "send an object with one key, events: a list"}])
        items = document["events"]
        if not items:
            raise invalid_event([{"field": "events", "problem": "the batch is empty"}])
        if len(items) > self.max_batch_events:
            raise ApiError(413, "batch_too_large", f"{len(items)} events in one batch; at most {self.max_batch_events}")
        try:
            # One call validates the whole batch (the per-event loop cost as much as the validation).
            return tagged_batch_adapter().validate_python(items)  # type: ignore[no-any-return]
        except ValidationError as exc:
            raise invalid_event(validation_details(exc, "events")[:MAX_ERROR_DETAILS]) from None

    def validate_legacy(
        self, et: EventType, implied: dict[str, Any], values: dict[str, Any], info: RequestInfo
    ) -> BaseModel:
        """An event of the original pipelines: flat query/form/JSON values, user id defaulted."""
        envelope = {key: values.pop(key) for key in ENVELOPE_KEYS if key in values}
        envelope.setdefault("user_id", info.default_user_id())
        for name, value in implied.items():
            if name in values and values[name] != value:
                raise invalid_event([{"field": name, "problem": f"this route records {name}={value!r} only"}])
        payload = payload_from_text(et, values) | dict(implied)
        return self.validate_typed(et, {**envelope, "payload": payload})

    # --- envelope and publishing ------------------------------------------------------------------
    def build(
        self, et: EventType, req: Any, info: RequestInfo, new_id: str | None = None
    ) -> tuple[str, OutgoingMessage]:
        """The published event (envelope + payload) of a validated request, as a Kafka message.

        ``new_id`` is the event id to give it if the client sent none (a fresh UUIDv7 by default).
        """
        event_id = str(req.event_id) if req.event_id is not None else (new_id or uuid7())
        received_at = info.received_at
        event_time = req.event_time.astimezone(UTC) if req.event_time is not None else received_at
        if event_time - received_at > self.max_future_skew:
            raise invalid_event(
                [
                    {
                        "field": "event_time",
                        "problem": f"more than {self.max_future_skew.total_seconds():g} s in the future",
                    }
                ]
            )
        event_type = et.event_type
        document = {
            "event_id": event_id,
            "event_type": event_type,
            "schema_version": et.version,
            "event_time": event_time,
            "received_at": received_at,
            "user_id": req.user_id,
            "context": {"user_agent": info.user_agent, "client_host": info.client_host},
            "payload": req.payload.__pydantic_serializer__.to_python(req.payload, mode="json"),
        }
        value = orjson.dumps(document, option=orjson.OPT_UTC_Z)
        return event_id, OutgoingMessage(self.topics[event_type], req.user_id.encode(), value)

    def publish(self, events: Sequence[tuple[EventType, Any]], info: RequestInfo) -> list[str]:
        """Publish validated requests; return their ids once the broker acknowledged all of them."""
        new_ids = uuid7s(len(events))
        built = [self.build(et, req, info, new_id) for (et, req), new_id in zip(events, new_ids, strict=True)]
        event_ids = [event_id for event_id, _ in built]
        try:
            self.publisher.publish([message for _, message in built], timeout=self.ack_timeout)
        except PublishUnavailableError as exc:
            raise ApiError(
                503,
                "broker_unavailable",
                f"not stored: {exc.reason}; retry with the same event_ids",
                headers={"Retry-After": str(exc.retry_after_seconds)},
                event_ids=event_ids,
            ) from None
        return event_ids
