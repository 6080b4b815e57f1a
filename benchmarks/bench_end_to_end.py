"""End-to-end benchmark: events/s from HTTP to the curated tables, and the delay from a 202 to queryable.

Starts an isolated embedded stack (the services of `make up`, in its own home on free ports),
bootstraps it through Airflow's REST API, waits for the stream's query to run (the seconds from the
supervisor's start run to that are reported on their own, as the stream's cold start), sends a seeded
load through the producer API (default 200,000 events in batches of 100, as fast as the API takes
them, event times in two closed hours),
waits until the stream has landed every acknowledged event, then compacts both hours through the
``compact_events`` DAG while watching the metastore. Figures, printed and written to
``var/bench/end_to_end.json``:

- sustained events/s from HTTP to the landing zone and to the curated tables (distinct acknowledged
  events over the wall clock from the first request to the last partition published);
- per event, the delay from its 202 to landed (its landing file committed) and to queryable (the
  metastore points its table's hour at a version holding it): p50, p95, max.

Curated tables are hour partitions, compacted once the hour has closed and the lateness grace has
passed. For events stamped with the current time, "queryable" therefore also waits for the hour to
close (up to 60 min) and for the grace: that wait is by design and is printed as its bound next to
the measured processing delay. There is no baseline: nothing comparable runs here.

    .venv/bin/python benchmarks/bench_end_to_end.py [--events 200000] [--batch-size 100]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eventlake import metastore  # noqa: E402
from eventlake.airflow_client import AirflowClient  # noqa: E402
from eventlake.catalog import EVENT_TYPES  # noqa: E402
from eventlake.lake import HourPartition, hours_between, is_hidden  # noqa: E402
from eventlake.loadgen.plan import LoadPlan  # noqa: E402
from eventlake.loadgen.runner import LoadOptions, run_load  # noqa: E402
from eventlake.settings import EventlakeSettings  # noqa: E402
from eventlake.stack.testing import running_stack  # noqa: E402
from eventlake.streaming.control import StreamPaths, driver_progress, read_json  # noqa: E402

SEED = 20261201
TABLE_OF = {et.event_type: et.table for et in EVENT_TYPES}


def say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)

    return {"p50": at(0.50), "p95": at(0.95), "max": round(ordered[-1], 2)}


def local(uri: str) -> Path:
    return Path(uri.removeprefix("file://").removeprefix("file:"))


def landed_at(settings: EventlakeSettings) -> dict[str, float]:
    """Each landed event id's landing time (its file's commit, i.e. modification, time)."""
    root = local(settings.landing_uri)
    times: dict[str, float] = {}
    for path in root.rglob("*.parquet"):
        if any(is_hidden(part) for part in path.relative_to(root).parts):
            continue
        committed = path.stat().st_mtime
        for event_id in pq.read_table(path, columns=["event_id"]).column(0).to_pylist():
            times[event_id] = min(committed, times.get(event_id, committed))
    return times


class PublicationWatch(threading.Thread):
    """Polls the metastore; records when each (table, hour) first points at a new location."""

    def __init__(self, settings: EventlakeSettings, tables: set[str]) -> None:
        super().__init__(daemon=True, name="publication-watch")
        self.settings = settings
        self.tables = tables
        self.before = self.snapshot()
        self.published: dict[tuple[str, HourPartition], float] = {}
        self.done = threading.Event()

    def snapshot(self) -> dict[tuple[str, HourPartition], str]:
        with metastore.connect(self.settings) as client:
            return {
                (table, hour): location
                for table in self.tables
                for hour, location in client.partition_locations(table).items()
            }

    def run(self) -> None:
        while not self.done.is_set():
            now = time.time()
            for key, location in self.snapshot().items():
                if key not in self.published and location != self.before.get(key):
                    self.published[key] = now
            time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--output", type=Path, default=REPO / "var" / "bench" / "end_to_end.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="eventlake-bench-e2e-") as work:
        say("starting an isolated embedded stack")
        with running_stack(Path(work) / "stack", repo_root=REPO) as settings:
            result = measure(settings, args, Path(work))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    say(f"wrote {args.output}")
    return 0


def run_or_fail(client: AirflowClient, dag_id: str, **trigger: Any) -> None:
    run_id, state = client.run_dag(dag_id, **trigger)
    if state != "success":
        raise RuntimeError(f"{dag_id} {run_id} ended {state}:\n{client.failed_task_logs(dag_id, run_id)}")


def wait_for_running_stream(settings: EventlakeSettings, since: float, timeout: float) -> float:
    """Seconds from ``since`` (monotonic) until the current driver's query runs and publishes its progress."""
    paths = StreamPaths.under(settings.run_dir)
    deadline = since + timeout
    while time.monotonic() < deadline:
        if (driver_progress(paths) or {}).get("active"):
            return time.monotonic() - since
        time.sleep(0.5)
    raise RuntimeError(f"the stream's query did not run within {timeout:.0f} s: {read_json(paths.progress)}")


def measure(settings: EventlakeSettings, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    password = settings.admin_password.get_secret_value()
    client = AirflowClient(settings.airflow_url, settings.admin_username, password)
    client.wait_for_dags(["kafka_topics", "bootstrap_tables", "stream_supervisor", "compact_events"], timeout=300)
    run_or_fail(client, "kafka_topics")
    run_or_fail(client, "bootstrap_tables")
    stream_asked = time.monotonic()
    run_or_fail(client, "stream_supervisor", conf={"action": "start"})
    # The supervisor's run ends once it has launched the driver; the load waits for the driver's query to
    # run, so the delays below are the running platform's, not a cold start's (reported on its own).
    stream_ready_seconds = wait_for_running_stream(settings, stream_asked, timeout=300)
    say(f"bootstrapped: topics, tables, stream (query running {stream_ready_seconds:.1f} s after the start run began)")

    now = datetime.now(UTC)
    window_start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    hours = hours_between(window_start, window_start + timedelta(hours=2))
    clock_rng = random.Random(SEED)
    events_path = work / "accepted.jsonl"
    load_started = time.time()
    summary = run_load(
        LoadPlan(seed=SEED, users=2_000),
        LoadOptions(
            url=settings.producer_url,
            count=args.events,
            concurrency=args.concurrency,
            batch_size=args.batch_size,
            events_path=events_path,
            progress=True,
            send_attempts=8,
            clock=lambda: window_start + timedelta(seconds=clock_rng.uniform(0, 7199)),
        ),
    )
    load_ended = time.time()
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    acked = {e["event_id"]: datetime.fromisoformat(e["acknowledged_at"]).timestamp() for e in events}
    say(f"load: {len(acked):,} events acknowledged in {load_ended - load_started:.1f} s ({summary.failed} failed)")

    deadline = time.time() + 900
    landed: dict[str, float] = {}
    while time.time() < deadline:
        landed = landed_at(settings)
        if set(acked) <= set(landed):
            break
        say(f"stream: {len(set(acked) & set(landed)):,} of {len(acked):,} landed")
        time.sleep(5)
    missing = set(acked) - set(landed)
    if missing:
        raise RuntimeError(f"{len(missing)} acknowledged events did not land within 900 s")
    all_landed = max(landed[event_id] for event_id in acked)
    say(f"stream: every event landed {all_landed - load_ended:.1f} s after the load ended")

    tables = {TABLE_OF[e["event_type"]] for e in events}
    watch = PublicationWatch(settings, tables)
    watch.start()
    for hour in hours:
        run_id, state = client.run_dag(
            "compact_events", data_interval=(hour.start, hour.end), logical_date=hour.start, timeout=1800
        )
        if state != "success":
            raise RuntimeError(
                f"compact_events {run_id} ended {state}:\n{client.failed_task_logs('compact_events', run_id)}"
            )
        say(f"compacted {hour.path}")
    time.sleep(1.5)
    watch.done.set()
    watch.join()
    client.run_dag("stream_supervisor", conf={"action": "stop"})

    queryable: list[float] = []
    for event in events:
        key = (TABLE_OF[event["event_type"]], HourPartition.of(datetime.fromisoformat(event["event_time"])))
        queryable.append(watch.published[key] - acked[event["event_id"]])
    all_published = max(watch.published.values())
    grace = settings.compaction_lateness_grace_minutes
    result: dict[str, Any] = {
        "benchmark": "end_to_end",
        "measured_at": datetime.now(UTC).isoformat(),
        "load_average_at_end": list(os.getloadavg()),
        "events_acknowledged": len(acked),
        "requests": summary.requests,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "load_seconds": round(load_ended - load_started, 1),
        "http_acknowledged_events_per_second": round(len(acked) / (load_ended - load_started)),
        "http_to_landing_events_per_second": round(len(acked) / (all_landed - load_started)),
        "http_to_curated_events_per_second": round(len(acked) / (all_published - load_started)),
        "delay_202_to_landed_seconds": quantiles([landed[e] - acked[e] for e in acked]),
        "delay_202_to_curated_seconds": quantiles(queryable),
        "design_wait_for_current_hour_events_seconds": {
            "hour_close_up_to": 3600,
            "lateness_grace": grace * 60,
            "note": "events stamped now also wait for their hour to close and the grace before compaction",
        },
        "partitions_published": len(watch.published),
        "stream_start_to_running_seconds": round(stream_ready_seconds, 1),
        "baseline": "none: no comparable pipeline runs here",
    }
    say(
        f"HTTP -> curated: {result['http_to_curated_events_per_second']:,} events/s; 202 -> queryable p95 "
        f"{result['delay_202_to_curated_seconds'].get('p95')} s (plus, for current-hour events, up to 60 min "
        f"to the hour's close and {grace} min of grace)"
    )
    return result


if __name__ == "__main__":
    sys.exit(main())
