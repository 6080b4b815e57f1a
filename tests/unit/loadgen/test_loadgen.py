"""The load generator: a seeded, skewed, realistic plan, and a run against the real app in-process."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from werkzeug.serving import make_server

from eventlake.catalog import EVENT_TYPES, published_event_adapter
from eventlake.kafka_publisher import MemoryPublisher
from eventlake.loadgen import LoadOptions, LoadPlan, run_load
from eventlake.loadgen.__main__ import main
from eventlake.settings import EventlakeSettings
from producer_app import create_app

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def take(plan: LoadPlan, n: int) -> list[Any]:
    return list(islice(plan.requests(lambda: NOW), n))


def test_plan_is_deterministic_for_a_seed_apart_from_ids() -> None:
    def shape(requests: list[Any]) -> list[Any]:
        return [(r.kind, r.path, r.user_id, orjson.dumps(r.payload)) for r in requests]

    assert shape(take(LoadPlan(seed=7), 500)) == shape(take(LoadPlan(seed=7), 500))
    assert shape(take(LoadPlan(seed=7), 500)) != shape(take(LoadPlan(seed=8), 500))


def test_plan_covers_every_event_type_with_skewed_users_in_sessions() -> None:
    requests = take(LoadPlan(seed=1, users=200, retry_share=0), 5000)

    assert {r.event_type for r in requests} == {et.event_type for et in EVENT_TYPES}
    per_user = Counter(r.user_id for r in requests).most_common()
    top_share = sum(n for _, n in per_user[:20]) / len(requests)
    assert top_share > 0.3  # the top 10% of users make far more than 10% of the events
    consecutive_same_user = sum(a.user_id == b.user_id for a, b in pairwise(requests))
    assert consecutive_same_user / len(requests) > 0.5  # sessions: runs of one user's events


def test_retries_reuse_the_event_id_and_malformed_requests_are_marked() -> None:
    requests = take(LoadPlan(seed=3, retry_share=0.05, malformed_share=0.1), 4000)
    valid_ids = [r.event_id for r in requests if r.kind == "valid"]
    retries = [r for r in requests if r.kind == "retry"]
    malformed = [r for r in requests if r.kind == "malformed"]

    assert len(set(valid_ids)) == len(valid_ids)
    assert retries
    assert all(r.event_id in set(valid_ids) for r in retries)
    assert 0.06 < len(malformed) / len(requests) < 0.14
    assert {r.malformed for r in malformed} >= {"not_json", "missing_field", "wrong_content_type"}


@pytest.fixture
def server() -> Iterator[tuple[str, MemoryPublisher]]:
    publisher = MemoryPublisher()
    app = create_app(EventlakeSettings(), publisher)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", publisher
    finally:
        httpd.shutdown()


@pytest.mark.parametrize("batch_size", [1, 25])
def test_run_accepts_what_the_api_published_and_the_jsonl_recomputes_aggregates(
    server: tuple[str, MemoryPublisher], tmp_path: Path, batch_size: int
) -> None:
    url, publisher = server
    options = LoadOptions(
        url=url,
        count=400,
        concurrency=8,
        batch_size=batch_size,
        summary_path=tmp_path / "summary.json",
        events_path=tmp_path / "events.jsonl",
        progress=False,
    )
    summary = run_load(LoadPlan(seed=5, retry_share=0.02, malformed_share=0.2), options)

    published = [published_event_adapter().validate_json(m.value) for m in publisher.messages]
    assert summary.failed == 0
    assert summary.unexpected == 0
    assert summary.sent_events == 400
    assert summary.accepted + summary.rejected == 400
    assert summary.malformed_sent == summary.rejected > 0
    assert set(summary.accepted_event_ids) == {str(e.event_id) for e in published}
    assert summary.latency_ms["p50"] <= summary.latency_ms["p95"] <= summary.latency_ms["p99"]
    written = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert written["accepted_event_ids"] == summary.accepted_event_ids
    # Aggregates recomputed from the JSONL equal those of what was published (deduplicated by id).
    lines = [orjson.loads(line) for line in (tmp_path / "events.jsonl").read_bytes().splitlines()]
    unique_published = {str(e.event_id): e for e in published}
    assert len(lines) == len(unique_published)
    deposits_from_jsonl = sum(Decimal(r["payload"]["amount"]) for r in lines if r["event_type"] == "bank.deposited")
    deposits_published = sum(e.payload.amount for e in unique_published.values() if e.event_type == "bank.deposited")
    assert deposits_from_jsonl == deposits_published


def test_cli_writes_the_summary(server: tuple[str, MemoryPublisher], tmp_path: Path) -> None:
    url, publisher = server
    code = main(
        ["--url", url, "--count", "50", "--retry-share", "0", "--no-progress", "--summary", str(tmp_path / "s.json")]
    )

    assert code == 0
    assert len(orjson.loads((tmp_path / "s.json").read_bytes())["accepted_event_ids"]) == 50
    assert len(publisher.messages) == 50


def test_batch_mode_sends_malformed_requests_singly_as_planned() -> None:
    from eventlake.loadgen.runner import _Run

    plan = LoadPlan(seed=11, malformed_share=1.0, retry_share=0)
    malformed = next(r for r in plan.requests(lambda: NOW) if r.malformed == "not_json")
    run = _Run(plan, LoadOptions(url="http://127.0.0.1:9", batch_size=50, progress=False))

    path, body, content_type = run._request([malformed])

    assert (path, body, content_type) == (malformed.path, malformed.body, malformed.content_type)


def test_a_stop_event_ends_an_open_ended_load_and_keeps_its_summary(server: tuple[str, MemoryPublisher]) -> None:
    url, publisher = server
    stop = threading.Event()
    options = LoadOptions(url=url, count=None, duration_seconds=600, rate_per_second=400, concurrency=4, progress=False)
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    summary = run_load(LoadPlan(seed=9), options, stop=stop)
    timer.join()
    assert 0 < summary.sent_events < 2_000, "sent for about a second at 400 events/s, then stopped"
    assert summary.elapsed_seconds < 30
    assert set(summary.accepted_event_ids) <= {orjson.loads(m.value)["event_id"] for m in publisher.messages}
