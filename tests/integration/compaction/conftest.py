"""Services of the compaction tests, started here on ports 23000-23999: a Hive Metastore, a Spark
standalone master + worker, and a Spark session (driver) connected to both.

Each test gets its own lake (a tmp home) and its own metastore database, so tests do not share data.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlake.settings import REPO_ROOT, EventlakeSettings

PORTS = iter(range(23000, 24000))
_DATABASES = itertools.count()


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port left in 23000-23999")


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log.read_text()[-3000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"port {port} not listening after {timeout}s: {log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def pyspark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@pytest.fixture(scope="session")
def metastore_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A thrift Hive Metastore (Hive 2.3 from pyspark's jars) on embedded Derby."""
    home = tmp_path_factory.mktemp("metastore")
    conf = home / "conf"
    conf.mkdir()
    properties = {
        "javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={home}/metastore_db;create=true",
        "datanucleus.schema.autoCreateAll": "true",
        "hive.metastore.schema.verification": "false",
        "hive.metastore.warehouse.dir": (home / "warehouse").as_uri(),
    }
    (conf / "hive-site.xml").write_text(
        "<configuration>"
        + "".join(f"<property><name>{k}</name><value>{v}</value></property>" for k, v in properties.items())
        + "</configuration>"
    )
    port = free_port()
    log = home / "metastore.log"
    command = [
        "java",
        "-Xmx512m",
        "-Dlog4j2.contextSelector=org.apache.logging.log4j.core.selector.ClassLoaderContextSelector",
        "-cp",
        f"{conf}:{pyspark_home()}/jars/*",
        "org.apache.hadoop.hive.metastore.HiveMetaStore",
        "-p",
        str(port),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=home)
    try:
        wait_for_port(port, process, log)
        yield f"thrift://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture(scope="session")
def spark_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark standalone master with one 2-core worker."""
    home = tmp_path_factory.mktemp("spark")
    spark_class = str(pyspark_home() / "bin" / "spark-class")
    env = {**os.environ, "SPARK_HOME": str(pyspark_home()), "PYSPARK_PYTHON": sys.executable}
    env["SPARK_WORKER_DIR"] = str(home / "work")
    master_port, master_ui, worker_ui = free_port(), free_port(), free_port()
    master_url = f"spark://127.0.0.1:{master_port}"
    master_log, worker_log = home / "master.log", home / "worker.log"
    with master_log.open("wb") as out:
        master = subprocess.Popen(
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(master_port),
                "--webui-port",
                str(master_ui),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    worker = None
    try:
        wait_for_port(master_port, master, master_log)
        with worker_log.open("wb") as out:
            worker = subprocess.Popen(
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    master_url,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "2",
                    "--memory",
                    "3g",
                    "--webui-port",
                    str(worker_ui),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        wait_for_port(worker_ui, worker, worker_log)
        deadline = time.monotonic() + 60
        while "Successfully registered with master" not in worker_log.read_text():
            if time.monotonic() > deadline:
                raise TimeoutError(worker_log.read_text()[-3000:])
            time.sleep(0.5)
        yield master_url
    finally:
        if worker is not None:
            stop(worker)
        stop(master)


@pytest.fixture(scope="session")
def spark(spark_master: str, metastore_uri: str) -> Iterator[object]:
    """The test process's Spark driver, on the standalone cluster, with the metastore as catalog."""
    from eventlake.compaction.runner import build_spark

    os.environ["PYSPARK_PYTHON"] = sys.executable
    settings = EventlakeSettings(metastore_uri=metastore_uri)
    conf = {"spark.cores.max": "1", "spark.ui.enabled": "false", "spark.executor.memory": "1g"}
    session = build_spark(settings, "eventlake-compaction-it", master=spark_master, extra_conf=conf)
    yield session
    session.stop()


@pytest.fixture
def lake_settings(tmp_path: Path, metastore_uri: str, spark: object) -> EventlakeSettings:
    """Settings of a fresh lake with its own metastore database holding every curated table."""
    from eventlake.metastore import create_tables

    settings = EventlakeSettings(
        home=tmp_path / "home",
        metastore_uri=metastore_uri,
        hive_database=f"eventlake_it_{os.getpid()}_{next(_DATABASES)}",
        compaction_lateness_grace_minutes=10,
        compaction_version_grace_minutes=60,
        landing_retention_hours=48,
    )
    create_tables(spark, settings)  # type: ignore[arg-type]
    return settings


def settings_env(settings: EventlakeSettings) -> dict[str, str]:
    """The EVENTLAKE_* variables that make a child process load these settings."""
    return {
        "EVENTLAKE_HOME": str(settings.home),
        "EVENTLAKE_METASTORE_URI": settings.metastore_uri,
        "EVENTLAKE_HIVE_DATABASE": settings.hive_database,
        "EVENTLAKE_COMPACTION_LATENESS_GRACE_MINUTES": str(settings.compaction_lateness_grace_minutes),
    }


def spark_submit_command(master: str, script: str, *args: str) -> list[str]:
    binary = shutil.which("spark-submit", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    assert binary, "spark-submit not found next to the interpreter"
    return [
        binary,
        "--master",
        master,
        "--conf",
        "spark.cores.max=1",
        "--conf",
        "spark.executor.memory=1g",
        "--conf",
        f"spark.pyspark.python={sys.executable}",
        "--conf",
        f"spark.pyspark.driver.python={sys.executable}",
        str(REPO_ROOT / script),
        *args,
    ]
