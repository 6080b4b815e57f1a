"""Published-event fixtures for tests and benchmarks of the stream, derived from the catalog."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from eventlake.catalog import EVENT_TYPES, EventType, example_payload


def published_event(et: EventType, rng: random.Random, *, event_time: datetime | None = None) -> dict[str, Any]:
    """One valid event as the producer publishes it (wire format of the catalog)."""
    moment = event_time or datetime.now(UTC)
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "event_type": et.event_type,
        "schema_version": et.version,
        "event_time": moment.isoformat(),
        "received_at": datetime.now(UTC).isoformat(),
        "user_id": f"player-{rng.randint(1, 500)}",
        "context": {"user_agent": "eventlake-tests/1", "client_host": "127.0.0.1"},
        "payload": example_payload(et, rng),
    }


MALFORMED_SAMPLES: tuple[bytes, ...] = (
    b'{"event_type": "game.item_purchased", "payload": {',
    b"not json at all",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b'{"event_type": "game.no_such_event", "event_id": "x"}',
)


def message_stream(count: int, *, malformed_every: int = 0, seed: int = 7) -> list[tuple[str, bytes, bytes]]:
    """``count`` (domain, key, value) messages over every event type; every ``malformed_every``-th is broken."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        et = EVENT_TYPES[i % len(EVENT_TYPES)]
        event = published_event(et, rng)
        value = orjson.dumps(event)
        if malformed_every and i % malformed_every == malformed_every - 1:
            value = MALFORMED_SAMPLES[i % len(MALFORMED_SAMPLES)]
        out.append((et.topic_name, event["user_id"].encode(), value))
    return out
