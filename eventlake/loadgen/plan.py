"""What the load generator sends: seeded, skewed users in sessions, every event type, retries, bad input."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
import uuid6

from eventlake.catalog import EVENT_TYPES, EventType, example_payload

Kind = Literal["valid", "retry", "malformed"]

#: Relative frequency of each event type: browsing dominates, money moves less often.
DEFAULT_WEIGHTS: dict[str, float] = {
    "game.page_viewed": 30,
    "game.item_purchased": 12,
    "game.guild_joined": 4,
    "game.guild_quit": 2,
    "game.war_declared": 2,
    "game.peace_declared": 1.5,
    "game.paid": 6,
    "bank.account_opened": 2,
    "bank.account_closed": 0.5,
    "bank.deposited": 8,
    "bank.withdrawn": 6,
    "bank.asset_bought": 4,
    "bank.asset_sold": 3,
    "bank.asset_prices_viewed": 10,
    "bank.account_viewed": 6,
    "market.price_tick": 3,
}
MALFORMED_KINDS = ("invalid_value", "missing_field", "extra_field", "not_json", "wrong_content_type", "bad_user_id")


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One HTTP request to make, and what the generator expects of it."""

    kind: Kind
    path: str
    body: bytes
    content_type: str = "application/json"
    event_type: str | None = None
    event_id: str | None = None
    user_id: str | None = None
    payload: dict[str, Any] | None = None
    event_time: str | None = None
    malformed: str | None = None

    @property
    def expect_accepted(self) -> bool:
        return self.kind != "malformed"


@dataclass
class LoadPlan:
    """An endless, seeded stream of requests: sessions of zipf-skewed users, retries and malformed ones."""

    seed: int = 42
    users: int = 500
    zipf_exponent: float = 1.1
    mean_session_events: float = 8.0
    retry_share: float = 0.01
    malformed_share: float = 0.0
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - a seeded simulation, not security
        self._user_weights = [1.0 / (rank**self.zipf_exponent) for rank in range(1, self.users + 1)]
        by_name = {et.event_type: et for et in EVENT_TYPES}
        self._types = [by_name[name] for name in self.weights]
        self._type_weights = list(self.weights.values())
        self._recent: list[PlannedRequest] = []

    def _user(self) -> str:
        rank = self._rng.choices(range(self.users), weights=self._user_weights)[0]
        return f"user-{rank:05d}"

    def _event(self, et: EventType, user_id: str, now: datetime) -> PlannedRequest:
        payload = example_payload(et, self._rng)
        if et.event_type == "market.price_tick":
            payload["quote_time"] = now.isoformat()
        event_id = str(uuid6.uuid7())
        event_time = now.isoformat()
        body = {"user_id": user_id, "event_id": event_id, "event_time": event_time, "payload": payload}
        return PlannedRequest(
            kind="valid",
            path=f"/v1/events/{et.event_type}",
            body=orjson.dumps(body),
            event_type=et.event_type,
            event_id=event_id,
            user_id=user_id,
            payload=payload,
            event_time=event_time,
        )

    def _malformed(self, et: EventType, user_id: str) -> PlannedRequest:
        kind = self._rng.choice(MALFORMED_KINDS)
        payload = example_payload(et, self._rng)
        body: Any = {"user_id": user_id, "payload": payload}
        content_type = "application/json"
        if kind == "invalid_value":
            body = {"user_id": user_id, "payload": {**payload, et.fields[0].name: "\u0000" * 500}}
        elif kind == "missing_field":
            body = {"user_id": user_id, "payload": {k: v for k, v in payload.items() if k != et.fields[-1].name}}
        elif kind == "extra_field":
            body = {"user_id": user_id, "payload": payload, "cookie": "session=1"}
        elif kind == "bad_user_id":
            body = {"user_id": "not a valid id\r\n", "payload": payload}
        raw = orjson.dumps(body)
        if kind == "not_json":
            raw = raw[: len(raw) // 2]
        elif kind == "wrong_content_type":
            content_type = "text/plain"
        return PlannedRequest(
            kind="malformed", path=f"/v1/events/{et.event_type}", body=raw, content_type=content_type, malformed=kind
        )

    def requests(self, clock: Any) -> Iterator[PlannedRequest]:
        """Requests forever; ``clock()`` gives the client's current time (the event_time of what is sent)."""
        rng = self._rng
        while True:
            user_id = self._user()
            for _ in range(max(1, round(rng.expovariate(1.0 / self.mean_session_events)))):
                roll = rng.random()
                if roll < self.retry_share and self._recent:
                    original = rng.choice(self._recent)
                    yield PlannedRequest(**{**_fields(original), "kind": "retry"})
                    continue
                et = rng.choices(self._types, weights=self._type_weights)[0]
                if roll < self.retry_share + self.malformed_share:
                    yield self._malformed(et, user_id)
                    continue
                planned = self._event(et, user_id, clock())
                self._recent = [*self._recent[-99:], planned]
                yield planned


def _fields(request: PlannedRequest) -> dict[str, Any]:
    return {name: getattr(request, name) for name in PlannedRequest.__slots__}
