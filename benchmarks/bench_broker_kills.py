"""Benchmark (a durability drill): acknowledged messages lost to kill -9 of the embedded broker, by producer mode.

Tansu (the embedded broker) on the project's object server, as ``make up`` runs it. Per round, two
fresh brokers take the same load, one after the other: ``--writers`` producer threads with the producer
API's librdkafka settings (``eventlake.kafka_publisher.producer_config``), batches of 200 without pause,
while the broker is killed -9 ``--kills`` times (1.5-4 s apart, restarted 0-1 s later, as supervisord
does). One broker's producers are idempotent (librdkafka's and Kafka's recommended setting, the
baseline); the other's are not (what the embedded stack uses since 2026-12-03). A reader then looks up
every acknowledged message at the partition and offset of its ack (:mod:`eventlake.stack.kill_drill`).

Run: ``.venv/bin/python benchmarks/bench_broker_kills.py`` (``--help`` for the sizes). Writes
``var/bench/broker_kills.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from results import write_result

from eventlake.stack.kill_drill import KillDrillResult, produce_through_kills
from eventlake.stack.testing import TansuBroker

TOPIC = "bench-broker-kills"


def one_run(work: Path, *, idempotence: bool, args: argparse.Namespace, seed: int) -> KillDrillResult:
    from confluent_kafka.admin import AdminClient, NewTopic

    broker = TansuBroker(work, "s3")
    broker.start_storage()
    broker.start()
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic(TOPIC, args.partitions, 1)])[TOPIC].result(30)
        return produce_through_kills(
            broker,
            TOPIC,
            partitions=args.partitions,
            idempotence=idempotence,
            kills=args.kills,
            writers=args.writers,
            seed=seed,
            progress=lambda line: print(f"  {'idempotent' if idempotence else 'plain'}: {line}", flush=True),
        )
    finally:
        broker.stop()


def summary(results: list[KillDrillResult]) -> dict[str, Any]:
    return {
        "acknowledged": [r.acknowledged for r in results],
        "lost": [len(r.lost) for r in results],
        "acknowledged_at_another_offset": [len(r.misplaced) for r in results],
        "stored_twice": [r.duplicated for r in results],
        "not_acknowledged": [r.not_acknowledged for r in results],
        "lost_per_million_acknowledged_median": round(
            statistics.median(len(r.lost) / r.acknowledged * 1e6 for r in results), 1
        ),
        "lost_examples": [r.lost[:3] for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kills", type=int, default=10, help="kill -9 of the broker per run")
    parser.add_argument("--writers", type=int, default=8, help="producer threads (the API runs 2 workers x 2)")
    parser.add_argument("--partitions", type=int, default=6)
    args = parser.parse_args()

    load_at_start = os.getloadavg()
    runs: dict[str, list[KillDrillResult]] = {"idempotent": [], "plain": []}
    root = Path(tempfile.mkdtemp(prefix="bench-broker-kills-"))
    for round_ in range(args.rounds):
        for name, idempotence in (("idempotent", True), ("plain", False)):
            print(f"round {round_ + 1}/{args.rounds}, {name} producers:", flush=True)
            result = one_run(root / f"{name}-{round_}", idempotence=idempotence, args=args, seed=round_)
            runs[name].append(result)
            print(f"  {result.line()}", flush=True)
    doc = {
        "benchmark": "broker_kills",
        "measured_at": datetime.now(UTC).isoformat(),
        "broker": "tansu 0.6 on the object server (s3 storage), killed -9 and restarted under load",
        "baseline": "the same load with idempotent producers, on a fresh broker, in the same run",
        "rounds": args.rounds,
        "kills_per_run": args.kills,
        "writers": args.writers,
        "partitions": args.partitions,
        "idempotent": summary(runs["idempotent"]),
        "plain": summary(runs["plain"]),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
    }
    for name in runs:
        print(
            f"{name}: lost {doc[name]['lost']} of {doc[name]['acknowledged']} acknowledged, "
            f"stored twice {doc[name]['stored_twice']}"
        )
    write_result("broker_kills", doc)


if __name__ == "__main__":
    main()
