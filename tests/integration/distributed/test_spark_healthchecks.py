"""The compose file's Spark healthchecks, run as written against a real standalone master and worker."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from eventlake.distributed import COMPOSE_FILE

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthcheck(service: str) -> str:
    """The CMD-SHELL command of a service, as the container's shell receives it (``$$`` -> ``$``)."""
    test = yaml.safe_load(COMPOSE_FILE.read_text())["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    return str(test[1]).replace("$$", "$")


def passes(command: str, env: dict[str, str]) -> bool:
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, timeout=30, check=False).returncode == 0


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s"
        time.sleep(1)


@pytest.fixture(scope="module")
def spark_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import pyspark

    home = tmp_path_factory.mktemp("spark")
    return {
        **os.environ,
        "SPARK_HOME": str(Path(pyspark.__file__).resolve().parent),
        "SPARK_NO_DAEMONIZE": "1",
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(home / "logs"),
        "SPARK_WORKER_DIR": str(home / "work"),
    }


def start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    spark_class = Path(env["SPARK_HOME"]) / "bin" / "spark-class"
    return subprocess.Popen([str(spark_class), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def master(spark_env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    port, ui = free_port(), free_port()
    env = {**spark_env, "EVENTLAKE_SPARK_MASTER_WEBUI_PORT": str(ui)}
    process = start(env, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                    "--webui-port", str(ui))  # fmt: skip
    try:
        yield f"spark://127.0.0.1:{port}", env
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_master_healthcheck_passes_once_the_master_is_alive(master: tuple[str, dict[str, str]]) -> None:
    _, env = master
    wait_until(lambda: passes(healthcheck("spark-master"), env), 120, "the master's healthcheck passes")


def test_worker_healthcheck_waits_for_registration(
    master: tuple[str, dict[str, str]], spark_env: dict[str, str]
) -> None:
    url, _ = master
    command = healthcheck("spark-worker")

    # A worker whose master is unreachable serves its UI but is not healthy.
    ui = free_port()
    env = {**spark_env, "EVENTLAKE_SPARK_WORKER_WEBUI_PORT": str(ui)}
    lost = start(env, "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{free_port()}",
                 "--cores", "1", "--memory", "256m", "--webui-port", str(ui))  # fmt: skip
    try:
        wait_until(lambda: passes(f"curl -fsS http://localhost:{ui}/json/", env), 120, "the lost worker's UI answers")
        assert not passes(command, env)
    finally:
        lost.terminate()
        lost.wait(timeout=30)

    ui = free_port()
    env = {**spark_env, "EVENTLAKE_SPARK_WORKER_WEBUI_PORT": str(ui)}
    worker = start(env, "org.apache.spark.deploy.worker.Worker", url, "--cores", "1", "--memory", "256m",
                   "--webui-port", str(ui))  # fmt: skip
    try:
        wait_until(lambda: passes(command, env), 120, "the registered worker's healthcheck passes")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
