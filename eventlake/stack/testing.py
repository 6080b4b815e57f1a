"""Settings for an isolated embedded stack (tests, drills, benchmarks): own home, free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from eventlake.settings import EventlakeSettings
from eventlake.stack.services import BROKER_BUCKET, broker_command, broker_storage_command, broker_storage_env


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    return ports


def isolated_settings(home: Path, **overrides: object) -> EventlakeSettings:
    """Settings of a stack living in ``home`` on free ports, so it never meets a user's stack."""
    (
        kafka,
        storage,
        metastore,
        spark,
        spark_ui,
        worker_ui,
        airflow,
        log_server,
        trigger_log,
        producer,
    ) = free_ports(10)
    values: dict[str, object] = {
        "home": home,
        "kafka_bootstrap_servers": f"127.0.0.1:{kafka}",
        "broker_storage_port": storage,
        "metastore_uri": f"thrift://127.0.0.1:{metastore}",
        "spark_master_url": f"spark://127.0.0.1:{spark}",
        "spark_master_webui_port": spark_ui,
        "spark_worker_webui_port": worker_ui,
        "airflow_port": airflow,
        "airflow_log_server_port": log_server,
        "airflow_trigger_log_server_port": trigger_log,
        "producer_port": producer,
    }
    values.update(overrides)
    return EventlakeSettings(**values)  # type: ignore[arg-type]


@contextmanager
def running_stack(home: Path, **overrides: object) -> Iterator[EventlakeSettings]:
    """The whole embedded stack (supervisord and every service) in ``home`` on free ports.

    Yields its settings, also exported to this process's environment (child processes and the code
    under test read the same ones). Afterwards it is stopped, and an ``AssertionError`` names any
    process of it still alive.
    """
    from eventlake.stack.cli import down, stack_processes, up

    settings = isolated_settings(home, **overrides)
    saved = dict(os.environ)
    os.environ.update(settings.as_env())
    try:
        up(settings, bootstrap=False)
        yield settings
    finally:
        down(settings, quiet=True)
        leftovers = stack_processes(settings)
        os.environ.clear()
        os.environ.update(saved)
        assert not leftovers, f"processes of the stack still alive after down: {[p.pid for p in leftovers]}"


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Return once something listens on 127.0.0.1:port; fail early if ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode} before listening")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class TansuBroker:
    """A Tansu broker on a free port, on memory or durable (object server) storage, that can be killed.

    The same programs and command lines as the embedded stack's ``broker`` and ``broker-storage``
    services, without supervisord, for tests and benchmarks that kill, freeze and restart them.
    """

    def __init__(self, workdir: Path, storage: str = "s3", *, fsync: bool = False) -> None:
        if storage not in ("s3", "memory"):
            raise ValueError(f"storage must be 's3' or 'memory', not {storage!r}")
        self.workdir = workdir
        self.storage_engine = storage
        self.fsync = fsync
        self.port, self.storage_port = free_ports(2)
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.storage: subprocess.Popen[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self, command: list[str], log_name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / log_name).open("ab") as log:
            return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start_storage(self) -> None:
        """Start the object server (durable storage only; a no-op on memory storage)."""
        if self.storage_engine == "memory":
            return
        command = broker_storage_command(self.workdir / "storage", self.storage_port, fsync=self.fsync)
        self.storage = self._spawn(command, "storage.log")
        wait_for_port(self.storage_port, 30, self.storage)

    def start(self) -> None:
        storage = f"{self.storage_engine}://{BROKER_BUCKET}/"
        env = {**os.environ, **broker_storage_env(self.storage_port), "RUST_LOG": "warn"}
        self.process = self._spawn(broker_command("127.0.0.1", self.port, storage=storage), "tansu.log", env)
        wait_for_port(self.port, 20, self.process)

    def kill(self) -> None:
        """SIGKILL the broker: no clean shutdown, what it did not store is gone."""
        _kill(self.process)
        self.process = None

    def kill_storage(self) -> None:
        """SIGKILL the object server (the broker keeps running and retries its requests)."""
        _kill(self.storage)
        self.storage = None

    def freeze(self) -> None:
        """SIGSTOP: the broker keeps its connections but answers nothing (a hung or partitioned broker)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.thaw()
        self.kill()
        if self.storage is not None:
            self.storage.terminate()
            try:
                self.storage.wait(10)
            except subprocess.TimeoutExpired:
                self.storage.kill()
                self.storage.wait(5)
            self.storage = None


def _kill(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.kill()
    if process is not None:
        process.wait(10)
