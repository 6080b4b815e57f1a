"""Market quote ingestion against a local CoinGecko-style fixture server (the internet is unreachable)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from eventlake.catalog import published_event_adapter
from eventlake.market_quotes import (
    current_quote_messages,
    historic_quote_messages,
    price_tick_topic,
    quote_event_id,
    raise_on_delivery_error,
)
from eventlake.settings import EventlakeSettings

NOW = 1795514400  # 2026-11-24T09:20:00Z
DAY_START = datetime(2026, 11, 20, tzinfo=UTC)
SIMPLE_PRICE = {
    "bitcoin": {"usd": 97123.45678912, "last_updated_at": NOW},
    "ethereum": {"usd": 3456.7, "last_updated_at": NOW + 5},
    "solana": {"usd": -1},  # a broken quote: skipped, not published
}


def chart(coin: str, start: int, end: int) -> dict[str, Any]:
    """Hourly points from a day before start to a day after end: the consumer must keep [start, end) only."""
    base = {"bitcoin": 90000.0, "ethereum": 3000.0}.get(coin, 1.0)
    points = range((start - 86400) * 1000, (end + 86400) * 1000, 3600 * 1000)
    return {"prices": [[ms, base + (ms // 3_600_000) % 24 + 0.125] for ms in points]}


class FixtureApi(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        FixtureApi.requests.append(self.path)
        if url.path == "/api/v3/simple/price" and query.get("vs_currencies") == "usd":
            body: Any = {c: SIMPLE_PRICE[c] for c in query["ids"].split(",") if c in SIMPLE_PRICE}
        elif url.path.startswith("/api/v3/coins/") and url.path.endswith("/market_chart/range"):
            coin = url.path.split("/")[4]
            if coin == "unknowncoin":
                self.send_error(404)
                return
            body = chart(coin, int(query["from"]), int(query["to"]))
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FixtureApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FixtureApi.requests = []
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v3"
    finally:
        server.shutdown()


def events(messages: list[tuple[bytes, bytes]]) -> list[Any]:
    return [published_event_adapter().validate_json(value) for _, value in messages]


def test_current_quotes_become_valid_price_ticks_with_exact_prices(api: str) -> None:
    messages = current_quote_messages(api, "bitcoin,ethereum,solana")

    ticks = {e.payload.coin_id: e for e in events(messages)}
    assert set(ticks) == {"bitcoin", "ethereum"}
    assert ticks["bitcoin"].payload.price == Decimal("97123.45678912")
    assert ticks["bitcoin"].payload.symbol == "btc"
    assert ticks["bitcoin"].event_time == datetime.fromtimestamp(NOW, UTC)
    assert ticks["bitcoin"].payload.quote_time == ticks["bitcoin"].event_time
    assert {key for key, _ in messages} == {b"market-feed"}
    assert "vs_currencies=usd" in FixtureApi.requests[0]


def test_a_rerun_publishes_the_same_event_ids(api: str) -> None:
    first = {str(e.event_id) for e in events(current_quote_messages(api, "bitcoin,ethereum"))}
    again = {str(e.event_id) for e in events(current_quote_messages(api, ["bitcoin", "ethereum"]))}

    assert first == again
    assert len(first) == 2


def test_event_ids_are_time_ordered_uuid7() -> None:
    early = quote_event_id("bitcoin", datetime(2026, 1, 1, tzinfo=UTC))
    late = quote_event_id("bitcoin", datetime(2026, 1, 2, tzinfo=UTC))

    assert early[14] == "7"
    assert late[14] == "7"
    assert early < late
    assert quote_event_id("ethereum", datetime(2026, 1, 1, tzinfo=UTC)) != early


def test_no_usable_quote_fails_the_task(api: str) -> None:
    with pytest.raises(RuntimeError, match="no usable quote"):
        current_quote_messages(api, "solana")


def test_backfill_publishes_exactly_the_range(api: str) -> None:
    start, end = DAY_START.isoformat(), datetime(2026, 11, 21, tzinfo=UTC).isoformat()

    ticks = events(historic_quote_messages(api, "bitcoin,ethereum", start, end))

    assert len(ticks) == 2 * 24
    assert min(t.event_time for t in ticks) == DAY_START
    assert max(t.event_time for t in ticks) < datetime(2026, 11, 21, tzinfo=UTC)
    assert all(t.payload.price.as_tuple().exponent == -8 for t in ticks)
    assert {t.payload.price % 1 for t in ticks} == {Decimal("0.125")}


def test_backfill_rejects_an_empty_range_and_http_errors(api: str) -> None:
    with pytest.raises(ValueError, match="empty range"):
        historic_quote_messages(api, "bitcoin", "2026-11-21T00:00:00+00:00", "2026-11-20T00:00:00+00:00")
    with pytest.raises(httpx.HTTPStatusError):
        historic_quote_messages(api, "unknowncoin", "2026-11-20T00:00:00+00:00", "2026-11-21T00:00:00+00:00")


def test_manual_runs_without_an_interval_use_the_quote_time(api: str) -> None:
    assert events(current_quote_messages(api, "bitcoin", fallback_time="None"))[0].event_time.year == 2026


def test_delivery_failure_raises_so_the_task_fails() -> None:
    class Message:
        def topic(self) -> str:
            return "eventlake.market"

    raise_on_delivery_error(None, Message())
    with pytest.raises(RuntimeError, match="not stored"):
        raise_on_delivery_error("Local: Message timed out", Message())


def test_topic_comes_from_the_catalog_and_settings() -> None:
    assert price_tick_topic(EventlakeSettings(kafka_topic_prefix="x.")) == "x.market"


@pytest.mark.parametrize(
    ("dag_id", "params"),
    [
        ("market_quotes", {}),
        ("market_quotes_backfill", {"start": None, "end": None}),
        ("market_quotes_backfill", {"start": "2026-11-20T06:00:00+00:00", "end": "2026-11-20T12:00:00+00:00"}),
    ],
)
def test_dag_templates_render_to_a_working_producer_call(
    api: str, monkeypatch: pytest.MonkeyPatch, dag_id: str, params: dict[str, Any]
) -> None:
    from pathlib import Path

    import pendulum
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.common.compat.module_loading import import_string

    monkeypatch.setenv("EVENTLAKE_MARKET_API_BASE_URL", api)
    monkeypatch.setenv("EVENTLAKE_MARKET_COINS", "bitcoin,ethereum")
    dag_file = Path(__file__).resolve().parents[3] / "dags" / f"{dag_id}.py"
    dag = DagBag(dag_folder=str(dag_file)).dags[dag_id]
    [task] = dag.tasks
    context = {
        "params": params,
        "data_interval_start": pendulum.datetime(2026, 11, 20, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 11, 21, tz="UTC"),
        **dag.user_defined_macros,
    }
    task.render_template_fields(context, jinja_env=dag.get_template_env())

    assert task.topic == "eventlake.market"
    assert task.kafka_config_id == "kafka_default"
    produce = import_string(task.producer_function)
    ticks = events(produce(**task.producer_function_kwargs))
    assert {t.payload.coin_id for t in ticks} == {"bitcoin", "ethereum"}
    if dag_id == "market_quotes_backfill":
        hours = 6 if params["start"] else 24
        assert len(ticks) == 2 * hours
    assert task.delivery_callback.__name__ == "raise_on_delivery_error"
