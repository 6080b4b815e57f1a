"""Fault drill: kill -9 the supervised driver three times under load; every message still lands once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from typing import Any

import pytest

from eventlake.settings import load_settings
from eventlake.streaming.control import StreamPaths, read_json
from eventlake.streaming.fixtures import landed_keys, produce, quarantined_keys
from eventlake.streaming.supervisor import StreamSupervisor, process_start_ticks

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def settings_env(settings: Any, overrides: dict[str, Any]) -> dict[str, str]:
    """The EVENTLAKE_* variables that make the driver's load_settings() equal these settings."""
    return {f"EVENTLAKE_{name.upper()}": str(value) for name, value in overrides.items()}


def wait_for(condition: Any, timeout: float, what: str, supervisor: StreamSupervisor | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor is not None:
            supervisor.check()  # the Airflow schedule, compressed: one check per poll
        value = condition()
        if value:
            return value
        time.sleep(2)
    raise TimeoutError(f"timed out waiting for {what}")


def test_kill_9_the_driver_three_times_under_load(stream_settings: Any, spark_master: str) -> None:
    overrides = {
        "home": stream_settings.home,
        "kafka_bootstrap_servers": stream_settings.kafka_bootstrap_servers,
        "kafka_topic_prefix": stream_settings.kafka_topic_prefix,
        "spark_kafka_connector": "python",
        "spark_master_url": spark_master,
        "spark_stream_cores_max": 2,
        "spark_executor_memory": "1g",
        "spark_driver_memory": "1g",
        "stream_trigger_seconds": 1.0,
        "stream_restart_backoff_seconds": 1,
    }
    settings = load_settings(**overrides)
    supervisor = StreamSupervisor(settings, extra_env=settings_env(settings, overrides))
    paths = StreamPaths.under(settings.run_dir)
    valid: set = set()
    malformed: set = set()
    producing = threading.Event()
    producing.set()

    def load() -> None:
        seed = 0
        while producing.is_set():
            v, m = produce(settings, 2_000, malformed_every=100, seed=seed)
            valid.update(v)
            malformed.update(m)
            seed += 1
            time.sleep(1)

    producer = threading.Thread(target=load, daemon=True)
    drivers: list[int] = []
    try:
        assert supervisor.check().running
        producer.start()
        for kill in range(3):
            state = read_json(paths.driver)
            assert state is not None
            drivers.append(state["pid"])

            def committed(token: int = state["token"]) -> bool:
                progress = read_json(paths.progress) or {}
                return progress.get("fencing_token") == token and progress.get("last_commit_at") is not None

            wait_for(committed, 240, f"driver {kill + 1} to commit a batch")
            os.kill(state["pid"], signal.SIGKILL)
            wait_for(lambda pid=state["pid"]: process_start_ticks(pid) is None, 30, "the killed driver to die")
            restarted = wait_for(
                lambda old=state["pid"]: (s := supervisor.check()).running and s.pid != old and s, 120, "a restart"
            )
            assert restarted.token == state["token"] + 1
        producing.clear()
        producer.join(120)
        drivers.append(read_json(paths.driver)["pid"])
        wait_for(lambda: len(set(landed_keys(settings))) >= len(valid), 300, "the tail to land", supervisor)

        landed = Counter(landed_keys(settings))
        assert [k for k, n in landed.items() if n > 1] == [], "duplicates after kill -9"
        assert set(landed) == valid
        assert set(quarantined_keys(settings)) == malformed
        assert len(quarantined_keys(settings)) == len(malformed)
        stopped = supervisor.check("stop")
        assert not stopped.running
        assert json.loads(paths.progress.read_text())["total_lag"] == 0
    finally:
        producing.clear()
        for pid in drivers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
