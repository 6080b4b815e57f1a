"""Acceptance: events through the producer API into the durable broker, landed by the stream job, exactly once.

100,000 events over every event type go through the producer API (the stack's producer service) into
Tansu on the stack's durable storage, while 1% more messages, malformed, are put straight on the topics
(the API would refuse them). The real job (``spark_jobs/stream_events.py``, started by the supervisor on a
Spark standalone cluster) lands them; once producing stops, every offset of every partition must be in
the landing zone or in the quarantine exactly once, every malformed message in the quarantine, and
every event id the API acknowledged in the landing zone. Client retries (same event id, a new offset)
are kept: compaction removes them by event id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.dataset as ds
import pytest

from eventlake.catalog import EVENT_TYPES
from eventlake.kafka_admin import ensure_topics
from eventlake.loadgen.plan import LoadPlan
from eventlake.loadgen.runner import LoadOptions, run_load
from eventlake.settings import EventlakeSettings, load_settings
from eventlake.stack.services import base_env, build_services
from eventlake.stack.testing import TansuBroker, free_ports
from eventlake.streaming.control import StreamPaths, read_json
from eventlake.streaming.fixtures import landed_keys, produce_malformed, quarantined_keys
from eventlake.streaming.job import event_topics
from eventlake.streaming.kafka_source import BrokerProbe
from eventlake.streaming.supervisor import StreamSupervisor

pytestmark = pytest.mark.integration

EVENTS = 100_000
MALFORMED = EVENTS // 100
SEED = 20261201


@pytest.fixture
def producer_api(settings: EventlakeSettings, tmp_path: Path) -> Iterator[str]:
    """The stack's ``producer`` service (its command and environment), on the settings' broker."""
    service = next(s for s in build_services(settings) if s.name == "producer")
    with (tmp_path / "producer.log").open("ab") as log:
        process = subprocess.Popen(
            service.command,
            cwd=service.directory,
            env={**os.environ, **base_env(settings), **service.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{settings.producer_url}/ready", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the producer API did not get ready: {(tmp_path / 'producer.log').read_text()}")
            time.sleep(0.3)
        yield settings.producer_url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@pytest.fixture
def overrides(durable_broker: TansuBroker, spark_master: str, tmp_path: Path) -> dict[str, Any]:
    (producer_port,) = free_ports(1)
    return {
        "home": tmp_path / "home",
        "kafka_bootstrap_servers": durable_broker.bootstrap,
        "kafka_topic_prefix": f"api{time.time_ns()}.",
        "kafka_partitions": 3,
        "spark_kafka_connector": "python",
        "spark_master_url": spark_master,
        "spark_executor_memory": "1g",
        "spark_driver_memory": "1g",
        "stream_restart_backoff_seconds": 1,
        "producer_host": "127.0.0.1",
        "producer_port": producer_port,
        "producer_workers": 2,
    }


@pytest.fixture
def settings(overrides: dict[str, Any]) -> EventlakeSettings:
    settings = load_settings(**overrides)
    report = ensure_topics(settings)
    assert not report.drift, report.lines()
    return settings


def every_offset(settings: EventlakeSettings) -> set[tuple[str, int, int]]:
    """(topic, partition, offset) of every message on the event topics, read from the log's true ends."""
    probe = BrokerProbe(settings.kafka_bootstrap_servers, event_topics(settings))
    try:
        ends = probe.true_ends(dict.fromkeys(probe.partitions(), 0))
    finally:
        probe.close()
    return {(topic, partition, offset) for (topic, partition), end in ends.items() for offset in range(end)}


def landed_event_ids(settings: EventlakeSettings) -> Counter[str]:
    root = Path(settings.landing_uri.removeprefix("file://"))
    table = ds.dataset(str(root), format="parquet", partitioning="hive").to_table(columns=["event_id", "event_type"])
    assert set(table["event_type"].to_pylist()) == {et.event_type for et in EVENT_TYPES}
    return Counter(table["event_id"].to_pylist())


def test_events_from_the_producer_api_land_exactly_once(
    settings: EventlakeSettings, overrides: dict[str, Any], producer_api: str, tmp_path: Path
) -> None:
    env = {f"EVENTLAKE_{name.upper()}": str(value) for name, value in overrides.items()}
    supervisor = StreamSupervisor(settings, extra_env=env)
    paths = StreamPaths.under(settings.run_dir)
    malformed: set[tuple[str, int, int]] = set()
    try:
        assert supervisor.check().running
        # The malformed 1% arrive while the API load runs, spread over the same topics.
        raw = threading.Thread(target=lambda: malformed.update(produce_malformed(settings, MALFORMED, seed=SEED)))
        raw.start()
        summary = run_load(
            LoadPlan(seed=SEED, users=2_000, retry_share=0.01),
            LoadOptions(url=producer_api, count=EVENTS, concurrency=8, batch_size=200, progress=False, send_attempts=8),
        )
        raw.join(120)
        assert (summary.failed, summary.unexpected) == (0, 0), summary
        assert summary.accepted == EVENTS
        assert summary.retries_sent > 0
        assert len(malformed) == MALFORMED

        # Producing has stopped: wait until the stream landed every message on the topics.
        expected = every_offset(settings)
        # One message per acknowledged event (client retries included), and maybe a copy of a request that
        # was answered 503 but stored anyway (the client re-sent it with the same ids).
        assert 0 <= len(expected) - MALFORMED - EVENTS <= summary.resent_after_503
        deadline = time.monotonic() + 600
        while len(landed_keys(settings)) + len(quarantined_keys(settings)) < len(expected):
            assert time.monotonic() < deadline, "the stream did not land every message in 10 minutes"
            supervisor.check()
            time.sleep(2)
        landed = Counter(landed_keys(settings))
        quarantined = Counter(quarantined_keys(settings))
        assert [key for key, n in (landed + quarantined).items() if n > 1] == [], "an offset landed twice"
        assert set(quarantined) == malformed
        assert set(landed) == expected - malformed
        ids = landed_event_ids(settings)
        assert set(ids) == set(summary.accepted_event_ids), "every acknowledged event landed, nothing else"
        assert sum(ids.values()) == len(landed)  # retried ids: one row per copy, for compaction to dedup
        assert not supervisor.check("stop").running
    finally:
        state = read_json(paths.driver) or {}
        if state.get("pid"):  # a driver left running by a failed assertion
            with contextlib.suppress(ProcessLookupError):
                os.killpg(state["pid"], signal.SIGKILL)
