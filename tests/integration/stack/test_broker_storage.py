"""The real broker (Tansu) on the real object server: what it acknowledged survives kills of either."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlake.stack.testing import TansuBroker

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    broker = TansuBroker(tmp_path, storage="s3")
    broker.start_storage()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def create_topic(broker: TansuBroker, partitions: int = 1) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"durable-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(15)
    return topic


def produce(broker: TansuBroker, topic: str, values: list[str], *, idempotent: bool = True) -> list[tuple[int, int]]:
    """Send values with acks=all; return the (partition, offset) of every acknowledged one."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "enable.idempotence": idempotent,
            "acks": "all",
            "linger.ms": 2,
            "max.in.flight.requests.per.connection": 1,
        }
    )
    acked: list[tuple[int, int]] = []

    def delivered(error: object, message: object) -> None:
        assert error is None, error
        acked.append((message.partition(), message.offset()))  # type: ignore[attr-defined]

    for n, value in enumerate(values):
        producer.produce(topic, value.encode(), key=str(n % 11).encode(), on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(60) == 0
    return acked


def read_all(broker: TansuBroker, topic: str, partitions: int, expected: int) -> list[tuple[int, int, str]]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "t", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen: list[tuple[int, int, str]] = []
    deadline = time.monotonic() + 60
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                if message.error() is None:
                    seen.append((message.partition(), message.offset(), message.value().decode()))
    finally:
        consumer.close()
    return seen


def test_offsets_continue_after_the_broker_is_killed_and_nothing_acknowledged_is_overwritten(
    broker: TansuBroker,
) -> None:
    topic = create_topic(broker)
    before = produce(broker, topic, [f"before-{n}" for n in range(2_000)])
    broker.kill()
    broker.start()
    # Produce first, read later: the order that made the broker re-create its offsets at 0 on s3rver.
    after = produce(broker, topic, [f"after-{n}" for n in range(2_000)])
    assert min(offset for _, offset in after) == max(offset for _, offset in before) + 1
    values = [value for *_, value in read_all(broker, topic, 1, 4_000)]
    assert sorted(values) == sorted([f"before-{n}" for n in range(2_000)] + [f"after-{n}" for n in range(2_000)])


def test_acknowledged_messages_survive_a_kill_of_the_storage_server(broker: TansuBroker) -> None:
    topic = create_topic(broker, partitions=3)
    first = produce(broker, topic, [f"first-{n}" for n in range(3_000)])
    broker.kill_storage()
    broker.kill()
    broker.start_storage()
    broker.start()
    second = produce(broker, topic, [f"second-{n}" for n in range(3_000)])
    assert len(set(first + second)) == 6_000, "an offset was handed out twice"
    values = read_all(broker, topic, 3, 6_000)
    assert len(values) == 6_000
    assert {value for *_, value in values} == {f"first-{n}" for n in range(3_000)} | {
        f"second-{n}" for n in range(3_000)
    }


def test_concurrent_idempotent_producers_all_succeed(broker: TansuBroker) -> None:
    """Tansu keeps producer sequences in one shared object: conditional writes keep them consistent."""
    topic = create_topic(broker, partitions=3)
    results: dict[int, list[tuple[int, int]]] = {}

    def run(writer: int) -> None:
        results[writer] = produce(broker, topic, [f"w{writer}-{n}" for n in range(2_500)])

    threads = [threading.Thread(target=run, args=(writer,)) for writer in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(len(acked) for acked in results.values()) == [2_500] * 4
    assert len({position for acked in results.values() for position in acked}) == 10_000
    assert len(read_all(broker, topic, 3, 10_000)) == 10_000


def test_nothing_acknowledged_is_lost_while_the_broker_is_killed_under_load(broker: TansuBroker) -> None:
    """The embedded stack's producers (not idempotent against Tansu, see eventlake.stack.kill_drill) under
    five kill -9 of the broker: every acknowledged message is in the log at the offset of its ack.

    A retried batch may be stored twice (the stream lands both, compaction keeps one by event_id)."""
    from eventlake.settings import EventlakeSettings
    from eventlake.stack.kill_drill import produce_through_kills

    assert EventlakeSettings(profile="embedded").producer_idempotent is False
    topic = create_topic(broker, partitions=3)
    result = produce_through_kills(broker, topic, partitions=3, idempotence=False, kills=5, writers=4)
    print(result.line())
    assert result.acknowledged > 20_000
    at_kills = result.acknowledged_at_kills
    assert at_kills[0] < at_kills[-1] < result.acknowledged, f"the load did not span the kills: {at_kills}"
    assert result.lost == [], f"{len(result.lost)} acknowledged messages lost, e.g. {result.lost[:5]}"
    assert result.misplaced == [], f"{len(result.misplaced)} acknowledged at another offset: {result.misplaced[:5]}"
