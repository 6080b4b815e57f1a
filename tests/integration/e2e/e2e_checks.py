"""What the end-to-end test and the fault drills share: driving Airflow as a user, and conservation checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventlake import metastore
from eventlake.airflow_client import AirflowClient
from eventlake.analytics.intervals import ReportInterval
from eventlake.catalog import EVENT_TYPES
from eventlake.lake import HourPartition, is_hidden
from eventlake.settings import EventlakeSettings
from eventlake.streaming.control import StreamPaths, read_json

#: DAGs the platform needs before a load: topics, tables, the stream's supervisor, compaction.
PLATFORM_DAGS = ["kafka_topics", "bootstrap_tables", "stream_supervisor", "compact_events"]
MALFORMED_BODIES = [
    b"{not json",
    b"\xff\xfe invalid utf-8",
    b'{"event_type": "game.unknown", "user_id": "u1"}',
    b'{"event_type": "game.item_purchased", "schema_version": 1, "payload": {"strength": 99}}',
    b"[]",
    b"",
]


def admin_client(settings: EventlakeSettings) -> AirflowClient:
    return AirflowClient(settings.airflow_url, settings.admin_username, settings.admin_password.get_secret_value())


def run_dag(client: AirflowClient, dag_id: str, *, timeout: float = 600, **trigger: Any) -> str:
    """Unpause and trigger a DAG as a user would (REST API) and wait; fail with the failed tasks' logs."""
    run_id, state = client.run_dag(dag_id, timeout=timeout, **trigger)
    if state != "success":
        pytest.fail(f"{dag_id} run {run_id} ended {state}:\n{client.failed_task_logs(dag_id, run_id)}")
    return run_id


def bootstrap(client: AirflowClient) -> None:
    """Topics, tables and the stream, through the REST API as a user would through the UI."""
    client.wait_for_dags(PLATFORM_DAGS, timeout=180)
    run_dag(client, "kafka_topics")
    run_dag(client, "bootstrap_tables")
    run_dag(client, "stream_supervisor", conf={"action": "start"})


def leave_stack_idle(client: AirflowClient) -> None:
    """Stop the stream and pause the platform's DAGs (the stack may be shared with later tests)."""
    run_dag(client, "stream_supervisor", conf={"action": "stop"})
    for dag_id in ("stream_supervisor", "compact_events", "run_analytics_hourly"):
        client.set_paused(dag_id, True)


def event_window(now: datetime) -> tuple[datetime, datetime]:
    """Two closed hours ending an hour before ``now``: compaction may take them at once."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    return start, start + timedelta(hours=2)


def local_path(uri: str) -> Path:
    assert uri.startswith("file:"), uri
    return Path(uri.removeprefix("file://").removeprefix("file:"))


def visible_parquet(root: Path) -> list[Path]:
    """Parquet files a directory-listing reader sees (hidden names skipped at every level)."""
    return [
        path for path in root.rglob("*.parquet") if not any(is_hidden(part) for part in path.relative_to(root).parts)
    ]


def read_rows(paths: list[Path], columns: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        rows += pq.read_table(path, columns=columns).to_pylist()
    return rows


def accepted_events(events_path: Path) -> dict[str, dict[str, Any]]:
    """The load generator's log: one JSON line per distinct acknowledged event, by event id."""
    return {event["event_id"]: event for event in map(json.loads, events_path.read_text().splitlines())}


def landing_rows(settings: EventlakeSettings) -> list[dict[str, Any]]:
    columns = ["event_id", "kafka_topic", "kafka_partition", "kafka_offset"]
    return read_rows(visible_parquet(local_path(settings.landing_uri)), columns)


def quarantine_coordinates(settings: EventlakeSettings) -> list[tuple[str, int, int]]:
    rows = read_rows(
        visible_parquet(local_path(settings.quarantine_uri)), ["kafka_topic", "kafka_partition", "kafka_offset"]
    )
    return [(r["kafka_topic"], r["kafka_partition"], r["kafka_offset"]) for r in rows]


def wait_for_stream(
    settings: EventlakeSettings, accepted_ids: set[str], quarantined: int, timeout: float
) -> list[dict[str, Any]]:
    """Wait until every accepted id landed and the quarantine holds ``quarantined`` rows; the landing rows."""
    paths = StreamPaths.under(settings.run_dir)
    deadline = time.monotonic() + timeout
    while True:
        progress = read_json(paths.progress) or {}
        if progress.get("total_lag") == 0 or time.monotonic() > deadline:
            rows = landing_rows(settings)
            if accepted_ids <= {r["event_id"] for r in rows} and len(quarantine_coordinates(settings)) >= quarantined:
                return rows
            if time.monotonic() > deadline:
                missing = sorted(accepted_ids - {r["event_id"] for r in rows})
                pytest.fail(
                    f"after {timeout:.0f}s {len(missing)} acknowledged events are not in the landing zone, e.g. "
                    f"{missing[:5]}; stream progress: {json.dumps(progress)[:1500]}"
                )
        time.sleep(5)


def assert_each_offset_landed_once(rows: list[dict[str, Any]]) -> None:
    coordinates = Counter((r["kafka_topic"], r["kafka_partition"], r["kafka_offset"]) for r in rows)
    twice = [c for c, n in coordinates.items() if n > 1]
    assert not twice, f"{len(twice)} Kafka offsets landed twice, e.g. {twice[:3]}"


def curated_ids(settings: EventlakeSettings) -> dict[HourPartition, Counter[str]]:
    """Every event id in the curated tables (as the metastore points at them), by event hour (checked)."""
    ids: dict[HourPartition, Counter[str]] = {}
    for et in EVENT_TYPES:
        for hour, location in metastore.partition_locations(settings, et.table).items():
            rows = read_rows(visible_parquet(local_path(location)), ["event_id", "event_time"])
            for row in rows:
                assert HourPartition.of(row["event_time"].replace(tzinfo=UTC)) == hour
            ids.setdefault(hour, Counter()).update(r["event_id"] for r in rows)
    return ids


def assert_curated_equals(
    settings: EventlakeSettings, accepted_ids: set[str], hours: Iterable[HourPartition] | None = None
) -> None:
    """The curated tables hold each accepted event once; with ``hours`` (the test's window, when other
    tests of the session's stack published hours of their own), those hours hold exactly the accepted
    events and no other hour holds any of them."""
    by_hour = curated_ids(settings)
    window = set(by_hour) if hours is None else set(hours)
    ids: Counter[str] = sum((found for hour, found in by_hour.items() if hour in window), Counter())
    assert not ids or max(ids.values()) == 1, "an event is twice in the curated tables"
    assert set(ids) == accepted_ids, (
        f"curated: {len(ids)} ids, accepted: {len(accepted_ids)}; "
        f"missing {len(accepted_ids - set(ids))}, extra {len(set(ids) - accepted_ids)}"
    )
    elsewhere = {hour for hour, found in by_hour.items() if hour not in window and accepted_ids & set(found)}
    assert not elsewhere, f"accepted events in curated hours outside the window: {sorted(elsewhere)[:5]}"


def check_purchase_report(settings: EventlakeSettings, hours: list[HourPartition], events: Iterable[Any]) -> None:
    """The purchases report of each hour equals the aggregate computed here from the accepted events."""
    from eventlake.reports.store import ReportStore

    events = list(events)
    store = ReportStore.from_settings(settings)
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
        result = store.read("game_purchases_by_item", interval_id, "result.parquet")
        table = pq.read_table(pa.BufferReader(result)).to_pylist()
        got = {(row["item"], row["item_kind"]): (int(row["purchases"]), Decimal(str(row["revenue"]))) for row in table}
        assert got == expected, f"purchases report for {hour.path} differs from the accepted events"


def check_query_cli(settings: EventlakeSettings, hours: list[HourPartition], events: Iterable[Any]) -> None:
    """The ad-hoc query CLI, run as a user runs it, counts each type's curated events as acknowledged;
    fed the same question twice on stdin (a console), it gives the same answer twice.

    Asked over the window's interval (``--interval``, the questions' predicate), not its dates: the
    session's stack also holds the analytics tests' day (yesterday, hours 0-20), which is the window's
    date too when the test runs in the first three hours of a UTC day."""
    expected = dict(Counter(event["event_type"] for event in events))
    sql = (
        "select event_type, count(*) as n from curated_events "
        "where event_date between :first_date and :last_date "
        "and event_time >= :interval_start and event_time < :interval_end group by 1 order by 1"
    )
    window = ReportInterval.of(hours[0].start, hours[-1].end)
    command = [sys.executable, *("-m", "eventlake.analytics.query", "--format", "json", "--interval", window.id)]
    env = {**os.environ, **settings.as_env()}
    done = subprocess.run(
        command, input=f"{sql};\n{sql};\n", env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == 2 * len(expected), done.stdout
    first, again = answers[: len(expected)], answers[len(expected) :]
    assert {row["event_type"]: row["n"] for row in first} == expected
    assert again == first
    assert done.stderr.count(f"({len(expected)} rows in ") == 2, done.stderr
