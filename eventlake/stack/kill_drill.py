"""Producing through kills of the embedded broker: is every acknowledged message where its ack said?

Several producers (the producer API's librdkafka settings, one per thread) send batches to a topic
without pause while the broker is killed -9 and started again, as supervisord does; then a reader
reads every partition from its start and each acknowledged message is looked up at the partition and
offset of its ack. Used by the broker's integration test and by ``benchmarks/bench_broker_kills.py``,
which runs it with the idempotent producer against the plain one.

Why it exists: Tansu 0.6 keeps each idempotent producer's sequence numbers in one object
(``meta.json``) and the records in another (one per batch). A kill between the two writes leaves the
sequence advanced and the batch unstored; the producer's retry after the restart is then answered
as a duplicate (no offset: librdkafka reports -1) and nobody stores it. The plain producer's retry
is stored again instead: a second copy, never a loss.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventlake.kafka_publisher import producer_config
from eventlake.stack.testing import TansuBroker

#: Messages per producer between flushes (the producer API's batch requests are of this order).
BATCH = 200


@dataclass
class KillDrillResult:
    idempotence: bool
    kills: int
    seconds: float
    acknowledged: int
    not_acknowledged: int  # delivery errors: answered as failures, so allowed to be missing
    stored: int  # messages the reader found (copies included)
    lost: list[str] = field(default_factory=list)  # acknowledged, nowhere in the log
    misplaced: list[str] = field(default_factory=list)  # acknowledged, found at another offset than the ack's
    duplicated: int = 0  # messages stored more than once
    acknowledged_at_kills: list[int] = field(default_factory=list)

    def line(self) -> str:
        mode = "idempotent" if self.idempotence else "plain"
        return (
            f"{mode:>10} producer, {self.kills} broker kills in {self.seconds:.0f} s: "
            f"{self.acknowledged:,} acknowledged, {self.not_acknowledged:,} failed (not acknowledged); "
            f"lost {len(self.lost):,}, at another offset than acknowledged {len(self.misplaced):,}, "
            f"stored twice {self.duplicated:,}"
        )


def produce_through_kills(
    broker: TansuBroker,
    topic: str,
    *,
    partitions: int,
    idempotence: bool,
    kills: int,
    writers: int = 4,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> KillDrillResult:
    """Produce from ``writers`` threads while killing the broker ``kills`` times; check every ack."""
    from confluent_kafka import Producer

    rng = random.Random(seed)  # noqa: S311 - drill timing, not secrets
    acked: dict[str, tuple[int, int | None]] = {}
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def write(writer: int) -> None:
        producer: Any = None
        sent = 0
        keys = random.Random(seed + writer)  # noqa: S311
        errors: list[Any] = []  # of the current flush

        def delivered(error: Any, message: Any) -> None:
            with lock:
                if error is not None:
                    errors.append(error)
                    failures.append(message.value().decode())
                else:
                    acked[message.value().decode()] = (message.partition(), message.offset())

        while not stop.is_set():
            if producer is None:
                config = producer_config(
                    broker.bootstrap, delivery_timeout_ms=10_000, client_id=f"drill-{writer}", idempotence=idempotence
                )
                producer = Producer(config)
            errors.clear()
            for _ in range(BATCH):
                value = f"w{writer}-{sent}".encode()
                producer.produce(topic, value, key=f"k{keys.randrange(1000)}".encode(), on_delivery=delivered)
                sent += 1
            producer.flush(30)
            if errors:  # a fatal idempotence error leaves the producer unusable: start a new one, as the API does
                producer = None
            time.sleep(0.05)
        if producer is not None:
            producer.flush(30)

    started = time.monotonic()
    threads = [threading.Thread(target=write, args=(n,), name=f"drill-writer-{n}") for n in range(writers)]
    for thread in threads:
        thread.start()
    at_kills: list[int] = []
    try:
        for kill in range(kills):
            time.sleep(rng.uniform(1.5, 4.0))
            broker.kill()
            time.sleep(rng.uniform(0.0, 1.0))
            broker.start()
            with lock:
                at_kills.append(len(acked))
            if progress:
                progress(f"kill {kill + 1}/{kills}: {at_kills[-1]:,} acknowledged, {len(failures):,} failed so far")
        time.sleep(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
    seconds = time.monotonic() - started
    # Read at least to the last acknowledged offset of each partition (the broker's listed end can lag it).
    ends = dict.fromkeys(range(partitions), 0)
    for partition, offset in acked.values():
        if offset is not None:  # None: acknowledged as a duplicate, no offset given
            ends[partition] = max(ends[partition], offset + 1)
    stored = read_everything(broker.bootstrap, topic, partitions, at_least=ends)
    lost = [value for value in acked if value not in stored]
    misplaced = [value for value, position in acked.items() if value in stored and position not in stored[value]]
    return KillDrillResult(
        idempotence=idempotence,
        kills=kills,
        seconds=seconds,
        acknowledged=len(acked),
        not_acknowledged=len(failures),
        stored=sum(len(positions) for positions in stored.values()),
        lost=sorted(lost),
        misplaced=sorted(misplaced),
        duplicated=sum(1 for positions in stored.values() if len(positions) > 1),
        acknowledged_at_kills=at_kills,
    )


def read_everything(
    bootstrap: str, topic: str, partitions: int, *, at_least: dict[int, int] | None = None, idle: float = 15
) -> dict[str, list[tuple[int, int]]]:
    """Every message of a topic, value -> [(partition, offset)]: read from each partition's start until each
    reached its end offset (and ``at_least``'s), or nothing more arrived for ``idle`` seconds."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "kill-drill-reader", "enable.auto.commit": False})
    ends = {p: int(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]) for p in range(partitions)}
    for partition, end in (at_least or {}).items():
        ends[partition] = max(ends[partition], end)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    found: dict[str, list[tuple[int, int]]] = {}
    reached = dict.fromkeys(range(partitions), 0)
    last_message = time.monotonic()
    try:
        while any(reached[p] < ends[p] for p in ends) and time.monotonic() - last_message < idle:
            for message in consumer.consume(5000, 1.0):
                value, where, offset = message.value(), message.partition(), message.offset()
                if message.error() is not None or value is None or where is None or offset is None:
                    continue
                last_message = time.monotonic()
                found.setdefault(value.decode(), []).append((where, offset))
                reached[where] = max(reached[where], offset + 1)
    finally:
        consumer.close()
    return found
