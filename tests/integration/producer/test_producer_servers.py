"""Both WSGI servers the producer runs under (granian, the default, and gunicorn), on a real broker.

For each: events are acknowledged and stored, a killed worker is replaced, and a graceful stop (SIGTERM)
while requests wait for a frozen broker still stores every one of them: each worker flushes its producer
before it exits.
"""

from __future__ import annotations

import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import psutil
import pytest

pytestmark = pytest.mark.integration

EVENT = {"user_id": "player-7", "payload": {"item": "sword", "item_kind": "gold", "strength": 7, "price": "25.00"}}
URL = "/v1/events/game.item_purchased"


def _post(url: str, event_id: str) -> int:
    try:
        return httpx.post(f"{url}{URL}", json={**EVENT, "event_id": event_id}, timeout=30).status_code
    except httpx.TransportError:  # the server went away before answering: not acknowledged, may be stored
        return 0


def _stored_ids(broker: Any, expect: set[str]) -> set[str]:
    return {orjson.loads(m.value())["event_id"] for m in broker.read(["eventlake.game"], expect=expect)}


@pytest.mark.parametrize("server_name", ["granian", "gunicorn"])
def test_events_acknowledged_under_each_server_are_stored(broker: Any, start_server: Any, server_name: str) -> None:
    server = start_server(server=server_name, workers=2)
    ids = [str(uuid.uuid4()) for _ in range(200)]
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda event_id: _post(server.url, event_id), ids))
    assert codes == [202] * len(ids)
    assert _stored_ids(broker, set(ids)) >= set(ids)


@pytest.mark.parametrize(("server_name", "workers"), [("granian", 1), ("granian", 2), ("gunicorn", 2)])
def test_a_killed_worker_is_replaced(broker: Any, start_server: Any, server_name: str, workers: int) -> None:
    """kill -9 a worker: the master starts another and the API answers 202 again within seconds.

    With a single granian worker connections are refused until the new worker listens; with two (the
    default) the other keeps serving.
    """
    server = start_server(server=server_name, workers=workers)
    master = psutil.Process(server.process.pid)
    victim = master.children()[0]
    killed = time.monotonic()
    victim.kill()
    deadline = killed + 30
    while time.monotonic() < deadline:
        alive = [p for p in master.children() if p.pid != victim.pid and p.is_running()]
        if len(alive) == workers and _post(server.url, str(uuid.uuid4())) == 202:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"{server_name} did not replace the killed worker: {server.log.read_text()[-2000:]}")
    assert time.monotonic() - killed < 10
    assert server.process.poll() is None


@pytest.mark.parametrize("server_name", ["granian", "gunicorn"])
def test_sigterm_flushes_what_waits_for_the_broker(broker: Any, start_server: Any, server_name: str) -> None:
    """Requests wait on a frozen broker when the server is told to stop; thawed, every event is stored."""
    server = start_server(server=server_name, workers=2)
    ids = [str(uuid.uuid4()) for _ in range(20)]
    broker.freeze()
    try:
        with ThreadPoolExecutor(len(ids)) as pool:
            answers = [pool.submit(_post, server.url, event_id) for event_id in ids]
            time.sleep(1.0)  # every request is in a worker, its event in the producer's queue
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert server.process.poll() is None, "the server exited without waiting for its producers"
            broker.thaw()
            server.process.wait(30)
            codes = [answer.result() for answer in answers]
    finally:
        broker.thaw()
    stored = _stored_ids(broker, set(ids))
    assert set(ids) <= stored, f"lost on shutdown: {sorted(set(ids) - stored)} (answers {codes})"
    assert server.process.returncode == 0, server.log.read_text()[-2000:]
