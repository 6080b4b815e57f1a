"""Benchmark: a fetch at the tail of an embedded-broker partition as the log grows, trimmed against untrimmed.

Tansu (the embedded broker) keeps a partition as one object per record batch on its storage and lists
every one of them to serve a fetch. Two topics on the same broker (Tansu on the project's object server,
as ``make up`` runs it) receive the same single-record batches side by side; at each checkpoint the
trimmed one loses what a stream would have landed (:class:`eventlake.broker_log.BrokerLogTrimmer`, all
but the last ``--keep-batches``), and then, on each topic, a consumer waiting at the end of the log (the
stream's consumer settings) times a freshly produced record's arrival: produce -> consumed, median of
``--samples``. The untrimmed topic is the baseline: the log as it was before the stream trimmed it.

Run: ``.venv/bin/python benchmarks/bench_broker_trim.py`` (``--help`` for the sizes). Writes
``var/bench/broker_trim.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from results import write_result

from eventlake.broker_log import BrokerLogTrimmer
from eventlake.stack.testing import TansuBroker
from eventlake.streaming.kafka_source import consumer_config

TOPICS = {"untrimmed": "bench-trim-untrimmed", "trimmed": "bench-trim-trimmed"}


def tail_latency(bootstrap: str, producer: Any, topic: str, samples: int) -> float:
    """Median seconds from producing one record to a consumer at the log's end receiving it."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(consumer_config(bootstrap, **{"enable.partition.eof": False}))
    try:
        _, end = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, end)])
        consumer.consume(1000, 1.0)  # settle at the end (Tansu's listed end can stop short of it)
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            producer.produce(topic, value=b"probe")
            producer.flush(10)
            while not [m for m in consumer.consume(100, 0.05) if m.error() is None and m.value() == b"probe"]:
                if time.perf_counter() - started > 30:
                    raise TimeoutError(f"{topic}: a produced record did not arrive within 30 s")
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default="250,1000,4000,8000,16000", help="log sizes measured (batches)")
    parser.add_argument("--keep-batches", type=int, default=50, help="batches the trim leaves (a stream's ~10 s)")
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    checkpoints = sorted(int(n) for n in args.checkpoints.split(","))

    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    work = Path(tempfile.mkdtemp(prefix="bench-broker-trim-"))
    broker = TansuBroker(work, "s3")
    broker.start_storage()
    broker.start()
    load_at_start = os.getloadavg()
    rows: list[dict[str, Any]] = []
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for future in admin.create_topics([NewTopic(t, 1, 1) for t in TOPICS.values()]).values():
            future.result(30)
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "acks": "all"})
        trimmer = BrokerLogTrimmer(f"http://127.0.0.1:{broker.storage_port}", keep=timedelta(0))
        produced = 0
        started = time.monotonic()
        for checkpoint in checkpoints:
            while produced < checkpoint:  # one single-record batch per topic per round trip
                for topic in TOPICS.values():
                    producer.produce(topic, value=b"x" * 200)
                producer.flush(30)
                produced += 1
            # As if the stream had landed all but the last --keep-batches batches of the trimmed topic.
            trimmed_log = trimmer.batches(TOPICS["trimmed"], 0)
            landed_end = trimmed_log[-args.keep_batches].base_offset if len(trimmed_log) > args.keep_batches else 0
            trim = trimmer.trim({TOPICS["trimmed"]: {"0": landed_end}}, now=datetime.now(UTC) + timedelta(seconds=1))
            kept = {name: len(trimmer.batches(topic, 0)) for name, topic in TOPICS.items()}
            latency = {
                name: tail_latency(broker.bootstrap, producer, topic, args.samples) for name, topic in TOPICS.items()
            }
            row = {
                "batches_produced": checkpoint,
                "batches_stored": kept,
                "trim_deleted": trim.deleted,
                "trim_seconds": round(trim.seconds, 3),
                "tail_latency_ms": {name: round(value * 1000, 1) for name, value in latency.items()},
                "ratio_untrimmed_to_trimmed": round(latency["untrimmed"] / latency["trimmed"], 2),
            }
            rows.append(row)
            print(
                f"{checkpoint:>6,} batches produced ({time.monotonic() - started:5.0f} s): stored untrimmed "
                f"{kept['untrimmed']:,}, trimmed {kept['trimmed']:,} (deleted {trim.deleted:,} in "
                f"{trim.seconds:.2f} s); tail latency untrimmed {latency['untrimmed'] * 1000:6.1f} ms, "
                f"trimmed {latency['trimmed'] * 1000:6.1f} ms "
                f"({row['ratio_untrimmed_to_trimmed']}x)",
                flush=True,
            )
        trimmer.close()
    finally:
        broker.stop()
    result = {
        "benchmark": "broker_trim",
        "measured_at": datetime.now(UTC).isoformat(),
        "broker": "tansu on the object server (s3 storage), one partition per topic, single-record batches",
        "baseline": "the same log untrimmed, on the same broker, in the same run",
        "keep_batches": args.keep_batches,
        "samples": args.samples,
        "checkpoints": rows,
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
    }
    write_result("broker_trim", result)


if __name__ == "__main__":
    main()
