"""Services of the streaming integration tests: Tansu brokers and a Spark standalone cluster, own ports.

Brokers are the embedded stack's programs (:class:`eventlake.stack.testing.TansuBroker`) on memory
storage, or on the stack's durable storage (its object server); Spark ports come from this area's block
(22000-22999); state lives under pytest's tmp dirs. Only what a test needs is started, and everything
is killed at the end of the session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventlake.settings import EventlakeSettings, load_settings
from eventlake.stack.testing import TansuBroker, wait_for_port
from eventlake.streaming.fixtures import landed_keys, produce, quarantined_keys

PORT_BLOCK = range(22100, 22999)


def free_port() -> int:
    for port in PORT_BLOCK:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in the streaming block")


def start(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def _broker(tmp_path_factory: pytest.TempPathFactory, storage: str) -> Iterator[TansuBroker]:
    broker = TansuBroker(tmp_path_factory.mktemp(f"tansu-{storage}"), storage)
    broker.start_storage()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def memory_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """Tansu on memory storage: fast, gone when stopped."""
    yield from _broker(tmp_path_factory, "memory")


@pytest.fixture(scope="session")
def durable_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """Tansu on the embedded stack's durable storage (its object server), as ``make up`` runs it."""
    yield from _broker(tmp_path_factory, "s3")


@pytest.fixture(params=["memory"])
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap address of a broker; memory storage unless parametrized indirectly with "s3"."""
    broker: TansuBroker = request.getfixturevalue("durable_broker" if request.param == "s3" else "memory_broker")
    return broker.bootstrap


@pytest.fixture
def stream_settings(tmp_path: Path, kafka_bootstrap: str, request: pytest.FixtureRequest) -> EventlakeSettings:
    """Settings of an isolated stream: own home, own topic prefix, topics created from the plan."""
    from eventlake.kafka_admin import ensure_topics

    prefix = f"it{abs(hash(request.node.nodeid)) % 10**8}{int(time.time())}."
    settings = load_settings(
        home=tmp_path / "home",
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=prefix,
        kafka_partitions=3,
        stream_trigger_seconds=1.0,
        stream_restart_backoff_seconds=1,
        stream_stall_seconds=120,
        spark_kafka_connector="python",
    )
    report = ensure_topics(settings)
    assert not report.drift, report.lines()
    return settings


@pytest.fixture(scope="session")
def local_spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("eventlake-streaming-it")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark standalone master and one 2-core worker (from pyspark's jars)."""
    import pyspark

    spark_home = str(Path(pyspark.__file__).parent)
    root = tmp_path_factory.mktemp("spark")
    master_port = free_port()
    env = {"SPARK_HOME": spark_home, "SPARK_LOG_DIR": str(root), "SPARK_WORKER_DIR": str(root / "work")}
    master_ui = free_port_after(master_port)
    master = start(
        [
            f"{spark_home}/bin/spark-class",
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(master_port),
            "--webui-port",
            str(master_ui),
        ],
        root / "master.log",
        env,
    )
    wait_for_port(master_port, 60)
    worker_ui = free_port_after(master_ui)
    worker = start(
        [
            f"{spark_home}/bin/spark-class",
            "org.apache.spark.deploy.worker.Worker",
            f"spark://127.0.0.1:{master_port}",
            "--cores",
            "2",
            "--memory",
            "2g",
            "--webui-port",
            str(worker_ui),
            "--host",
            "127.0.0.1",
        ],
        root / "worker.log",
        env,
    )
    try:
        deadline = time.monotonic() + 90
        while "Successfully registered with master" not in (root / "worker.log").read_text():
            if time.monotonic() > deadline:
                raise TimeoutError("the Spark worker did not register")
            time.sleep(0.5)
        yield f"spark://127.0.0.1:{master_port}"
    finally:
        stop(worker)
        stop(master)


def free_port_after(port: int) -> int:
    for candidate in range(port + 1, PORT_BLOCK.stop):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    raise RuntimeError("no free port in the streaming block")


# --- helpers of the stream tests ---------------------------------------------------------------
def assert_exactly_once(settings: Any, valid: set, malformed: set) -> None:
    landed = Counter(landed_keys(settings))
    quarantined = Counter(quarantined_keys(settings))
    assert [k for k, n in landed.items() if n > 1] == [], "duplicates in the landing zone"
    assert set(landed) == valid, f"missing {len(valid - set(landed))}, unexpected {len(set(landed) - valid)}"
    assert [k for k, n in quarantined.items() if n > 1] == []
    assert set(quarantined) == malformed


def produce_bursts_until_landed(settings: Any, *, bursts: int, count: int) -> tuple[set, set]:
    """``bursts`` of ``count`` messages 1.5 s apart, then wait (up to 3 min) until every valid one has landed."""
    valid: set = set()
    malformed: set = set()
    for seed in range(bursts):
        v, m = produce(settings, count, malformed_every=100, seed=seed)
        valid |= v
        malformed |= m
        time.sleep(1.5)
    deadline = time.monotonic() + 180
    while len(landed_keys(settings)) < len(valid) and time.monotonic() < deadline:
        time.sleep(1)
    return valid, malformed


def assert_resume_lands_only_new_messages(
    spark: Any, settings: Any, valid: set, malformed: set, *, count: int, seed: int
) -> None:
    """New messages, then a run from the checkpoint: it reads only them, and everything is landed exactly once."""
    from eventlake.streaming.job import StreamRunner

    more_valid, more_malformed = produce(settings, count, malformed_every=50, seed=seed)
    again = StreamRunner(spark, settings)
    again.start(available_now=True)
    again.run_until_stopped()
    assert again.totals == {"landed_rows": len(more_valid), "quarantined_rows": len(more_malformed)}
    assert_exactly_once(settings, valid | more_valid, malformed | more_malformed)
