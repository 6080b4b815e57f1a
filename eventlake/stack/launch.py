"""Exec one service from its launch spec (command, environment, folder), as written by `up`.

supervisord runs ``python -m eventlake.stack.launch SPEC.json``; keeping the environment in a JSON
spec (not in supervisord.conf) keeps values such as AIRFLOW_CONN_* JSON intact.

supervisord starts each program as the leader of its own process group, and its children (Airflow's
LocalExecutor workers, gunicorn's, a JVM's) join that group. A program killed -9 from outside (the OOM
killer, the fault drills) leaves its children behind: idle, reparented to init, ~160 MB each for the
scheduler's eight workers. So before the exec, the launcher kills what is left of the program's
previous group (recorded in the spec's ``group_file``: group id and the leader's start time), then
records its own.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import psutil

REAP_WAIT_SECONDS = 5.0


def reap_previous_group(group_file: Path) -> list[int]:
    """Kill the processes left in the group the file records (TERM, then KILL); the pids killed.

    Nothing is killed unless the recorded leader is gone, or is still the process that was recorded
    (same start time): while any member lives the kernel does not hand the group's number to a new
    process, so the members of a group whose leader died are the leftovers.
    """
    try:
        recorded = json.loads(group_file.read_text())
        group, leader_started = int(recorded["pgid"]), float(recorded["leader_started"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if group == os.getpgrp():
        return []
    try:
        if psutil.Process(group).create_time() != leader_started:
            return []  # the number is another process's now
    except psutil.NoSuchProcess:
        pass
    members = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and os.getpgid(process.pid) == group:
                members.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    kill_processes(members, timeout=REAP_WAIT_SECONDS)
    return [process.pid for process in members]


def kill_processes(processes: list[psutil.Process], timeout: float = 15) -> None:
    """TERM, then KILL what is still alive after ``timeout``."""
    for process in processes:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=5)


def record_group(group_file: Path) -> None:
    """Record this process's group (the program's, after the exec) for the next start.

    Called by the group's leader (the launcher, as supervisord starts it), whose start time is recorded.
    """
    group_file.parent.mkdir(parents=True, exist_ok=True)
    leader = psutil.Process(os.getpgrp())
    group_file.write_text(json.dumps({"pgid": leader.pid, "leader_started": leader.create_time()}))


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    # Only as a group's leader (as supervisord starts programs): then the group is the program's alone.
    if spec.get("group_file") and os.getpgrp() == os.getpid():
        group_file = Path(spec["group_file"])
        reaped = reap_previous_group(group_file)
        if reaped:
            print(f"eventlake launch: stopped {len(reaped)} leftover process(es) of the previous start: {reaped}")
            sys.stdout.flush()
        record_group(group_file)
    os.chdir(spec["directory"])
    os.execvpe(spec["command"][0], spec["command"], spec["env"])


if __name__ == "__main__":
    main()
