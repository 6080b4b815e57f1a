"""Keeps exactly one streaming driver alive, without holding an Airflow worker slot.

Each :meth:`StreamSupervisor.check` is short: take the supervisor lock, look at the driver recorded in
``driver.json`` and at its published progress, act (start, restart with backoff, stop), log one status
line, release. The driver runs detached (its own session, spark-submit in client mode against the
master), so the Airflow task that started it can end, and a restarted Airflow worker finds it again
through ``driver.json``.

Never two drivers:
- ``fcntl.flock`` on ``supervisor.lock`` serialises checks (the kernel drops the lock if the process
  holding it dies, so a killed Airflow worker cannot leave it held);
- a driver is identified by pid *and* its kernel start time, so a recycled pid is not mistaken for it;
- every start increments the fencing token in ``fencing.token`` and gives it to the new driver, which
  refuses to commit a batch once the token moved on (a zombie driver cannot write after a restart).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from eventlake.streaming.control import (
    FENCING_TOKEN_ENV,
    StreamPaths,
    driver_progress,
    read_json,
    read_token,
    write_json_atomic,
)

if TYPE_CHECKING:
    from eventlake.settings import EventlakeSettings

log = logging.getLogger(__name__)

Action = Literal["ensure", "start", "stop", "restart"]
ACTIONS: tuple[str, ...] = ("ensure", "start", "stop", "restart")
#: A driver that lived at least this long resets the backoff (as does one that committed a batch).
STABLE_SECONDS = 600
LOCK_WAIT_SECONDS = 120.0
STOP_WAIT_SECONDS = 90.0


@dataclass(frozen=True)
class DriverStatus:
    """The outcome of one check, and its one-line rendering for the task log."""

    action: str
    running: bool
    pid: int | None
    token: int
    detail: str
    rows_per_second: float | None = None
    lag: int | None = None
    last_batch_age: float | None = None
    #: The driver's trims of the embedded broker's log (``progress.json``'s ``broker_log``), if it trims.
    broker_log: dict[str, int] | None = None

    def line(self) -> str:
        def show(value: Any, fmt: str) -> str:
            return "-" if value is None else format(value, fmt)

        trimmed = (
            f" broker_log_deleted={self.broker_log.get('batches_deleted', 0)} batches"
            f"/kept={self.broker_log.get('batches_kept', 0)}"
            if self.broker_log is not None
            else ""
        )
        return (
            f"stream driver {'RUNNING' if self.running else 'NOT RUNNING'} pid={self.pid or '-'} token={self.token} "
            f"rows/s={show(self.rows_per_second, '.0f')} lag={show(self.lag, 'd')} "
            f"last_batch_age={show(self.last_batch_age, '.1f')}s{trimmed} action={self.action}: {self.detail}"
        )


def process_start_ticks(pid: int) -> int | None:
    """Kernel start time of a live (non-zombie) process, or None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # exited, not yet reaped: dead for our purposes
        return None
    return int(fields[19])


def spark_submit_command(settings: EventlakeSettings) -> list[str]:
    """spark-submit of the stream job against the master of the settings, capped to its cores."""
    import pyspark

    spark_home = os.environ.get("SPARK_HOME") or str(Path(pyspark.__file__).parent)
    python = sys.executable
    repo = str(settings.repo_root)
    return [
        f"{spark_home}/bin/spark-submit",
        "--master",
        settings.spark_master_url,
        "--deploy-mode",
        "client",
        "--name",
        "eventlake-stream-events",
        "--driver-memory",
        settings.spark_driver_memory,
        "--conf",
        f"spark.cores.max={settings.spark_stream_cores_max}",
        "--conf",
        f"spark.executor.memory={settings.spark_executor_memory}",
        "--conf",
        f"spark.pyspark.python={python}",
        "--conf",
        f"spark.pyspark.driver.python={python}",
        "--conf",
        f"spark.executorEnv.PYTHONPATH={repo}",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "--conf",
        "spark.ui.enabled=false",
        f"{repo}/spark_jobs/stream_events.py",
    ]


class StreamSupervisor:
    """One check of the stream's driver: see the module docstring."""

    def __init__(
        self,
        settings: EventlakeSettings,
        *,
        command: list[str] | None = None,
        extra_env: dict[str, str] | None = None,
        lag_probe: Callable[[dict[str, Any]], int | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.paths = StreamPaths.under(settings.run_dir)
        self.command = command or spark_submit_command(settings)
        self.extra_env = extra_env or {}
        self.lag_probe = lag_probe or self._broker_lag
        self.clock = clock

    # --- entry point ------------------------------------------------------------------------------
    def check(self, action: Action = "ensure") -> DriverStatus:
        """Do what ``action`` asks (ensure = keep the desired state) and return the status."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; expected one of {ACTIONS}")
        with self._locked():
            state = read_json(self.paths.driver) or {}
            if action in ("stop", "restart"):
                self._stop(state)
                state = {**state, "desired": "stopped", "pid": None}
                self._save(state)
                if action == "stop":
                    return self._status(action, state, "stopped on request")
            if action in ("start", "restart"):
                state = {**state, "desired": "running", "failures": 0, "next_start_after": 0}
                self._save(state)
            status = self._ensure(action, state)
        log.info(status.line())
        return status

    # --- the decisions ----------------------------------------------------------------------------
    def _ensure(self, action: str, state: dict[str, Any]) -> DriverStatus:
        if state.get("desired") == "stopped":
            return self._status(action, state, "stopped on request (run with action=start to resume)")
        if self._alive(state):
            stalled = self._stalled(state)
            if stalled is None:
                return self._status(action, state, "healthy")
            log.warning("driver pid %s is stalled (%s): killing it", state.get("pid"), stalled)
            self._kill(state)
            state = self._record_death(state, reason=f"stalled: {stalled}")
        elif state.get("pid"):
            state = self._record_death(state, reason="process gone")
        now = self.clock()
        if now < state.get("next_start_after", 0):
            wait = state["next_start_after"] - now
            return self._status(action, state, f"dead ({state.get('last_death')}); restart in {wait:.0f}s (backoff)")
        state = self._start(state)
        return self._status(action, state, f"started (start #{state['starts']})")

    def _alive(self, state: dict[str, Any]) -> bool:
        pid = state.get("pid")
        return pid is not None and process_start_ticks(int(pid)) == state.get("start_ticks")

    def _stalled(self, state: dict[str, Any]) -> str | None:
        """Why the live driver counts as stalled, or None if it is fine."""
        limit = self.settings.stream_stall_seconds
        now = self.clock()
        progress = self._progress(state)
        if progress is None:
            age = now - state.get("started_epoch", now)
            return f"no progress published {age:.0f}s after start" if age > limit else None
        heartbeat_age = now - _epoch(progress.get("heartbeat_at"))
        if heartbeat_age > limit:
            return f"no heartbeat for {heartbeat_age:.0f}s"
        batch_age = now - _epoch(progress.get("last_commit_at") or progress.get("started_at"))
        if batch_age > limit:
            # A driver stuck in its first micro-batch has no offsets of its own yet: it resumes from
            # those its predecessor reached, so the lag beyond them is its lag.
            offsets = progress.get("offsets") or state.get("last_offsets")
            lag = self.lag_probe({**progress, "offsets": offsets})
            if lag:
                return f"lag {lag} and no batch committed for {batch_age:.0f}s"
        return None

    def _progress(self, state: dict[str, Any]) -> dict[str, Any] | None:
        """The progress of the current driver (a stale file of a previous driver does not count)."""
        return driver_progress(self.paths, state)

    def _record_death(self, state: dict[str, Any], *, reason: str) -> dict[str, Any]:
        lived = self.clock() - state.get("started_epoch", 0)
        progress = self._progress(state)
        if progress is not None and progress.get("offsets"):
            state = {**state, "last_offsets": progress["offsets"]}  # where its successor resumes (about)
        # A driver that committed a batch of its own made progress: its death (a kill, the machine) is not a
        # crash loop, and its successor starts at once. Only deaths without progress count as failures.
        progressed = progress is not None and bool(progress.get("last_commit_at"))
        failures = 0 if lived >= STABLE_SECONDS or progressed else state.get("failures", 0) + 1
        # The first failure restarts at once; repeated ones back off exponentially.
        delay = 0 if failures <= 1 else self.settings.stream_restart_backoff_seconds * 2 ** min(failures - 2, 6)
        state = {
            **state,
            "pid": None,
            "failures": failures,
            "last_death": reason,
            "next_start_after": self.clock() + delay,
        }
        self._save(state)
        log.warning("driver died (%s); failure #%d, next start after %.0fs", reason, failures, delay)
        return state

    # --- actions ------------------------------------------------------------------------------------
    def _start(self, state: dict[str, Any]) -> dict[str, Any]:
        token = read_token(self.paths) + 1
        self.paths.root.mkdir(parents=True, exist_ok=True)
        # The token moves before the driver exists: any older driver is fenced out from now on.
        self.paths.fencing_token.write_text(str(token))
        self.paths.stop_request.unlink(missing_ok=True)
        env = {
            **os.environ,
            **self.extra_env,
            FENCING_TOKEN_ENV: str(token),
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(self.settings.repo_root), os.environ.get("PYTHONPATH")])),
        }
        with self.paths.driver_log.open("ab") as out:
            out.write(f"\n=== start token={token} at {datetime.now(UTC).isoformat()} ===\n".encode())
            out.flush()
            process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # detached: survives the Airflow task and its worker
                env=env,
                cwd=str(self.paths.root),  # Spark drops spark-warehouse/ and metastore files in its cwd
            )
        state = {
            **state,
            "desired": "running",
            "pid": process.pid,
            "start_ticks": process_start_ticks(process.pid),
            "token": token,
            "started_at": datetime.now(UTC).isoformat(),
            "started_epoch": self.clock(),
            "starts": state.get("starts", 0) + 1,
            "command": self.command,
        }
        self._save(state)
        return state

    def _stop(self, state: dict[str, Any]) -> None:
        """Ask the driver to stop after its current batch; escalate to signals if it does not."""
        if not self._alive(state):
            return
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.paths.stop_request.touch()
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while self._alive(state) and time.monotonic() < deadline:
            time.sleep(0.5)
        if self._alive(state):
            log.warning("driver pid %s ignored the stop request: terminating it", state["pid"])
            self._kill(state)

    def _kill(self, state: dict[str, Any]) -> None:
        pid = state["pid"]
        for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
            if not self._alive(state):
                return
            try:
                os.killpg(pid, sig)  # the driver leads its own session: its Python child goes too
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while self._alive(state) and time.monotonic() < deadline:
                time.sleep(0.2)

    # --- plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        with self.paths.lock.open("a") as handle:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"another supervisor holds {self.paths.lock}") from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _save(self, state: dict[str, Any]) -> None:
        write_json_atomic(self.paths.driver, state)

    def _status(self, action: str, state: dict[str, Any], detail: str) -> DriverStatus:
        running = self._alive(state)
        progress = self._progress(state) if running else None
        rows_per_second = lag = age = broker_log = None
        if progress is not None:
            broker_log = progress.get("broker_log")
            rows_per_second = progress.get("rows_per_second")
            lag = progress.get("total_lag")
            last = progress.get("last_commit_at")
            age = self.clock() - _epoch(last) if last else None
        return DriverStatus(
            action,
            running,
            state.get("pid") if running else None,
            int(state.get("token") or 0),
            detail,
            rows_per_second,
            lag,
            age,
            broker_log,
        )

    def _broker_lag(self, progress: dict[str, Any]) -> int | None:
        """Records on the broker beyond the driver's last end offsets (the true end, not ListOffsets)."""
        from eventlake.streaming.kafka_source import BrokerProbe

        offsets: dict[str, dict[str, int]] = progress.get("offsets") or {}
        if not offsets:
            return None
        probe = BrokerProbe(self.settings.kafka_bootstrap_servers, list(offsets))
        try:
            return sum(
                max(0, probe.true_end(topic, int(p), offset) - offset)
                for topic, parts in offsets.items()
                for p, offset in parts.items()
            )
        finally:
            probe.close()


def _epoch(moment: str | None) -> float:
    if not moment:
        return 0.0
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()
