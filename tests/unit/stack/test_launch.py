"""The launcher stops what a program killed -9 left of its process group, and nothing else."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from eventlake.stack.launch import reap_previous_group

# A program that leads its own group (as supervisord starts programs), records it as the launcher
# does, and forks a child that outlives it, as Airflow's LocalExecutor workers outlive a killed scheduler.
PROGRAM = """
import os, sys, time
from pathlib import Path
from eventlake.stack.launch import record_group
os.setpgid(0, 0)
record_group(Path(sys.argv[1]))
if os.fork() == 0:
    signal_ready = Path(sys.argv[2]); signal_ready.write_text(str(os.getpid()))
    while True:
        time.sleep(0.1)
while True:
    time.sleep(0.1)
"""


def start_program(tmp_path: Path) -> tuple[subprocess.Popen, int, Path]:
    group_file, ready = tmp_path / "groups" / "program.json", tmp_path / "child.pid"
    program = subprocess.Popen([sys.executable, "-c", PROGRAM, str(group_file), str(ready)])
    deadline = time.monotonic() + 20
    while not (ready.exists() and ready.read_text()):
        assert time.monotonic() < deadline, "the program did not start its child"
        time.sleep(0.05)
    return program, int(ready.read_text()), group_file


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def cleanup():
    pids: list[int] = []
    yield pids
    for pid in pids:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_the_children_of_a_program_killed_9_are_stopped_at_its_next_start(tmp_path: Path, cleanup) -> None:
    program, child, group_file = start_program(tmp_path)
    cleanup += [program.pid, child]
    assert os.getpgid(child) == program.pid
    os.kill(program.pid, signal.SIGKILL)
    program.wait()
    assert not gone(child), "the child outlives its killed parent"

    assert reap_previous_group(group_file) == [child]
    assert gone(child)
    assert reap_previous_group(group_file) == [], "nothing left the second time"


def test_a_group_number_now_led_by_another_process_is_left_alone(tmp_path: Path, cleanup) -> None:
    program, child, group_file = start_program(tmp_path)
    cleanup += [program.pid, child]
    recorded = json.loads(group_file.read_text())
    # As if the recorded leader had been another process (the number reused since): no match, no kill.
    group_file.write_text(json.dumps({**recorded, "leader_started": recorded["leader_started"] - 100}))
    assert reap_previous_group(group_file) == []
    assert not gone(program.pid)
    assert not gone(child)


def test_no_record_or_a_damaged_one_kills_nothing(tmp_path: Path) -> None:
    assert reap_previous_group(tmp_path / "missing.json") == []
    damaged = tmp_path / "damaged.json"
    damaged.write_text("{not json")
    assert reap_previous_group(damaged) == []
    # This process's own group, as its leader would record it (pytest need not lead a group whose leader
    # lives: record_group runs in the launcher, which leads its group; the stand-in programs above).
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"pgid": os.getpgrp(), "leader_started": 0.0}))
    assert reap_previous_group(mine) == [], "this process's own group is never reaped"
