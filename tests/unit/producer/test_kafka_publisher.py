"""KafkaPublisher's promise with a scripted stand-in for confluent-kafka's Producer: 202 only on clean acks."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from eventlake.kafka_publisher import (
    BulkRoutingPublisher,
    KafkaPublisher,
    MemoryPublisher,
    OutgoingMessage,
    PublishUnavailableError,
)

MESSAGE = OutgoingMessage("eventlake.game", b"u1", b"{}")


class FakeError:
    def __init__(self, name: str, fatal: bool = False) -> None:
        self._name, self._fatal = name, fatal

    def name(self) -> str:
        return self._name

    def fatal(self) -> bool:
        return self._fatal

    def __str__(self) -> str:
        return self._name


class FakeProducer:
    """Acks (or fails) what was produced on the next poll, like librdkafka's delivery reports."""

    instances: list[FakeProducer] = []  # noqa: RUF012 - test bookkeeping

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.pending: list[Any] = []
        self.lock = threading.Lock()
        self.outcome: FakeError | None = None
        self.hold = False
        self.raise_on_poll: Exception | None = None
        FakeProducer.instances.append(self)

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Any) -> None:
        with self.lock:
            self.pending.append(on_delivery)

    def poll(self, timeout: float) -> int:
        if self.raise_on_poll is not None:
            error, self.raise_on_poll = self.raise_on_poll, None
            raise error
        if not self.hold:
            with self.lock:
                callbacks, self.pending = self.pending, []
            for callback in callbacks:
                callback(self.outcome, None)
        time.sleep(min(timeout, 0.01))
        return 0

    def purge(self) -> None:
        with self.lock:
            callbacks, self.pending = self.pending, []
        for callback in callbacks:
            callback(FakeError("_PURGE_QUEUE"), None)

    def flush(self, timeout: float) -> int:
        return len(self.pending)

    def list_topics(self, timeout: float) -> Any:
        raise RuntimeError("not used")


@pytest.fixture
def publisher(monkeypatch: pytest.MonkeyPatch) -> Any:
    FakeProducer.instances = []
    monkeypatch.setattr(KafkaPublisher, "_new_producer", lambda self: FakeProducer(self._config))
    monkeypatch.setattr("eventlake.kafka_publisher.PRODUCER_REPLACE_INTERVAL_SECONDS", 0.0)
    publisher = KafkaPublisher("127.0.0.1:1", delivery_timeout_seconds=1.0)
    yield publisher
    publisher.close(1.0)


def test_config_is_idempotent_acks_all_with_a_bounded_delivery_timeout(publisher: Any) -> None:
    config = FakeProducer.instances[0].config
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["message.timeout.ms"] == 1000


def test_returns_only_after_every_ack(publisher: Any) -> None:
    publisher.publish([MESSAGE] * 3, timeout=1.0)
    assert FakeProducer.instances[0].pending == []


def test_no_ack_in_time_is_unavailable(publisher: Any) -> None:
    FakeProducer.instances[0].hold = True
    started = time.monotonic()
    with pytest.raises(PublishUnavailableError, match="no broker acknowledgement"):
        publisher.publish([MESSAGE], timeout=0.2)
    assert time.monotonic() - started < 1.0


def test_a_failed_delivery_is_unavailable_even_if_others_were_acked(publisher: Any) -> None:
    FakeProducer.instances[0].outcome = FakeError("_MSG_TIMED_OUT")
    with pytest.raises(PublishUnavailableError, match="did not store"):
        publisher.publish([MESSAGE, MESSAGE], timeout=1.0)


def test_a_fatal_error_from_poll_does_not_kill_delivery_reports_and_the_producer_is_replaced(publisher: Any) -> None:
    first = FakeProducer.instances[0]
    first.raise_on_poll = RuntimeError("KafkaError{FATAL,code=OUT_OF_ORDER_SEQUENCE_NUMBER}")
    time.sleep(0.1)  # the poll thread hits it

    publisher.publish([MESSAGE], timeout=1.0)  # replaced, then served by the still-running poll thread

    assert len(FakeProducer.instances) == 2
    assert FakeProducer.instances[1].pending == []


def test_a_fenced_producer_is_replaced_after_its_failure(publisher: Any) -> None:
    FakeProducer.instances[0].outcome = FakeError("PRODUCER_FENCED")
    with pytest.raises(PublishUnavailableError):
        publisher.publish([MESSAGE], timeout=1.0)

    publisher.publish([MESSAGE], timeout=1.0)

    assert len(FakeProducer.instances) == 2


def test_local_queue_full_is_unavailable(publisher: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise BufferError("Local: Queue full")

    monkeypatch.setattr(FakeProducer.instances[0], "produce", full)
    with pytest.raises(PublishUnavailableError, match="queue is full"):
        publisher.publish([MESSAGE], timeout=1.0)


# --- the batch requests' producer beside the single events' one ---------------------------------------
def test_calls_of_many_messages_go_to_the_bulk_publisher_and_the_rest_to_the_single_one() -> None:
    single, bulk = MemoryPublisher(), MemoryPublisher()
    routing = BulkRoutingPublisher(single, bulk, bulk_from_messages=3)

    routing.publish([MESSAGE], timeout=1.0)
    routing.publish([MESSAGE] * 2, timeout=1.0)
    routing.publish([MESSAGE] * 3, timeout=1.0)

    assert len(single.messages) == 3
    assert len(bulk.messages) == 3


def test_the_routing_publisher_is_ready_only_when_both_are_and_says_which_is_not() -> None:
    single, bulk = MemoryPublisher(), MemoryPublisher()
    routing = BulkRoutingPublisher(single, bulk, bulk_from_messages=3)
    assert routing.ready(["t"], timeout=1.0) == (True, "ok")

    bulk.unavailable = "broker unreachable"
    assert routing.ready(["t"], timeout=1.0) == (False, "bulk publisher: broker unreachable")
    with pytest.raises(PublishUnavailableError):
        routing.publish([MESSAGE] * 3, timeout=1.0)
    routing.publish([MESSAGE], timeout=1.0)  # single events still go through


def test_the_routing_publisher_flushes_both_publishers_at_once_on_close() -> None:
    """Each close waits for the other to have started: one after the other, the barrier would break."""
    both_flushing = threading.Barrier(2, timeout=5)

    class Flushing(MemoryPublisher):
        def __init__(self, undelivered: int) -> None:
            super().__init__()
            self.undelivered = undelivered

        def close(self, timeout: float) -> int:
            both_flushing.wait()
            return self.undelivered

    routing = BulkRoutingPublisher(Flushing(1), Flushing(2), bulk_from_messages=3)
    assert routing.close(timeout=1.0) == 3


def test_the_producer_api_gets_a_lingering_bulk_producer_unless_it_is_turned_off(publisher: Any) -> None:
    from eventlake.settings import load_settings

    routing = BulkRoutingPublisher.from_settings(load_settings(producer_bulk_linger_ms=20, producer_bulk_from_events=7))
    try:
        assert isinstance(routing, BulkRoutingPublisher)
        assert routing.bulk_from_messages == 7
        single, bulk = FakeProducer.instances[-2:]
        assert (single.config["linger.ms"], bulk.config["linger.ms"]) == (2, 20)
        assert bulk.config["client.id"] == "eventlake-producer-bulk"
        # The embedded broker's idempotence loses retried batches after a kill -9 (settings.producer_idempotent).
        assert single.config["enable.idempotence"] is bulk.config["enable.idempotence"] is False
        assert bulk.config["acks"] == "all"
    finally:
        routing.close(1.0)

    alone = BulkRoutingPublisher.from_settings(load_settings(producer_bulk_linger_ms=0, producer_idempotence=True))
    try:
        assert isinstance(alone, KafkaPublisher)
        assert FakeProducer.instances[-1].config["enable.idempotence"] is True
    finally:
        alone.close(1.0)
