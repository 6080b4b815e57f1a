"""The producer API against a real broker: no 202 without a stored event, 503 fast while it is down."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from eventlake.catalog import published_event_adapter

pytestmark = pytest.mark.integration

CLIENTS = 8


class LoadLoop:
    """Client threads posting events with their own ids; records every answer and how long it took.

    With ``batch_size`` > 1 each request is a ``/v1/batch`` of that many events (the batch requests'
    producer from 20 on), and every event of it is recorded with the request's answer.
    """

    def __init__(self, url: str, batch_size: int = 1) -> None:
        self.url = url
        self.batch_size = batch_size
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers: list[tuple[float, float, int, str]] = []  # (sent at, seconds, status, event_id)

    def client(self, index: int) -> None:
        with httpx.Client(timeout=10) as http:
            while not self.stop.is_set():
                event_ids = [str(uuid.uuid4()) for _ in range(self.batch_size)]
                bodies = [
                    {"user_id": f"user-{index}", "event_id": event_id, "payload": {"amount": "1.25"}}
                    for event_id in event_ids
                ]
                started = time.monotonic()
                try:
                    if self.batch_size == 1:
                        status = http.post(f"{self.url}/v1/events/game.paid", json=bodies[0]).status_code
                    else:
                        batch = [{"event_type": "game.paid", **body} for body in bodies]
                        status = http.post(f"{self.url}/v1/batch", json={"events": batch}).status_code
                except httpx.TransportError:
                    status = 0
                with self.lock:
                    took = time.monotonic() - started
                    self.answers.extend((started, took, status, event_id) for event_id in event_ids)

    def accepted(self) -> set[str]:
        return {event_id for _, _, status, event_id in self.answers if status == 202}


def _run_with_outage(load: LoadLoop, outage: Any, recover: Any, *, outage_seconds: float = 4.0) -> tuple[float, float]:
    """Load, take the broker away mid-load, bring it back, wait for 202s again; (outage start, recovery)."""
    threads = [threading.Thread(target=load.client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        outage_at = time.monotonic()
        outage()
        time.sleep(outage_seconds)
        recovered_at = time.monotonic()
        recover()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.5)
            with load.lock:
                if any(started > recovered_at and status == 202 for started, _, status, _ in load.answers):
                    break
        time.sleep(2)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(30)
    return outage_at, recovered_at


def _assert_outage_answers(load: LoadLoop, outage_at: float, recovered_at: float) -> None:
    # While the broker was away (after in-flight requests drained): only 503s, each within 2 s.
    down = [
        (took, status)
        for started, took, status, _ in load.answers
        if outage_at + 0.5 < started and started + took < recovered_at
    ]
    assert down, "no request was sent while the broker was away"
    assert {status for _, status in down} == {503}, sorted({status for _, status in down})
    assert max(took for took, _ in down) < 2.0
    assert max(took for started, took, _, _ in load.answers if started > outage_at) < 2.0
    # It came back: 202s after the recovery.
    assert 202 in [status for started, _, status, _ in load.answers if started > recovered_at]


def _missing(broker: Any, load: LoadLoop, accepted: set[str], marks: tuple[float, float]) -> str:
    stored = {orjson.loads(m.value())["event_id"] for m in broker.read(["eventlake.game"], expect=accepted)}
    missing = accepted - stored
    when = {event_id: started for started, _, status, event_id in load.answers if status == 202}
    phases = sorted(
        "before outage" if when[i] < marks[0] else "during outage" if when[i] < marks[1] else "after recovery"
        for i in missing
    )
    return f"{len(missing)} of {len(accepted)} accepted events are not in the topic: {phases[:3]}" if missing else ""


def test_broker_frozen_mid_load_every_accepted_event_is_stored(broker: Any, producer_server: Any) -> None:
    """A hung broker (SIGSTOP) mid-load: 503s within 2 s, 202s after, and every 202 is in the topic."""
    load = LoadLoop(producer_server.url)
    marks = _run_with_outage(load, broker.freeze, broker.thaw)

    _assert_outage_answers(load, *marks)
    accepted = load.accepted()
    assert len([1 for started, _, status, _ in load.answers if status == 202 and started < marks[0]]) > 20
    assert not _missing(broker, load, accepted, marks)


def test_broker_killed_mid_load_every_event_accepted_since_restart_is_stored(broker: Any, producer_server: Any) -> None:
    """SIGKILL mid-load, restart (memory storage: the old data is gone by design; every 202 since is stored)."""
    load = LoadLoop(producer_server.url)

    def restart() -> None:
        broker.start()
        broker.create_topics()

    marks = _run_with_outage(load, broker.kill, restart)

    _assert_outage_answers(load, *marks)
    since_restart = {event_id for started, _, status, event_id in load.answers if status == 202 and started > marks[1]}
    assert since_restart
    assert not _missing(broker, load, since_restart, marks)


@pytest.mark.parametrize("broker", ["s3"], indirect=True)
def test_broker_killed_mid_load_on_durable_storage_every_accepted_event_is_stored(
    broker: Any, producer_server: Any
) -> None:
    load = LoadLoop(producer_server.url)
    marks = _run_with_outage(load, broker.kill, broker.start)

    _assert_outage_answers(load, *marks)
    assert not _missing(broker, load, load.accepted(), marks)


@pytest.mark.parametrize("broker", ["s3"], indirect=True)
def test_broker_killed_mid_batch_load_on_durable_storage_every_accepted_event_is_stored(
    broker: Any, producer_server: Any
) -> None:
    """The same through the batch endpoint, whose requests go to the second, lingering producer."""
    load = LoadLoop(producer_server.url, batch_size=25)
    marks = _run_with_outage(load, broker.kill, broker.start)

    _assert_outage_answers(load, *marks)
    accepted = load.accepted()
    assert len([1 for started, _, status, _ in load.answers if status == 202 and started < marks[0]]) > 200
    assert not _missing(broker, load, accepted, marks)


def test_503_within_2_s_while_the_broker_is_down_then_202_again(broker: Any, producer_server: Any) -> None:
    body = {"user_id": "u1", "payload": {"amount": "2.00"}}
    url = f"{producer_server.url}/v1/events/game.paid"
    assert httpx.post(url, json=body, timeout=10).status_code == 202

    broker.kill()
    for _ in range(3):
        started = time.monotonic()
        response = httpx.post(url, json=body, timeout=10)
        took = time.monotonic() - started
        assert response.status_code == 503
        assert took < 2.0
        assert int(response.headers["Retry-After"]) >= 1
        assert response.json()["error"] == "broker_unavailable"
    assert httpx.get(f"{producer_server.url}/ready", timeout=10).status_code == 503

    broker.start()
    deadline = time.monotonic() + 30
    status = 0
    while time.monotonic() < deadline and status != 202:
        status = httpx.post(url, json=body, timeout=10).status_code
        time.sleep(0.2)
    assert status == 202


LEGACY_LOAD = [
    ("GET", "/purchase_a_sword?user_id=knight-1&item_kind=gold&strength=7&price=10", None, "game.item_purchased"),
    ("GET", "/join_a_guild?guild_name=Knights&fee=5", None, "game.guild_joined"),
    ("GET", "/declare_a_war?user_id=knight-2&enemy=Mordor", None, "game.war_declared"),
    ("GET", "/get_paid?amount=12.50", None, "game.paid"),
    ("GET", "/", None, "game.page_viewed"),
    ("GET", "/return_price?asset=BTC", None, "bank.asset_prices_viewed"),
    (
        "POST",
        "/deposit/",
        {"user_id": "c-1", "account_id": "acc-1", "amount": 100.5, "currency": "EUR"},
        "bank.deposited",
    ),
]


def _apache_bench(url: str, requests: int, method: str, body: dict[str, Any] | None, workdir: Path) -> int:
    """Run ab like the original load scripts did; return the non-2xx count."""
    command = ["ab", "-q", "-n", str(requests), "-c", "4", "-H", "User-Agent: ApacheBench/legacy-script"]
    if method == "POST":
        body_file = workdir / "body.json"
        body_file.write_bytes(orjson.dumps(body))
        command += ["-p", str(body_file), "-T", "application/json"]
    output = subprocess.run([*command, url], capture_output=True, text=True, timeout=120, check=True).stdout
    assert f"Complete requests:      {requests}" in output, output
    non_2xx = [line for line in output.splitlines() if line.startswith("Non-2xx responses:")]
    return int(non_2xx[0].split(":")[1]) if non_2xx else 0


def test_legacy_load_scripts_produce_valid_events(broker: Any, producer_server: Any, tmp_path: Path) -> None:
    if shutil.which("ab") is None:
        pytest.fail("Apache Bench is needed: apt-get install -y apache2-utils")
    requests = 50
    for method, path, body, _ in LEGACY_LOAD:
        assert _apache_bench(f"{producer_server.url}{path}", requests, method, body, tmp_path) == 0, path

    events = [published_event_adapter().validate_json(m.value()) for m in broker.read(broker.topics)]
    counts: dict[str, int] = {}
    for event in events:
        counts[event.event_type] = counts.get(event.event_type, 0) + 1
        assert event.context.user_agent == "ApacheBench/legacy-script"
    assert counts == {event_type: requests for *_, event_type in LEGACY_LOAD}
    swords = [e for e in events if e.event_type == "game.item_purchased"]
    assert {(e.user_id, e.payload.item, e.payload.strength) for e in swords} == {("knight-1", "sword", 7)}
    anonymous = {e.user_id for e in events if e.event_type == "game.paid"}
    assert anonymous == {"anonymous@127.0.0.1"}
