"""Fixtures of the stream's tests and benchmarks: catalog-derived messages, producing, reading the lake back."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow.dataset as ds

from eventlake.catalog import EVENT_TYPES, EventType, example_payload

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eventlake.settings import EventlakeSettings


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
    rng = random.Random(seed)  # noqa: S311 - reproducible fixtures, not secrets
    out = []
    for i in range(count):
        et = EVENT_TYPES[i % len(EVENT_TYPES)]
        event = published_event(et, rng)
        value = orjson.dumps(event)
        if malformed_every and i % malformed_every == malformed_every - 1:
            value = MALFORMED_SAMPLES[i % len(MALFORMED_SAMPLES)]
        out.append((et.topic_name, event["user_id"].encode(), value))
    return out


Key = tuple[str, int, int]


def produce(
    settings: EventlakeSettings, count: int, *, malformed_every: int = 100, seed: int = 7
) -> tuple[set[Key], set[Key]]:
    """Produce ``count`` messages in large record batches; (valid, malformed) (topic, partition, offset) sets."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "enable.idempotence": settings.producer_idempotent,
            "acks": "all",
            "linger.ms": 50,
            "batch.num.messages": 10_000,
            "compression.type": "zstd",
            "queue.buffering.max.messages": 2_000_000,
        }
    )
    valid: set[Key] = set()
    malformed: set[Key] = set()
    errors: list[Any] = []

    def delivered(error: Any, message: Any) -> None:
        if error is not None:
            errors.append(error)
            return
        key = (message.topic(), message.partition(), message.offset())
        (malformed if message.value() in MALFORMED_SAMPLES else valid).add(key)

    for i, (domain, key, value) in enumerate(message_stream(count, malformed_every=malformed_every, seed=seed)):
        producer.produce(settings.topic(domain), value=value, key=key, on_delivery=delivered)
        if i % 5_000 == 0:
            producer.poll(0)
    producer.flush(60)
    assert not errors, errors[:3]
    assert len(valid) + len(malformed) == count
    return valid, malformed


def produce_malformed(
    settings: EventlakeSettings, count: int, *, seed: int = 7, samples: Sequence[bytes] = MALFORMED_SAMPLES
) -> set[Key]:
    """``count`` malformed messages (cycling through ``samples``) straight onto the event topics, which no
    producer API would take; their (topic, partition, offset)."""
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": settings.producer_idempotent}
    )
    rng = random.Random(seed)  # noqa: S311 - reproducible fixtures, not secrets
    topics = sorted({settings.topic(et.topic_name) for et in EVENT_TYPES})
    delivered: set[Key] = set()
    errors: list[Any] = []

    def on_delivery(error: Any, message: Any) -> None:
        if error is not None:
            errors.append(error)
        else:
            delivered.add((message.topic(), message.partition(), message.offset()))

    for n in range(count):
        value = samples[n % len(samples)]
        producer.produce(rng.choice(topics), key=f"bad-{n}".encode(), value=value, on_delivery=on_delivery)
        producer.poll(0)
    left = producer.flush(60)
    assert not errors, errors[:3]
    assert left == 0, f"{left} messages not delivered"
    return delivered


def _keys(root: Path, partitioning: str | None) -> list[Key]:
    if not root.exists():
        return []
    table = ds.dataset(str(root), format="parquet", partitioning=partitioning).to_table(
        columns=["kafka_topic", "kafka_partition", "kafka_offset"]
    )
    return list(
        zip(
            table["kafka_topic"].to_pylist(),
            table["kafka_partition"].to_pylist(),
            table["kafka_offset"].to_pylist(),
            strict=True,
        )
    )


def landed_keys(settings: EventlakeSettings) -> list[Key]:
    """Every (topic, partition, offset) in visible landing files, duplicates included."""
    return _keys(Path(settings.landing_uri.removeprefix("file://")), "hive")


def quarantined_keys(settings: EventlakeSettings) -> list[Key]:
    return _keys(Path(settings.quarantine_uri.removeprefix("file://")), "hive")
