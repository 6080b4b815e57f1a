"""End to end, as a user runs it: API -> broker -> stream -> landing -> compaction -> metastore -> reports.

The central promise, checked on the real embedded stack driven through Airflow's REST API:
every event the API acknowledged is in the curated tables exactly once; every rejected one is
nowhere; every malformed message put on a topic is in quarantine with its offset; and the report
numbers equal the same aggregates computed independently from the load generator's own log.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from eventlake import metastore
from eventlake.airflow_client import AirflowClient
from eventlake.catalog import EVENT_TYPES
from eventlake.lake import HourPartition, hours_between, is_hidden
from eventlake.loadgen.plan import LoadPlan
from eventlake.loadgen.runner import LoadOptions, run_load
from eventlake.settings import EventlakeSettings
from eventlake.streaming.control import StreamPaths, read_json

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

LOAD_EVENTS = 200_000
RAW_MALFORMED = 300
SEED = 20261124


# --- helpers ---------------------------------------------------------------------------------------
def run_dag(client: AirflowClient, dag_id: str, *, timeout: float = 600, **trigger: Any) -> str:
    """Unpause and trigger a DAG as a user would (REST API) and wait; fail with the failed tasks' logs."""
    client.set_paused(dag_id, False)
    run_id = client.trigger(dag_id, **trigger)
    state = client.wait_for_run(dag_id, run_id, timeout=timeout)
    if state != "success":
        logs = []
        for ti in client.task_instances(dag_id, run_id):
            if ti["state"] not in ("success", "skipped"):
                log = client.task_log(dag_id, run_id, ti["task_id"], max(1, ti.get("try_number") or 1))
                logs.append(f"--- {ti['task_id']} ({ti['state']}) ---\n{log[-4000:]}")
        pytest.fail(f"{dag_id} run {run_id} ended {state}:\n" + "\n".join(logs))
    return run_id


def local_path(uri: str) -> Path:
    assert uri.startswith("file:"), uri
    return Path(uri.removeprefix("file://").removeprefix("file:"))


def visible_parquet(root: Path) -> list[Path]:
    """Parquet files a directory-listing reader sees (hidden names skipped at every level)."""
    return [
        path for path in root.rglob("*.parquet") if not any(is_hidden(part) for part in path.relative_to(root).parts)
    ]


def produce_raw_malformed(settings: EventlakeSettings, count: int) -> set[tuple[str, int, int]]:
    """Put malformed messages straight on the event topics; their (topic, partition, offset)."""
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True, "acks": "all"}
    )
    delivered: set[tuple[str, int, int]] = set()
    rng = random.Random(SEED)
    topics = sorted({settings.topic(et.topic_name) for et in EVENT_TYPES})
    bodies = [
        b"{not json",
        b"\xff\xfe invalid utf-8",
        b'{"event_type": "game.unknown", "user_id": "u1"}',
        b'{"event_type": "game.item_purchased", "schema_version": 1, "payload": {"strength": 99}}',
        b"[]",
        b"",
    ]

    def on_delivery(error: Any, message: Any) -> None:
        assert error is None, error
        delivered.add((message.topic(), message.partition(), message.offset()))

    for n in range(count):
        producer.produce(
            rng.choice(topics), key=f"bad-{n}".encode(), value=bodies[n % len(bodies)], on_delivery=on_delivery
        )
    assert producer.flush(30) == 0
    return delivered


def read_rows(paths: list[Path], columns: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        rows += pq.read_table(path, columns=columns).to_pylist()
    return rows


# --- the test --------------------------------------------------------------------------------------
def test_every_acknowledged_event_lands_exactly_once_and_reports_add_up(
    embedded_stack: EventlakeSettings, tmp_path: Path
) -> None:
    settings = embedded_stack
    client = AirflowClient(settings.airflow_url, settings.admin_username, settings.admin_password.get_secret_value())
    started = time.monotonic()
    timings: dict[str, float] = {}

    # 1. Bootstrap through the REST API, as a user would through the UI: topics, tables, the stream.
    client.wait_for_dags(["kafka_topics", "bootstrap_tables", "stream_supervisor", "compact_events"], timeout=180)
    run_dag(client, "kafka_topics")
    run_dag(client, "bootstrap_tables")
    run_dag(client, "stream_supervisor", conf={"action": "start"})
    timings["bootstrap"] = time.monotonic() - started
    try:
        check_conservation(settings, client, tmp_path, started, timings)
    finally:
        # The stack is shared with later tests: leave it without a stream and with its DAGs paused.
        run_dag(client, "stream_supervisor", conf={"action": "stop"})
        for dag_id in ("stream_supervisor", "compact_events", "run_analytics_hourly"):
            client.set_paused(dag_id, True)


def check_conservation(
    settings: EventlakeSettings, client: AirflowClient, tmp_path: Path, started: float, timings: dict[str, float]
) -> None:
    """Load, stream, compact and report; every acknowledged event exactly once, reports add up."""

    # 2. A seeded load: every event type, skewed users, client retries (same event_id), malformed
    #    requests; event times spread over two closed hours so that compaction may take them.
    now = datetime.now(UTC)
    window_start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    window_end = window_start + timedelta(hours=2)
    clock_rng = random.Random(SEED)

    def clock() -> datetime:
        return window_start + timedelta(seconds=clock_rng.uniform(0, 7199))

    events_path = tmp_path / "accepted.jsonl"
    summary = run_load(
        LoadPlan(seed=SEED, users=2_000, retry_share=0.02, malformed_share=0.005),
        LoadOptions(
            url=settings.producer_url,
            count=LOAD_EVENTS,
            concurrency=8,
            batch_size=200,
            events_path=events_path,
            summary_path=tmp_path / "summary.json",
            progress=False,
            clock=clock,
            send_attempts=8,
        ),
    )
    timings["load"] = time.monotonic() - started - sum(timings.values())
    assert summary.failed == 0
    assert summary.unexpected == 0
    assert summary.rejected > 0, "the load should include malformed requests"
    assert summary.retries_sent > 0, "the load should include client retries"
    # One JSON line per distinct acknowledged event id; `summary.accepted` counts every 202'd event,
    # retries included (each one is a message on the topic, removed later by compaction).
    distinct = {e["event_id"]: e for e in map(json.loads, events_path.read_text().splitlines())}
    assert len(distinct) == len(summary.accepted_event_ids)
    assert summary.accepted > len(distinct), "retried ids were acknowledged more than once"

    # 3. Malformed messages straight on the topics (they bypass the API's validation).
    malformed = produce_raw_malformed(settings, RAW_MALFORMED)
    assert len(malformed) == RAW_MALFORMED

    # 4. Wait for the stream to land every message: one landing row per acknowledged message.
    paths = StreamPaths.under(settings.run_dir)
    landing_root = local_path(settings.landing_uri)
    quarantine_root = local_path(settings.quarantine_uri)
    deadline = time.monotonic() + 300
    landed_count = quarantined_count = 0
    while time.monotonic() < deadline:
        progress = read_json(paths.progress) or {}
        landed_count = int(progress.get("landed_rows") or 0)
        quarantined_count = int(progress.get("quarantined_rows") or 0)
        if landed_count >= summary.accepted and quarantined_count >= RAW_MALFORMED:
            break
        time.sleep(2)
    timings["stream"] = time.monotonic() - started - sum(timings.values())
    landing = read_rows(visible_parquet(landing_root), ["event_id", "kafka_topic", "kafka_partition", "kafka_offset"])
    assert len(landing) == summary.accepted, f"landing: {len(landing)} rows, acknowledged: {summary.accepted}"
    coordinates = Counter((r["kafka_topic"], r["kafka_partition"], r["kafka_offset"]) for r in landing)
    assert max(coordinates.values()) == 1, "a Kafka offset landed twice"
    assert {r["event_id"] for r in landing} == set(distinct)

    quarantine = read_rows(visible_parquet(quarantine_root), ["kafka_topic", "kafka_partition", "kafka_offset"])
    assert {(r["kafka_topic"], r["kafka_partition"], r["kafka_offset"]) for r in quarantine} == malformed
    assert len(quarantine) == RAW_MALFORMED

    # 5. Compact each hour of the window through the DAG (explicit data intervals).
    hours = hours_between(window_start, window_end)
    for hour in hours:
        run_dag(client, "compact_events", data_interval=(hour.start, hour.end), logical_date=hour.start, timeout=900)
    timings["compaction"] = time.monotonic() - started - sum(timings.values())

    # Curated tables = accepted events, each exactly once, in the partition of its event hour.
    curated_ids: Counter[str] = Counter()
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for et in EVENT_TYPES:
        locations = metastore.partition_locations(settings, et.table)
        for hour, location in locations.items():
            rows = read_rows(visible_parquet(local_path(location)), ["event_id", "event_time"])
            for row in rows:
                assert HourPartition.of(row["event_time"].replace(tzinfo=UTC)) == hour
            curated_ids.update(r["event_id"] for r in rows)
            by_type[et.event_type] += rows
    assert max(curated_ids.values()) == 1, "an event is twice in the curated tables"
    assert set(curated_ids) == set(distinct), (
        f"curated: {len(curated_ids)} ids, accepted: {len(distinct)}; "
        f"missing {len(set(distinct) - set(curated_ids))}, extra {len(set(curated_ids) - set(distinct))}"
    )

    # 6. Reports for each hour, and their numbers against the load generator's log.
    for hour in hours:
        run_dag(client, "run_analytics_hourly", data_interval=(hour.start, hour.end), logical_date=hour.start)
    timings["analytics"] = time.monotonic() - started - sum(timings.values())
    check_purchase_report(settings, hours, distinct.values())

    print(f"end to end: {summary.accepted} acknowledged events, {len(distinct)} distinct; timings {timings}")


def check_purchase_report(settings: EventlakeSettings, hours: list[HourPartition], events: Any) -> None:
    """The purchases report equals the aggregate computed here from the accepted events."""
    from eventlake.reports.store import ReportStore, reports_root

    store = ReportStore(reports_root(settings.resolved_reports_uri))
    for hour in hours:
        expected: dict[tuple[str, str], tuple[int, Decimal]] = {}
        for event in events:
            if event["event_type"] != "game.item_purchased":
                continue
            if HourPartition.of(datetime.fromisoformat(event["event_time"])) != hour:
                continue
            key = (event["payload"]["item"], event["payload"]["item_kind"])
            count, revenue = expected.get(key, (0, Decimal(0)))
            expected[key] = (count + 1, revenue + Decimal(str(event["payload"]["price"])))
        interval_id = next(
            report.interval_id
            for report in store.published()
            if report.question == "game_purchases_by_item"
            and report.interval_id.startswith(hour.start.strftime("%Y%m%dT%H"))
        )
        table = pq.read_table(store.file("game_purchases_by_item", interval_id, "result.parquet")).to_pylist()
        got = {(row["item"], row["item_kind"]): (int(row["purchases"]), Decimal(str(row["revenue"]))) for row in table}
        assert got == expected, f"purchases report for {hour.path} differs from the accepted events"
