"""The shared Kafka publisher: publish messages and return only once the broker has acknowledged them.

Used by the producer API (one publisher per gunicorn worker, shared by its threads), the load
generator and DAG tasks. The contract is the :class:`Publisher` protocol; :class:`KafkaPublisher` is the
confluent-kafka implementation (idempotent, ``acks=all``, every delivery report checked) and
:class:`MemoryPublisher` an in-process one for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from eventlake.settings import EventlakeSettings

log = logging.getLogger(__name__)


class OutgoingMessage(NamedTuple):
    """One record for the broker: the key (user id) keeps one user's events in order.

    A tuple: the producer API builds one per event on its hot path (5x cheaper than a frozen dataclass).
    """

    topic: str
    key: bytes
    value: bytes


class PublishUnavailableError(Exception):
    """The broker did not acknowledge in time, refused, or the local queue is full: retry later."""

    def __init__(self, reason: str, retry_after_seconds: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_seconds = retry_after_seconds


class Publisher(Protocol):
    """Publishes messages and returns only after the broker stored every one of them."""

    def publish(self, messages: Sequence[OutgoingMessage], timeout: float) -> None:
        """Publish and wait for the acks; raise :class:`PublishUnavailableError` if any is missing."""
        ...

    def ready(self, topics: Sequence[str], timeout: float) -> tuple[bool, str]:
        """Whether the broker answers and the topics exist, with a reason when not."""
        ...

    def close(self, timeout: float) -> int:
        """Flush what is buffered and stop; return how many messages were still undelivered."""
        ...


def producer_config(
    bootstrap_servers: str,
    *,
    delivery_timeout_ms: int,
    client_id: str,
    idempotence: bool = True,
    linger_ms: float = 2,
) -> dict[str, Any]:
    """librdkafka configuration of a publisher that never reports a message it did not see acked.

    Without idempotence (for brokers whose idempotence is broken), ``acks=all`` still means stored,
    one request in flight still keeps each key's order, and a retried duplicate carries the same
    event_id for downstream dedup.
    """
    return {
        "bootstrap.servers": bootstrap_servers,
        "client.id": client_id,
        "enable.idempotence": idempotence,
        "acks": "all",
        # A message not acked by then fails (and its request already answered 503): bounded buffering
        # while the broker is down instead of a queue of stale events delivered minutes later.
        "message.timeout.ms": delivery_timeout_ms,
        # How long a broker batch waits for more messages: a few ms keeps a single event's answer fast.
        "linger.ms": linger_ms,
        # One request in flight per broker: ordered on the wire, and Tansu on s3 storage answered
        # concurrent requests of one producer id with OUT_OF_ORDER_SEQUENCE (fatal) under load.
        "max.in.flight.requests.per.connection": 1,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 200_000,
        "queue.buffering.max.kbytes": 256 * 1024,
        "compression.type": "zstd",
        "socket.keepalive.enable": True,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
        "topic.metadata.refresh.interval.ms": 30_000,
    }


#: Delivery errors after which the producer's id or epoch is no good any more (e.g. the broker
#: restarted and fences it): the next publish starts a new producer.
_REPLACE_ON = frozenset(
    {"_MSG_TIMED_OUT", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH", "UNKNOWN_PRODUCER_ID",
     "OUT_OF_ORDER_SEQUENCE_NUMBER", "_FENCED", "_FATAL"}
)  # fmt: skip
PRODUCER_REPLACE_INTERVAL_SECONDS = 2.0


def _needs_new_producer(error: Any) -> bool:
    name = error.name() if hasattr(error, "name") else str(error)
    return bool(getattr(error, "fatal", lambda: False)()) or name in _REPLACE_ON


@dataclass(slots=True)
class _Delivery:
    """Waits for the delivery reports of one publish call (several messages, one event)."""

    pending: int
    on_error: Any
    done: threading.Event = field(default_factory=threading.Event)
    errors: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, err: Any, _msg: Any) -> None:
        with self.lock:
            if err is not None:
                self.errors.append(err)
                self.on_error(err)
            self.pending -= 1
            finished = self.pending <= 0
        if finished:
            self.done.set()


class KafkaPublisher:
    """confluent-kafka publisher: one producer, a background thread serving delivery reports."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        delivery_timeout_seconds: float = 3.0,
        client_id: str = "eventlake-producer",
        idempotence: bool = True,
        linger_ms: float = 2,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self._config = producer_config(
            bootstrap_servers,
            delivery_timeout_ms=max(1000, int(delivery_timeout_seconds * 1000)),
            client_id=client_id,
            idempotence=idempotence,
            linger_ms=linger_ms,
        )
        self._config.update(extra_config or {})
        self._config["error_cb"] = self._on_error
        self._lock = threading.Lock()
        self._fatal: str | None = None
        self._replaced_at = 0.0
        self._producer = self._new_producer()
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll_forever, name="kafka-delivery-reports", daemon=True)
        self._poller.start()

    @classmethod
    def from_settings(
        cls, settings: EventlakeSettings, *, client_id: str = "eventlake-producer", linger_ms: float = 2
    ) -> KafkaPublisher:
        return cls(
            settings.kafka_bootstrap_servers,
            delivery_timeout_seconds=settings.producer_ack_timeout_seconds + 1.0,
            client_id=client_id,
            idempotence=settings.producer_idempotent,
            linger_ms=linger_ms,
        )

    def _new_producer(self) -> Any:
        from confluent_kafka import Producer

        return Producer(self._config)

    def _on_error(self, err: Any) -> None:
        # Fatal errors (e.g. the broker forgot our producer id after a restart) leave the idempotent
        # producer unusable: the next publish replaces it. Transient errors are retried by librdkafka.
        if err.fatal():
            log.error("kafka producer fatal error: %s", err)
            self._fatal = str(err)
        else:
            log.warning("kafka producer error: %s", err)

    def _on_delivery_error(self, error: Any) -> None:
        # Runs on the poll thread, inside poll(): only flag it, the next publish replaces the producer.
        if _needs_new_producer(error):
            self._fatal = f"delivery failed: {error}"

    def _poll_forever(self) -> None:
        while not self._closed.is_set():
            try:
                self._producer.poll(0.05)
            except Exception as exc:  # a fatal KafkaException surfaces from poll(): flag it, keep serving
                log.error("kafka producer poll failed: %s", exc)
                self._fatal = str(exc)
                time.sleep(0.05)

    def _current_producer(self) -> Any:
        if self._fatal is not None:
            self._replace_producer(self._fatal)
        return self._producer

    def _replace_producer(self, reason: str) -> None:
        """Start over with a new producer id (after a fatal error, a fenced epoch, a broker restart)."""
        with self._lock:
            now = time.monotonic()
            if now - self._replaced_at < PRODUCER_REPLACE_INTERVAL_SECONDS:
                return  # the flag stays: a publish after the interval replaces it
            log.warning("replacing the kafka producer: %s", reason)
            old, self._producer = self._producer, self._new_producer()
            self._replaced_at = now
            self._fatal = None
        # Its undelivered messages all fail (their requests answer 503): serve those reports, then drop it.
        try:
            old.purge()
            old.poll(0)
        except Exception as exc:  # a fatal producer may raise its error again
            log.warning("purging the replaced kafka producer: %s", exc)

    def publish(self, messages: Sequence[OutgoingMessage], timeout: float) -> None:
        if not messages:
            return
        if self._closed.is_set():
            raise PublishUnavailableError("publisher is shut down", retry_after_seconds=5)
        producer = self._current_producer()
        delivery = _Delivery(pending=len(messages), on_error=self._on_delivery_error)
        produced = 0
        try:
            for message in messages:
                producer.produce(message.topic, message.value, message.key, on_delivery=delivery.report)
                produced += 1
        except BufferError:
            self._abandon(delivery, len(messages) - produced)
            raise PublishUnavailableError("local producer queue is full") from None
        except Exception as exc:  # KafkaException: fatal state or unknown topic, never a stack trace to clients
            self._abandon(delivery, len(messages) - produced)
            if _needs_new_producer(exc.args[0] if exc.args else exc):
                self._fatal = f"produce failed: {exc}"
            raise PublishUnavailableError(f"broker refused the message: {exc}") from None
        if not delivery.done.wait(timeout):
            raise PublishUnavailableError(f"no broker acknowledgement within {timeout:g} s")
        if delivery.errors:
            error = delivery.errors[0]
            raise PublishUnavailableError(f"broker did not store the message: {error}")

    @staticmethod
    def _abandon(delivery: _Delivery, never_produced: int) -> None:
        with delivery.lock:
            delivery.pending -= never_produced

    def ready(self, topics: Sequence[str], timeout: float) -> tuple[bool, str]:
        try:
            metadata = self._current_producer().list_topics(timeout=timeout)
        except Exception as exc:  # KafkaException when no broker answers
            return False, f"broker unreachable: {exc}"
        missing = sorted(set(topics) - set(metadata.topics))
        if missing:
            return False, f"missing topics: {', '.join(missing)}"
        return True, "ok"

    def close(self, timeout: float = 10.0) -> int:
        if self._closed.is_set():
            return 0
        remaining = int(self._producer.flush(timeout))
        self._closed.set()
        self._poller.join(timeout=1.0)
        if remaining:
            log.error("%d messages were not delivered before shutdown", remaining)
        return remaining


class BulkRoutingPublisher:
    """Two publishers: calls of many messages (batch requests) go to one that waits longer to fill batches.

    A broker's cost is per record batch (Tansu on object storage writes three objects for each), so
    the bulk publisher lingers longer and sends fewer, larger batches, while single events keep a
    publisher that sends after a few milliseconds. Each publisher keeps its messages in order per
    key; a client that waits for one answer before its next request keeps its order across both.
    """

    def __init__(self, single: Publisher, bulk: Publisher, *, bulk_from_messages: int) -> None:
        self.single = single
        self.bulk = bulk
        self.bulk_from_messages = bulk_from_messages

    @classmethod
    def from_settings(cls, settings: EventlakeSettings) -> Publisher:
        """The producer API's publisher: a bulk one beside the single-event one, unless turned off."""
        single = KafkaPublisher.from_settings(settings)
        if not settings.producer_bulk_linger_ms:
            return single
        bulk = KafkaPublisher.from_settings(
            settings, client_id="eventlake-producer-bulk", linger_ms=settings.producer_bulk_linger_ms
        )
        return cls(single, bulk, bulk_from_messages=settings.producer_bulk_from_events)

    def publish(self, messages: Sequence[OutgoingMessage], timeout: float) -> None:
        lane = self.bulk if len(messages) >= self.bulk_from_messages else self.single
        lane.publish(messages, timeout)

    def ready(self, topics: Sequence[str], timeout: float) -> tuple[bool, str]:
        ok, reason = self.single.ready(topics, timeout)
        if not ok:
            return ok, reason
        ok, reason = self.bulk.ready(topics, timeout)
        return ok, reason if ok else f"bulk publisher: {reason}"

    def close(self, timeout: float = 10.0) -> int:
        """Flush both publishers at once, so a shutdown waits for one ``timeout`` at most, not two."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventlake-bulk-close") as pool:
            bulk = pool.submit(self.bulk.close, timeout)
            return self.single.close(timeout) + bulk.result()


class MemoryPublisher:
    """In-process publisher for tests: records what was published; can be switched to unavailable."""

    def __init__(self) -> None:
        self.messages: list[OutgoingMessage] = []
        self.unavailable: str | None = None
        self.delay_seconds = 0.0
        self._lock = threading.Lock()

    def publish(self, messages: Sequence[OutgoingMessage], timeout: float) -> None:
        if self.unavailable:
            raise PublishUnavailableError(self.unavailable)
        if self.delay_seconds:
            time.sleep(min(self.delay_seconds, timeout))
        with self._lock:
            self.messages.extend(messages)

    def ready(self, topics: Sequence[str], timeout: float) -> tuple[bool, str]:
        return (False, self.unavailable) if self.unavailable else (True, "ok")

    def close(self, timeout: float = 10.0) -> int:
        return 0
