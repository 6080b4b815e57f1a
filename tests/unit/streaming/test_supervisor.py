"""The supervisor with a stand-in driver process: start, fencing, dead-driver restart, stop, no doubles."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from eventlake.settings import load_settings
from eventlake.streaming.control import StreamPaths, read_json, read_token
from eventlake.streaming.supervisor import StreamSupervisor, process_start_ticks

# A stand-in driver: lives until asked to stop (stop.request), records its own pid in a shared file.
FAKE_DRIVER = """
import os, sys, time, pathlib
root = pathlib.Path(sys.argv[1])
with open(root / "drivers.log", "a") as out:
    out.write(f"{os.getpid()} {os.environ['EVENTLAKE_STREAM_FENCING_TOKEN']}\\n")
while not (root / "stream" / "stop.request").exists():
    time.sleep(0.05)
"""


def make_supervisor(home: Path) -> StreamSupervisor:
    settings = load_settings(home=home, stream_stall_seconds=3600, stream_restart_backoff_seconds=1)
    script = home / "fake_driver.py"
    script.write_text(FAKE_DRIVER)
    return StreamSupervisor(settings, command=[sys.executable, str(script), str(settings.run_dir)])


def live_drivers(home: Path) -> list[int]:
    log = home / "run" / "drivers.log"
    pids = [int(line.split()[0]) for line in log.read_text().splitlines()] if log.exists() else []
    return [pid for pid in pids if process_start_ticks(pid) is not None]


def _check(home: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    supervisor = make_supervisor(Path(home))
    barrier.wait()
    supervisor.check("ensure")


@pytest.fixture
def home(tmp_path: Path):
    (tmp_path / "run").mkdir()
    yield tmp_path
    # The last driver started may not have logged itself yet: the supervisor's record names it too.
    recorded = (read_json(StreamPaths.under(tmp_path / "run").driver) or {}).get("pid")
    for pid in {*live_drivers(tmp_path), *([recorded] if recorded else [])}:
        if process_start_ticks(pid) is not None:
            os.kill(pid, signal.SIGKILL)


def test_concurrent_checks_start_exactly_one_driver(home: Path) -> None:
    barrier = multiprocessing.Barrier(4)
    runs = [multiprocessing.Process(target=_check, args=(str(home), barrier)) for _ in range(4)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(60)
    assert [run.exitcode for run in runs] == [0, 0, 0, 0]
    time.sleep(0.5)
    assert len(live_drivers(home)) == 1
    assert read_token(StreamPaths.under(home / "run")) == 1


def test_dead_driver_is_restarted_with_a_new_fencing_token(home: Path) -> None:
    supervisor = make_supervisor(home)
    first = supervisor.check()
    assert first.running
    assert first.token == 1
    healthy = supervisor.check()
    assert healthy.pid == first.pid
    assert "healthy" in healthy.detail
    os.kill(first.pid, signal.SIGKILL)
    os.waitpid(first.pid, 0)
    second = supervisor.check()
    assert second.running
    assert second.pid != first.pid
    assert second.token == 2
    assert "RUNNING" in second.line()
    assert "token=2" in second.line()


def test_quick_repeated_deaths_back_off(home: Path) -> None:
    supervisor = make_supervisor(home)
    for _ in range(2):
        status = supervisor.check()
        os.kill(status.pid, signal.SIGKILL)
        os.waitpid(status.pid, 0)
    waiting = supervisor.check()
    assert not waiting.running
    assert "backoff" in waiting.detail
    time.sleep(1.2)
    assert supervisor.check().running


def test_stop_is_graceful_and_sticks_until_start(home: Path) -> None:
    supervisor = make_supervisor(home)
    started = supervisor.check()
    stopped = supervisor.check("stop")
    assert (not stopped.running and process_start_ticks(started.pid) is None) or _reap(started.pid)
    assert not supervisor.check("ensure").running
    assert read_json(StreamPaths.under(home / "run").driver)["desired"] == "stopped"
    resumed = supervisor.check("start")
    assert resumed.running
    assert resumed.token == 2


def _reap(pid: int) -> bool:
    os.waitpid(pid, os.WNOHANG)
    return process_start_ticks(pid) is None


# A stand-in driver that publishes progress: token 1 commits batches (with offsets); later tokens only
# heartbeat, as a driver stuck in its first micro-batch does.
PUBLISHING_DRIVER = """
import datetime, json, os, pathlib, sys, time
root = pathlib.Path(sys.argv[1])
token = int(os.environ["EVENTLAKE_STREAM_FENCING_TOKEN"])
with open(root / "drivers.log", "a") as out:
    out.write(f"{os.getpid()} {token}\\n")
started = datetime.datetime.now(datetime.UTC).isoformat()
while True:
    now = datetime.datetime.now(datetime.UTC).isoformat()
    doc = {"fencing_token": token, "started_at": started, "heartbeat_at": now, "last_commit_at": None}
    if token == 1:
        doc.update(last_commit_at=now, offsets={"events": {"0": 5}})
    tmp = root / "stream" / "progress.tmp"
    tmp.write_text(json.dumps(doc))
    tmp.replace(root / "stream" / "progress.json")
    time.sleep(0.05)
"""


def test_a_restarted_driver_without_a_first_commit_is_stalled_when_its_predecessors_offsets_lag(
    home: Path,
) -> None:
    settings = load_settings(home=home, stream_stall_seconds=1, stream_restart_backoff_seconds=1)
    script = home / "publishing_driver.py"
    script.write_text(PUBLISHING_DRIVER)
    probed: list[object] = []

    def lag_probe(progress: dict) -> int | None:
        probed.append(progress.get("offsets"))
        return 7 if progress.get("offsets") == {"events": {"0": 5}} else None

    supervisor = StreamSupervisor(
        settings, command=[sys.executable, str(script), str(settings.run_dir)], lag_probe=lag_probe
    )
    first = supervisor.check()
    time.sleep(1.5)
    assert "healthy" in supervisor.check().detail  # commits keep coming: never probed
    os.kill(first.pid, signal.SIGKILL)
    os.waitpid(first.pid, 0)
    second = supervisor.check()
    assert second.token == 2
    time.sleep(0.5)
    assert "healthy" in supervisor.check().detail  # within the stall time of its start
    time.sleep(1.2)
    third = supervisor.check()
    assert probed == [{"events": {"0": 5}}]
    assert process_start_ticks(second.pid) is None or _reap(second.pid)
    recorded = read_json(StreamPaths.under(home / "run").driver)
    assert recorded["last_death"].startswith("stalled: lag 7 and no batch committed for")
    # The first driver committed batches, so its kill was no failure; the stalled one is the first.
    assert recorded["failures"] == 1
    assert third.running
    assert third.token == 3, "a first failure restarts at once"


def test_the_status_line_shows_the_drivers_trims_of_the_broker_log() -> None:
    from eventlake.streaming.supervisor import DriverStatus

    trims = {"batches_deleted": 1234, "batches_kept": 56}
    trimming = DriverStatus("ensure", True, 42, 3, "healthy", 1000.0, 0, 1.5, broker_log=trims)
    assert "broker_log_deleted=1234 batches/kept=56" in trimming.line()
    assert "broker_log" not in DriverStatus("ensure", True, 42, 3, "healthy").line()


def test_a_driver_that_committed_batches_is_restarted_at_once_however_often_it_is_killed(home: Path) -> None:
    """Deaths after progress (kill -9, a lost machine) are no crash loop: no backoff, unlike quick deaths
    without a commit (test_quick_repeated_deaths_back_off)."""
    settings = load_settings(home=home, stream_stall_seconds=3600, stream_restart_backoff_seconds=60)
    script = home / "publishing_driver.py"
    # Every token commits here (the stand-in's token-1 rule, for all of them).
    script.write_text(PUBLISHING_DRIVER.replace("if token == 1:", "if True:"))
    supervisor = StreamSupervisor(settings, command=[sys.executable, str(script), str(settings.run_dir)])
    status = supervisor.check()
    paths = StreamPaths.under(settings.run_dir)
    for token in (2, 3, 4):
        deadline = time.monotonic() + 10
        while (read_json(paths.progress) or {}).get("fencing_token") != status.token:
            assert time.monotonic() < deadline, "the stand-in driver published no progress"
            time.sleep(0.05)
        os.kill(status.pid, signal.SIGKILL)
        os.waitpid(status.pid, 0)
        status = supervisor.check()
        assert status.running, status.detail
        assert status.token == token
        assert read_json(paths.driver)["failures"] == 0
