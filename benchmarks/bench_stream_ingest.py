"""Benchmark of the stream: broker -> landed Parquet throughput against a row-by-row baseline, and freshness.

One run, 2 cores (``local[2]``), for each broker storage (Tansu on memory, and on the embedded stack's
durable object server, started by :class:`eventlake.stack.testing.TansuBroker` like the tests do). Rounds
alternate the pipelines, each draining a backlog produced beforehand onto fresh topics (1% malformed):

- ``stream``: what the job runs. The Python source in Arrow mode: each task consumes its partitions in
  large batches, routes them (fast path for the producer's spelling, exact router for the rest) and
  encodes Parquet files; the driver only writes the files and commits;
- ``baseline``: row by row, as this job was built before: the same source yielding Python tuples, each
  message routed by the exact Python router in ``mapInArrow``, the routed rows collected to the driver,
  which encodes and commits them (:class:`RowByRowRunner`; the notes measured ~7,000 rows/s for tuples);
- ``tuples_encoded``: the same tuples, routed and encoded in ``mapInArrow`` by the stream's code (the path
  Spark's own connector takes): what the source's half of the work contributes.

Throughput is rows / (first micro-batch start -> last commit): the stream runs on its processing-time
trigger and read limit (the settings'), so a backlog lands in back-to-back micro-batches as behind a
sustained load; CPU is microseconds per row over the same span, by process (driver, JVM, Python workers,
broker and storage). Medians of the rounds and the ratio stream/baseline are printed and written to
``var/bench/stream_ingest.json`` with the load average. Then freshness: a steady 1,000 events/s, produced
with the producer API's own librdkafka settings and keys (so an ack is what the API answers 202 on), after
10 s of the same traffic as warm-up; the time from the broker's ack of each event to its file being
visible in the landing zone, p50/p95/max.

Run: ``.venv/bin/python benchmarks/bench_stream_ingest.py`` (``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import psutil
from results import write_result

from eventlake.broker_log import background_trimmer_for
from eventlake.catalog import EVENT_TYPES
from eventlake.kafka_admin import ensure_topics
from eventlake.settings import EventlakeSettings, load_settings
from eventlake.stack.testing import TansuBroker
from eventlake.streaming.arrow_router import route_batches, routed_spark_schema
from eventlake.streaming.fixtures import message_stream, published_event
from eventlake.streaming.job import StreamRunner, read_kafka

PIPELINES = ("stream", "baseline", "tuples_encoded")
#: The baselines read with one broker connection per task: Python tuples are CPU-bound, and three reading
#: threads made them slower (s3 storage, 2026-12-07 16:00-16:15 UTC, two runs each: 38,021 / 37,448 events/s
#: with one against 32,720 / 34,461 with three), which would flatter the stream's ratio.
PIPELINE_SETTINGS: dict[str, dict[str, Any]] = {
    "baseline": {"stream_read_consumers": 1},
    "tuples_encoded": {"stream_read_consumers": 1},
}
#: Each pipeline's warm-up drain: a micro-batch of it runs two tasks (``MIN_ROWS_PER_TASK`` each at least),
#: so both Python workers are started and have run a task before the measured rounds. With 30,000 only one
#: was, and the second started in the first measured micro-batch (~1 s of imports, 2026-12-07).
WARMUP_EVENTS = 200_000
TARGET_ROWS_PER_SECOND = 50_000
TARGET_RATIO = 5.0
FRESH_RATE = 1_000
#: Seconds of traffic at the freshness rate before the measured window.
FRESH_WARMUP_SECONDS = 10


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


def preload(settings: EventlakeSettings, messages: list[tuple[str, bytes, bytes]], count: int) -> None:
    """``count`` messages (cycling through ``messages``) onto the settings' topics, acknowledged."""
    producer = producer_for(settings)
    topics = {domain: settings.topic(domain) for domain in {m[0] for m in messages}}
    for i in range(count):
        domain, key, value = messages[i % len(messages)]
        producer.produce(topics[domain], value=value, key=key)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(300) != 0:
        raise RuntimeError("the broker did not acknowledge the preload")


class CpuMeter:
    """CPU seconds of this process tree (driver, JVM, Python workers) and of the broker's processes."""

    def __init__(self, broker_pids: list[int]) -> None:
        self.broker_pids = broker_pids

    @staticmethod
    def _seconds(process: psutil.Process) -> float:
        times = process.cpu_times()
        # A worker that exited and was reaped counts in its parent's children times.
        return times.user + times.system + times.children_user + times.children_system

    def sample(self) -> dict[str, float]:
        groups: dict[str, float] = {}
        me = psutil.Process()
        for process in [me, *me.children(recursive=True)]:
            try:
                name = " ".join(process.cmdline())
                seconds = self._seconds(process)
            except psutil.Error:
                continue
            group = "driver" if process.pid == me.pid else "jvm" if "java" in name else "python_workers"
            groups[group] = groups.get(group, 0.0) + seconds
        for pid in self.broker_pids:
            try:
                groups["broker"] = groups.get("broker", 0.0) + self._seconds(psutil.Process(pid))
            except psutil.Error:
                continue
        return groups


class RowByRowRunner(StreamRunner):
    """The baseline: Python tuples into Spark, routed row by row, the rows collected to the driver and written there."""

    def batches(self) -> Any:
        raw = read_kafka(self.spark, self.settings, row_mode="tuples")
        return raw.mapInArrow(partial(route_batches, fast=False), routed_spark_schema())

    def land_batch(self, batch: Any, batch_id: int) -> None:
        commit = self.writer.write_batch(batch.toArrow(), batch_id)
        self.totals["landed_rows"] += commit.landed_rows
        self.totals["quarantined_rows"] += commit.quarantined_rows


def drain(spark: Any, settings: EventlakeSettings, pipeline: str, meter: CpuMeter, rows: int) -> dict[str, Any]:
    """Run the stream (its processing-time trigger) over a backlog of ``rows`` until all landed, then stop it.

    Time and CPU count from the first micro-batch's start to the last commit (not the query's start-up):
    micro-batches of at most ``stream_max_offsets_per_trigger`` rows follow each other as behind a load.
    """
    runner = (
        RowByRowRunner(spark, settings)
        if pipeline == "baseline"
        else StreamRunner(spark, settings, row_mode="tuples" if pipeline == "tuples_encoded" else "arrow")
    )
    load_before = os.getloadavg()[0]
    samples: list[tuple[float, dict[str, float]]] = []
    sampling = threading.Event()
    sampling.set()

    def sample() -> None:
        while sampling.is_set():
            samples.append((time.time(), meter.sample()))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    runner.start()
    stream = threading.Thread(target=runner.run_until_stopped, kwargs={"poll_seconds": 0.1}, daemon=True)
    stream.start()
    deadline = time.monotonic() + 1800
    while runner.totals["landed_rows"] + runner.totals["quarantined_rows"] < rows:
        if not stream.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{pipeline}: the stream stopped or stalled at {runner.totals} of {rows} rows")
        time.sleep(0.05)
    finished = time.time()
    after = meter.sample()
    sampling.clear()
    runner.paths.stop_request.parent.mkdir(parents=True, exist_ok=True)
    runner.paths.stop_request.touch()
    stream.join(120)
    sampler.join(5)
    runner.paths.stop_request.unlink()
    assert runner.query is not None
    progress = [json.loads(p.json) if hasattr(p, "json") else dict(p) for p in runner.query.recentProgress]
    batches = [p for p in progress if p["numInputRows"] > 0]
    first = _epoch(batches[0]["timestamp"])
    before = [cpu for at, cpu in samples if at <= first][-1]
    landed = runner.totals["landed_rows"] + runner.totals["quarantined_rows"]
    if landed != rows:  # a figure for a stream that lands too much or too little would be worthless
        raise RuntimeError(f"{pipeline}: {landed} rows landed for a backlog of {rows}")
    cpu = {group: (after[group] - before.get(group, 0.0)) * 1e6 / landed for group in after}
    return {
        "rows": landed,
        "batches": len(batches),
        "seconds": round(finished - first, 2),
        "rows_per_second": round(landed / (finished - first)),
        "cpu_us_per_row": {group: round(value, 1) for group, value in sorted(cpu.items())},
        "cpu_us_per_row_total": round(sum(cpu.values()), 1),
        "load_average": [load_before, os.getloadavg()[0]],
    }


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def api_producer(settings: EventlakeSettings) -> Any:
    """A producer with the producer API's own settings (linger, one request in flight): its acks are 202s."""
    from confluent_kafka import Producer

    from eventlake.kafka_publisher import producer_config

    config = producer_config(
        settings.kafka_bootstrap_servers,
        delivery_timeout_ms=30_000,
        client_id="bench-freshness",
        idempotence=settings.producer_idempotent,
    )
    return Producer(config)


def freshness(
    spark: Any,
    settings: EventlakeSettings,
    rate: int,
    seconds: int,
    warmup_seconds: int = FRESH_WARMUP_SECONDS,
    *,
    trim: bool = False,
) -> dict[str, Any]:
    """Ack-to-visible latency per event under a steady ``rate`` events/s, after ``warmup_seconds`` of it.

    The events are produced as the producer API publishes them (its librdkafka settings), so an ack is
    what the API answers 202 on. The warm-up traffic is not measured: the first micro-batches with data
    took 3-4 s (fresh Python workers: their imports alone take ~1.2 s; the rest is not split), a one-off
    of a (re)started stream, not its steady state.
    """
    acked: dict[tuple[str, int, int], float] = {}
    visible: dict[tuple[str, int, int], float] = {}
    # As the embedded stack's driver runs: the broker's landed batches deleted behind the stream.
    trimmer = background_trimmer_for(settings) if trim else None
    runner = StreamRunner(spark, settings, trimmer=trimmer)
    batch_splits: list[dict[str, Any]] = []  # each micro-batch's read/route/encode and write/commit seconds
    land_batch = runner.land_batch

    def timed_land_batch(batch: Any, batch_id: int) -> None:
        land_batch(batch, batch_id)
        if runner.last_batch.get("batch_id") == batch_id and runner.last_batch.get("rows"):
            batch_splits.append(dict(runner.last_batch))

    runner.land_batch = timed_land_batch  # type: ignore[method-assign]
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
                            visible.setdefault((topic, int(partition), offset), now)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    time.sleep(5)  # the query's start-up and its first (empty) batch
    producer = api_producer(settings)

    def delivered(error: Any, message: Any) -> None:
        if error is None:
            acked[(message.topic(), message.partition(), message.offset())] = time.time()

    rng = random.Random(5)
    start = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - start) < warmup_seconds + seconds:
        measured = elapsed >= warmup_seconds
        due = int(elapsed * rate)
        while sent < due:
            et = EVENT_TYPES[sent % len(EVENT_TYPES)]
            event = published_event(et, rng, event_time=datetime.now(UTC))
            producer.produce(
                settings.topic(et.topic_name),
                key=event["user_id"].encode(),
                value=orjson.dumps(event),
                on_delivery=delivered if measured else None,
            )
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
    if trimmer is not None:
        trimmer.close()
    phases = batch_phases(runner, batch_splits)
    latencies = sorted(visible[k] - acked[k] for k in acked if k in visible)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 100 else [float("nan")] * 99
    return {
        "rate": rate,
        "seconds": seconds,
        "warmup_seconds": warmup_seconds,
        "producer": "the producer API's librdkafka settings (eventlake.kafka_publisher.producer_config)",
        "events": len(acked),
        "missing": len(set(acked) - set(visible)),
        "p50_s": round(quantiles[49], 3),
        "p95_s": round(quantiles[94], 3),
        "max_s": round(latencies[-1], 3) if latencies else None,
        "trigger_s": settings.stream_trigger_seconds,
        "target_p95_s": settings.stream_trigger_seconds + 2,
        "broker_log_trimmed": trimmer is not None,
        **({"broker_log": dict(trimmer.totals)} if trimmer is not None else {}),
        "batch_phases_s": phases,
        "load_average": os.getloadavg()[0],
    }


def batch_phases(runner: StreamRunner, splits: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Where a micro-batch with data spends its time: p50 and p95 of each phase over the run, in seconds.

    Spark's own phases (``durationMs`` of its progress reports: ``latestOffset`` asks the broker for the
    ends, ``addBatch`` is the foreachBatch body, ``walCommit``/``commitOffsets`` the checkpoint) and the
    body's two halves (the executors' read, route and encode; the driver's write and commit).
    """
    samples: dict[str, list[float]] = {}
    progress = runner.query.recentProgress if runner.query is not None else []
    for report in progress:
        doc = json.loads(report.json) if hasattr(report, "json") else dict(report)
        if not doc.get("numInputRows"):
            continue  # an empty trigger: no event waits on it
        for phase, ms in (doc.get("durationMs") or {}).items():
            samples.setdefault(phase, []).append(ms / 1000)
    for split in splits:
        for phase in ("read_route_encode_seconds", "write_commit_seconds"):
            samples.setdefault(phase.removesuffix("_seconds"), []).append(split[phase])

    def quantile(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        phase: {"p50": quantile(values, 0.5), "p95": quantile(values, 0.95), "batches": len(values)}
        for phase, values in sorted(samples.items())
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "median_rows_per_second": round(statistics.median(r["rows_per_second"] for r in runs)),
        "median_cpu_us_per_row": round(statistics.median(r["cpu_us_per_row_total"] for r in runs), 1),
        "runs": runs,
    }


def bench_storage(spark: Any, work: Path, storage: str, args: argparse.Namespace) -> dict[str, Any]:
    broker = TansuBroker(work / f"broker-{storage}", storage)
    broker.start_storage()
    broker.start()
    pids = [p.pid for p in (broker.process, broker.storage) if p is not None]
    meter = CpuMeter(pids)
    messages = message_stream(args.unique_events, malformed_every=100)
    counter = iter(range(10_000))

    def fresh_settings(**extra: Any) -> EventlakeSettings:
        name = f"{storage}{next(counter)}"
        settings = load_settings(
            home=work / name,
            kafka_bootstrap_servers=broker.bootstrap,
            kafka_topic_prefix=f"{name}.",
            spark_kafka_connector="python",
            **extra,
        )
        ensure_topics(settings)
        return settings

    sizes = {"stream": args.events, "baseline": args.baseline_events, "tuples_encoded": args.baseline_events}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in PIPELINES}
    try:
        if args.only_freshness:
            return {"freshness": measure_freshness(spark, broker, storage, fresh_settings, args)}
        # Warm-up: a session's first batches pay Python worker start-up and imports, and the JVM's JIT.
        for name in PIPELINES:
            settings = fresh_settings(**PIPELINE_SETTINGS.get(name, {}))
            preload(settings, messages, args.warmup_events)
            drain(spark, settings, name, meter, args.warmup_events)
        for round_number in range(args.rounds):
            for name in PIPELINES:
                limit = (
                    {"stream_max_offsets_per_trigger": args.max_offsets_per_trigger}
                    if args.max_offsets_per_trigger
                    else {}
                )
                settings = fresh_settings(**limit, **PIPELINE_SETTINGS.get(name, {}))
                preload(settings, messages, sizes[name])
                result = drain(spark, settings, name, meter, sizes[name])
                runs[name].append(result)
                print(
                    f"[{storage}] round {round_number + 1} {name:<18} {result['rows']:>8,} rows in "
                    f"{result['batches']} batches, {result['seconds']:>6.1f} s = {result['rows_per_second']:>7,}/s, "
                    f"{result['cpu_us_per_row_total']:>6.1f} us CPU/row {result['cpu_us_per_row']} "
                    f"(load {result['load_average'][0]:.1f})",
                    flush=True,
                )
        out: dict[str, Any] = {name: summary(found) for name, found in runs.items()}
        out["ratio"] = round(out["stream"]["median_rows_per_second"] / out["baseline"]["median_rows_per_second"], 2)
        # Throughput follows whatever CPU the other tenants of the machine leave; CPU per row does not.
        out["cpu_ratio"] = round(out["baseline"]["median_cpu_us_per_row"] / out["stream"]["median_cpu_us_per_row"], 2)
        if args.fresh_seconds > 0:
            out["freshness"] = measure_freshness(spark, broker, storage, fresh_settings, args)
        return out
    finally:
        broker.stop()


#: Freshness variants on s3 storage: the stream as the embedded stack runs it, then what it would be without
#: its broker-log trimming and with one broker connection per task (before 2026-12-07): name -> (trim the
#: log, settings changed, what the summary calls it).
FRESH_VARIANTS: dict[str, tuple[bool, dict[str, Any], str]] = {
    "stream": (True, {}, "as the stack runs it"),
    "untrimmed": (False, {}, "without trimming the broker's log"),
    "one_consumer": (True, {"stream_read_consumers": 1}, "one consumer per task"),
}


def measure_freshness(
    spark: Any, broker: TansuBroker, storage: str, fresh_settings: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """Freshness as the embedded stack runs the stream; on s3 storage also each baseline variant of
    :data:`FRESH_VARIANTS` named by ``--fresh-variants``, in turn, ``--fresh-rounds`` times: medians."""
    variants = (
        ["stream"] + [name for name in args.fresh_variants if name != "stream"] if storage == "s3" else ["stream"]
    )
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for round_number in range(args.fresh_rounds):
        shift = round_number % len(variants)
        for name in variants[shift:] + variants[:shift]:
            trim, changes, _ = FRESH_VARIANTS[name]
            trim = trim and storage == "s3"
            settings = fresh_settings(broker_storage_port=broker.storage_port, **changes)
            found = freshness(spark, settings, FRESH_RATE, args.fresh_seconds, trim=trim)
            runs[name].append(found)
            print(
                f"[{storage}] freshness round {round_number + 1} {name}{' (log trimmed)' if trim else ''}: "
                f"p50 {found['p50_s']} s, p95 {found['p95_s']} s, max {found['max_s']} s",
                flush=True,
            )
            phases = ", ".join(
                f"{phase} {q['p50']}/{q['p95']}" for phase, q in found["batch_phases_s"].items() if q["p95"] >= 0.01
            )
            print(f"[{storage}]   micro-batch phases with data, p50/p95 s: {phases}", flush=True)

    def medians(found: list[dict[str, Any]]) -> dict[str, Any]:
        out = dict(found[len(found) // 2])
        for name in ("p50_s", "p95_s", "max_s"):
            out[name] = round(statistics.median(run[name] for run in found), 3)
        out["missing"] = sum(run["missing"] for run in found)
        out["rounds"] = [{k: run[k] for k in ("p50_s", "p95_s", "max_s", "missing")} for run in found]
        return out

    result = medians(runs["stream"])
    for name in variants[1:]:
        result[name] = medians(runs[name])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", choices=["memory", "s3", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=1_000_000, help="backlog of each stream drain")
    parser.add_argument("--baseline-events", type=int, default=200_000, help="backlog of each tuple drain")
    parser.add_argument("--unique-events", type=int, default=150_000, help="distinct messages, produced in turn")
    parser.add_argument(
        "--warmup-events",
        type=int,
        default=WARMUP_EVENTS,
        help="backlog of each warm-up drain (enough for two tasks, so both Python workers start)",
    )
    parser.add_argument(
        "--max-offsets-per-trigger", type=int, default=None, help="rows per micro-batch (default: the settings')"
    )
    parser.add_argument("--fresh-seconds", type=int, default=30, help="0: skip the freshness measurement")
    parser.add_argument("--fresh-rounds", type=int, default=1, help="freshness runs (each variant), medians")
    parser.add_argument("--only-freshness", action="store_true", help="skip the throughput rounds")
    parser.add_argument(
        "--fresh-variants",
        nargs="*",
        choices=sorted(FRESH_VARIANTS),
        default=sorted(FRESH_VARIANTS),
        help="on s3 storage: the baselines measured beside the stream as run (default: all)",
    )
    args = parser.parse_args()

    os.environ["PYSPARK_PYTHON"] = sys.executable
    work = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bench-stream-ingest")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    load_at_start = os.getloadavg()
    storages = ["memory", "s3"] if args.storage == "both" else [args.storage]
    results: dict[str, Any] = {}
    try:
        for storage in storages:
            results[storage] = bench_storage(spark, work, storage, args)
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)

    targets = []
    print()
    for storage, found in results.items():
        if "stream" in found:  # not with --only-freshness
            stream, baseline = found["stream"], found["baseline"]
            print(
                f"[{storage}] medians: stream {stream['median_rows_per_second']:,}/s "
                f"({stream['median_cpu_us_per_row']} us CPU/row), baseline {baseline['median_rows_per_second']:,}/s "
                f"({baseline['median_cpu_us_per_row']} us CPU/row), tuples encoded in mapInArrow "
                f"{found['tuples_encoded']['median_rows_per_second']:,}/s; ratio stream/baseline {found['ratio']}x "
                f"(CPU per row: {found['cpu_ratio']}x)"
            )
            targets += [
                {
                    "target": f"sustained ingest, {storage} storage",
                    "goal": f">= {TARGET_ROWS_PER_SECOND:,} events/s on 2 cores",
                    "measured": f"{stream['median_rows_per_second']:,}/s",
                    "met": stream["median_rows_per_second"] >= TARGET_ROWS_PER_SECOND,
                },
                {
                    "target": f"ratio to the row-by-row baseline, {storage} storage",
                    "goal": f">= {TARGET_RATIO:g}x",
                    "measured": f"{found['ratio']}x",
                    "met": found["ratio"] >= TARGET_RATIO,
                },
            ]
        if "freshness" in found:
            fresh = found["freshness"]
            print(
                f"[{storage}] freshness at {fresh['rate']}/s, trigger {fresh['trigger_s']} s: p50 {fresh['p50_s']} s, "
                f"p95 {fresh['p95_s']} s (target <= {fresh['target_p95_s']} s), max {fresh['max_s']} s, "
                f"missing {fresh['missing']}"
            )
            for name, (_, _, what) in FRESH_VARIANTS.items():
                if name != "stream" and name in fresh:
                    plain = fresh[name]
                    print(
                        f"[{storage}] freshness {what}: p50 {plain['p50_s']} s, "
                        f"p95 {plain['p95_s']} s, max {plain['max_s']} s, missing {plain['missing']}"
                    )
            targets.append(
                {
                    "target": f"freshness p95 at {fresh['rate']}/s, {storage} storage",
                    "goal": f"<= {fresh['target_p95_s']} s (trigger + 2 s)",
                    "measured": f"{fresh['p95_s']} s",
                    "met": fresh["p95_s"] <= fresh["target_p95_s"] and fresh["missing"] == 0,
                }
            )
    result = {
        "benchmark": "stream_ingest",
        "at": datetime.now(UTC).isoformat(),
        "cores": 2,
        "spark": "local[2]",
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "sizes": vars(args),
        **results,
        "targets": targets,
    }
    # Freshness alone goes to a result of its own: the last full run's throughput figures stay.
    write_result("stream_freshness" if args.only_freshness else "stream_ingest", result)


if __name__ == "__main__":
    main()
