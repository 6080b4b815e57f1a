"""A Hive Metastore and a Spark standalone cluster from pyspark's jars, for tests and benchmarks.

The embedded stack runs these under supervisord; this module starts throwaway ones on given ports.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from eventlake.stack.services import hive_site_xml, metastore_command, pyspark_home


def free_port(candidates: Iterable[int]) -> int:
    """The first port of ``candidates`` nobody listens on."""
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port left")


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


@contextmanager
def hive_metastore(home: Path, port: int, *, jvm_options: Sequence[str] = ()) -> Iterator[str]:
    """A thrift Hive Metastore configured as the stack's (Derby under ``home``); yields its URI.

    ``jvm_options`` go before the stack's own (``-Dhive.metastore.try.direct.sql=false``, say, to compare).
    """
    conf = home / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "hive-site.xml").write_text(hive_site_xml(home / "metastore_db", (home / "warehouse").as_uri()))
    log = home / "metastore.log"
    command = metastore_command(conf, port, derby_home=home)
    command[1:1] = jvm_options
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=home)
    try:
        wait_for_port(port, process, log)
        yield f"thrift://127.0.0.1:{port}"
    finally:
        stop(process)


@contextmanager
def spark_cluster(home: Path, ports: tuple[int, int, int], *, cores: int = 2, memory: str = "3g") -> Iterator[str]:
    """A Spark standalone master and one worker; yields the master URL. ``ports``: master, master UI, worker UI."""
    home.mkdir(parents=True, exist_ok=True)
    spark_class = str(pyspark_home() / "bin" / "spark-class")
    env = {**os.environ, "SPARK_HOME": str(pyspark_home()), "PYSPARK_PYTHON": sys.executable}
    env["SPARK_WORKER_DIR"] = str(home / "work")
    master_port, master_ui, worker_ui = ports
    master_url = f"spark://127.0.0.1:{master_port}"
    master_log, worker_log = home / "master.log", home / "worker.log"
    with master_log.open("wb") as out:
        master = subprocess.Popen(
            [
                *(spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"),
                *("--port", str(master_port), "--webui-port", str(master_ui)),
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
                    *(spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1"),
                    *("--cores", str(cores), "--memory", memory, "--webui-port", str(worker_ui)),
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
