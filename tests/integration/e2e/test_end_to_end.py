"""End to end, as a user runs it: API -> broker -> stream -> landing -> compaction -> metastore -> reports.

The central promise, checked on the real embedded stack driven through Airflow's REST API:
every event the API acknowledged is in the curated tables exactly once; every rejected one is
nowhere; every malformed message put on a topic is in quarantine with its offset; and the report
numbers equal the same aggregates computed independently from the load generator's own log.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_checks import (
    MALFORMED_BODIES,
    accepted_events,
    admin_client,
    assert_curated_equals,
    assert_each_offset_landed_once,
    bootstrap,
    check_purchase_report,
    check_query_cli,
    event_window,
    leave_stack_idle,
    quarantine_coordinates,
    run_dag,
    wait_for_stream,
)

from eventlake.airflow_client import AirflowClient
from eventlake.lake import hours_between
from eventlake.loadgen.plan import LoadPlan
from eventlake.loadgen.runner import LoadOptions, run_load
from eventlake.settings import EventlakeSettings
from eventlake.streaming.fixtures import produce_malformed

# The goal is under 15 minutes on 2 cores (the figures print at the end); the limit leaves room for a
# loaded machine rather than failing a run that is only slow.
pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(1500)]

LOAD_EVENTS = 200_000
RAW_MALFORMED = 300
SEED = 20261124


def test_every_acknowledged_event_lands_exactly_once_and_reports_add_up(
    embedded_stack: EventlakeSettings, tmp_path: Path
) -> None:
    settings = embedded_stack
    client = admin_client(settings)
    started = time.monotonic()
    timings: dict[str, float] = {}
    bootstrap(client)
    timings["bootstrap"] = time.monotonic() - started
    try:
        check_conservation(settings, client, tmp_path, started, timings)
    finally:
        leave_stack_idle(client)


def check_conservation(
    settings: EventlakeSettings, client: AirflowClient, tmp_path: Path, started: float, timings: dict[str, float]
) -> None:
    """Load, stream, compact and report; every acknowledged event exactly once, reports add up."""

    def lap(phase: str) -> None:
        timings[phase] = time.monotonic() - started - sum(timings.values())

    # A seeded load: every event type, skewed users, client retries (same event_id), malformed
    # requests; event times spread over two closed hours so that compaction may take them.
    window_start, window_end = event_window(datetime.now(UTC))
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
    lap("load")
    assert summary.failed == 0
    assert summary.unexpected == 0
    assert summary.rejected > 0, "the load should include malformed requests"
    assert summary.retries_sent > 0, "the load should include client retries"
    # `summary.accepted` counts every 202'd event, retries included (each one is a message on the
    # topic, removed later by compaction); the log has one line per distinct acknowledged id.
    distinct = accepted_events(events_path)
    assert len(distinct) == len(summary.accepted_event_ids)
    assert summary.accepted > len(distinct), "retried ids were acknowledged more than once"

    # Malformed messages straight on the topics (they bypass the API's validation).
    malformed = produce_malformed(settings, RAW_MALFORMED, seed=SEED, samples=MALFORMED_BODIES)
    assert len(malformed) == RAW_MALFORMED

    # The stream lands every message once: one landing row per acknowledged message.
    landing = wait_for_stream(settings, set(distinct), RAW_MALFORMED, timeout=300)
    lap("stream")
    assert len(landing) == summary.accepted, f"landing: {len(landing)} rows, acknowledged: {summary.accepted}"
    assert_each_offset_landed_once(landing)
    assert {r["event_id"] for r in landing} == set(distinct)
    quarantine = quarantine_coordinates(settings)
    assert set(quarantine) == malformed
    assert len(quarantine) == RAW_MALFORMED

    # Compact each hour of the window through the DAG (explicit data intervals): curated tables =
    # accepted events, each exactly once, in the partition of its event hour.
    hours = hours_between(window_start, window_end)
    for hour in hours:
        run_dag(client, "compact_events", data_interval=(hour.start, hour.end), logical_date=hour.start, timeout=900)
    lap("compaction")
    # Only the window's hours: the session's stack also holds a day published by the analytics tests.
    assert_curated_equals(settings, set(distinct), hours)

    # Reports for each hour, and their numbers against the load generator's log.
    for hour in hours:
        run_dag(client, "run_analytics_hourly", data_interval=(hour.start, hour.end), logical_date=hour.start)
    lap("analytics")
    check_purchase_report(settings, hours, distinct.values())
    # Ad-hoc SQL over the same tables, as a user types it.
    check_query_cli(settings, hours, distinct.values())

    print(f"end to end: {summary.accepted} acknowledged events, {len(distinct)} distinct; timings {timings}")
