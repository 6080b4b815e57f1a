"""The market quote DAG's operator (Kafka provider's ProduceToTopicOperator) against a real broker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from eventlake.catalog import published_event_adapter

pytestmark = pytest.mark.integration

PRICES = {"bitcoin": {"usd": 97000.5, "last_updated_at": 1795514400}, "ethereum": {"usd": 3400.25}}


class PriceApi(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = json.dumps(PRICES).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def price_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PriceApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def operator(bootstrap: str, price_api: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from airflow.providers.apache.kafka.operators.produce import ProduceToTopicOperator

    # log_level 0: the failed producer lingers in the traceback and would log every reconnect attempt
    extra = {"bootstrap.servers": bootstrap, "message.timeout.ms": 3000, "log_level": 0}
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_DEFAULT", json.dumps({"conn_type": "kafka", "extra": extra}))
    # The arguments the DAG's templates render to.
    return ProduceToTopicOperator(
        task_id="publish_current_quotes",
        kafka_config_id="kafka_default",
        topic="eventlake.market",
        producer_function="eventlake.market_quotes.current_quote_messages",
        producer_function_kwargs={"base_url": price_api, "coins": "bitcoin,ethereum", "fallback_time": "None"},
        delivery_callback="eventlake.market_quotes.raise_on_delivery_error",
        synchronous=False,
    )


def test_quotes_land_in_the_market_topic(broker: Any, price_api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    operator(broker.bootstrap, price_api, monkeypatch).execute({})

    ticks = [published_event_adapter().validate_json(m.value()) for m in broker.read(["eventlake.market"])]
    assert sorted(t.payload.coin_id for t in ticks) == ["bitcoin", "ethereum"]
    assert all(t.event_type == "market.price_tick" for t in ticks)


def test_broker_down_fails_the_task(broker: Any, price_api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    task = operator(broker.bootstrap, price_api, monkeypatch)
    broker.kill()
    started = time.monotonic()

    with pytest.raises(Exception, match=r"not stored|timed out"):
        task.execute({})
    assert time.monotonic() - started < 30
