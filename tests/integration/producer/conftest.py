"""A real Kafka-protocol broker (Tansu on durable local S3 storage) and the producer API as the stack serves it.

Only what the producer tests need; the whole stack is the ``embedded_stack`` fixture. Durable storage
is the stack's object server (disk), so that a broker killed with SIGKILL keeps what it acknowledged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventlake.catalog import event_types
from eventlake.stack.testing import TansuBroker, free_ports

REPO = Path(__file__).resolve().parents[3]
TAIL_MARKER = b"__tail_marker__"
TOPICS = sorted({f"eventlake.{et.topic_name}" for et in event_types()})


class Broker(TansuBroker):
    """The stack's broker programs (Tansu, and its object server for durable storage) on free ports."""

    def __init__(self, workdir: Path, storage: str = "memory") -> None:
        super().__init__(workdir, storage)
        self.topics = TOPICS

    def create_topics(self) -> None:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(topic, 3, 1) for topic in TOPICS])
        for future in futures.values():
            try:
                future.result(10)
            except KafkaException as exc:  # a producer's metadata request may have created it already
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise

    def read(self, topics: list[str], *, expect: set[str] | None = None, idle: float = 3.0) -> list[Any]:
        """Every event of the topics from the beginning; see :func:`read_topics`."""
        self.push_tails(topics)
        return read_topics(self.bootstrap, topics, expect=expect, idle=idle)

    def push_tails(self, topics: list[str]) -> None:
        """One marker per partition, so that the last batch before it becomes readable (Tansu quirk 1)."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "batch.num.messages": 1, "linger.ms": 0})
        metadata = producer.list_topics(timeout=10)
        for topic in topics:
            for partition in metadata.topics[topic].partitions:
                producer.produce(topic, b"{}", TAIL_MARKER, partition=partition)
        assert producer.flush(10) == 0


def read_topics(bootstrap: str, topics: list[str], *, expect: set[str] | None = None, idle: float = 3.0) -> list[Any]:
    """Every message of the topics from the beginning (assign + seek; idle-terminated, see Tansu quirk 1)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "producer-tests", "enable.auto.commit": False})
    metadata = consumer.list_topics(timeout=10)
    consumer.assign(
        [
            TopicPartition(topic, partition, OFFSET_BEGINNING)
            for topic in topics
            for partition in metadata.topics[topic].partitions
        ]
    )
    messages: list[Any] = []
    seen: set[str] = set()
    last = time.monotonic()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() - last < idle and time.monotonic() < deadline:
            batch = consumer.consume(10_000, timeout=0.5)
            for message in batch:
                if message.error() or message.key() == TAIL_MARKER:
                    continue
                messages.append(message)
                if expect is not None:
                    import orjson

                    seen.add(orjson.loads(message.value())["event_id"])
            if batch:
                last = time.monotonic()
            if expect is not None and expect <= seen:
                break
    finally:
        consumer.close()
    return messages


@pytest.fixture(params=["memory"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """A broker on memory storage; parametrize indirectly with "s3" for durable storage."""
    broker = Broker(tmp_path, storage=request.param)
    broker.start_storage()
    broker.start()
    broker.create_topics()
    try:
        yield broker
    finally:
        broker.stop()


class ProducerServer:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log


def start_producer_server(
    broker: Broker, workdir: Path, *, server: str | None = None, idempotent: bool = True, workers: int | None = None
) -> ProducerServer:
    """``python -m producer_app.serve`` (the stack's command), ready; ``server`` overrides the setting."""
    (port,) = free_ports(1)
    env = {
        **os.environ,
        "EVENTLAKE_HOME": str(workdir / "home"),
        "EVENTLAKE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "EVENTLAKE_PRODUCER_HOST": "127.0.0.1",
        "EVENTLAKE_PRODUCER_PORT": str(port),
        "EVENTLAKE_PRODUCER_THREADS": "8",
        "EVENTLAKE_PRODUCER_IDEMPOTENCE": str(idempotent).lower(),
        "PYTHONPATH": str(REPO),
    }
    if server is not None:
        env["EVENTLAKE_PRODUCER_SERVER"] = server
    if workers is not None:  # otherwise the settings' default for the server
        env["EVENTLAKE_PRODUCER_WORKERS"] = str(workers)
    log = workdir / f"producer-{server or 'default'}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "producer_app.serve"],
        cwd=REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            stop_producer_server(ProducerServer(url, process, log))
            raise RuntimeError(f"producer did not get ready: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    return ProducerServer(url, process, log)


def stop_producer_server(server: ProducerServer, timeout: float = 30) -> None:
    """SIGTERM (a graceful stop: the workers flush their producers), SIGKILL to the group if it hangs."""
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(5)


@pytest.fixture(params=["idempotent", "non-idempotent"])
def producer_server(broker: Broker, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ProducerServer]:
    """The producer under the settings' server, with both producer modes (real Kafka / the embedded Tansu default)."""
    server = start_producer_server(broker, tmp_path, idempotent=request.param == "idempotent")
    try:
        yield server
    finally:
        stop_producer_server(server)


@pytest.fixture
def start_server(broker: Broker, tmp_path: Path) -> Iterator[Callable[..., ProducerServer]]:
    """Start producer servers on the broker (options of :func:`start_producer_server`); all stopped afterwards."""
    started: list[ProducerServer] = []

    def start(**options: Any) -> ProducerServer:
        server = start_producer_server(broker, tmp_path, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            stop_producer_server(server)
