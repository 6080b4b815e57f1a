"""Benchmark of reading a fragmented backlog from the embedded broker: the consumers' fetch wait against 20 ms.

The embedded broker (Tansu 0.6 on the durable object server) stores every produced record batch as one
object and lists a partition's batches for each batch it serves; it answers a fetch with what it could
gather within the fetch's ``fetch.wait.max.ms``. A partition that received many small batches (the API
under a steady load publishes a few small batches a second per partition) is then read one batch per
round trip when that wait is short: after a stream outage the backlog drains slower than it grows.

One run, one broker: a backlog of ``--batches`` batches of ``--batch-records`` records in each of 3
partitions (produced once), then ``--rounds`` rounds that read it from offset 0 with the consumers'
setting (:data:`eventlake.streaming.kafka_source.FETCH_WAIT_MS`) and with the 20 ms baseline (the setting
before 2026-12-01), alternating. Medians, the ratio and the records/s are printed and written to
``var/bench/broker_fetch.json``.

Run: ``.venv/bin/python benchmarks/bench_broker_fetch.py`` (``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from results import write_result

from eventlake.stack.testing import TansuBroker
from eventlake.streaming.kafka_source import FETCH_WAIT_MS, consumer_config

TOPIC = "fragmented"
PARTITIONS = 3
BASELINE_WAIT_MS = 20
#: A record of the size the API publishes (an event of ~330 bytes of JSON).
RECORD = (b'{"event_type":"purchase_sword","user_id":"u123","price":"12.34","event_id":"%08d"}' * 4)[:330]


def produce_backlog(bootstrap: str, batches: int, batch_records: int) -> int:
    """``batches`` separate record batches per partition (one flush per round): what a trickle leaves."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 1000,
            "batch.num.messages": batch_records,
            "max.in.flight.requests.per.connection": 1,
            "compression.type": "zstd",
        }
    )
    started = time.monotonic()
    for round_number in range(batches):
        for partition in range(PARTITIONS):
            for _ in range(batch_records):
                producer.produce(TOPIC, RECORD, partition=partition)
        producer.flush()
        if (round_number + 1) % max(1, batches // 10) == 0:
            print(f"  produced {round_number + 1:,}/{batches:,} batches per partition "
                  f"({time.monotonic() - started:.0f} s)", flush=True)  # fmt: skip
    return batches * batch_records * PARTITIONS


def drain(bootstrap: str, wait_ms: int, total: int, timeout: float) -> tuple[int, float]:
    """Records read from offset 0 of every partition, and the seconds it took (capped at ``timeout``)."""
    consumer = Consumer(consumer_config(bootstrap, **{"fetch.wait.max.ms": wait_ms, "log_level": 3}))
    consumer.assign([TopicPartition(TOPIC, partition, 0) for partition in range(PARTITIONS)])
    started = time.monotonic()
    read = 0
    try:
        while read < total and time.monotonic() - started < timeout:
            read += sum(1 for message in consumer.consume(10_000, 1.0) if message.error() is None)
    finally:
        consumer.close()
    return read, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2_000, help="record batches per partition")
    parser.add_argument("--batch-records", type=int, default=40, help="records per batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a drain may take (then cut)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-broker-fetch-") as work:
        broker = TansuBroker(Path(work) / "broker", "s3")
        broker.start_storage()
        broker.start()
        try:
            admin = AdminClient({"bootstrap.servers": broker.bootstrap})
            for future in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
                future.result()
            print(f"backlog: {args.batches:,} batches x {args.batch_records} records x {PARTITIONS} partitions")
            total = produce_backlog(broker.bootstrap, args.batches, args.batch_records)
            rates: dict[str, list[float]] = {"setting": [], "baseline": []}
            for round_number in range(1, args.rounds + 1):
                for name, wait_ms in (("setting", FETCH_WAIT_MS), ("baseline", BASELINE_WAIT_MS)):
                    read, seconds = drain(broker.bootstrap, wait_ms, total, args.timeout)
                    rates[name].append(read / seconds)
                    cut = "" if read >= total else f" (cut at {args.timeout:.0f} s)"
                    print(f"round {round_number} {name:8} fetch.wait.max.ms={wait_ms:>4}: {read:>9,} of {total:,} "
                          f"records in {seconds:5.1f} s = {read / seconds:>9,.0f}/s{cut}", flush=True)  # fmt: skip
        finally:
            broker.stop()

    setting, baseline = statistics.median(rates["setting"]), statistics.median(rates["baseline"])
    ratio = setting / baseline if baseline else float("inf")
    print(f"medians: {setting:,.0f} records/s at {FETCH_WAIT_MS} ms, {baseline:,.0f} records/s at "
          f"{BASELINE_WAIT_MS} ms; ratio {ratio:.1f}x")  # fmt: skip
    result = {
        "benchmark": "broker_fetch",
        "backlog": {
            "partitions": PARTITIONS,
            "batches_per_partition": args.batches,
            "records_per_batch": args.batch_records,
            "records": total,
        },
        "fetch_wait_ms": FETCH_WAIT_MS,
        "baseline_fetch_wait_ms": BASELINE_WAIT_MS,
        "records_per_second": {"setting": setting, "baseline": baseline},
        "ratio": ratio,
        "rounds": args.rounds,
        "load_average": os.getloadavg()[0],
    }
    write_result("broker_fetch", result)


if __name__ == "__main__":
    main()
