"""Benchmark of PUTs through the broker's object server: this tree's server against a baseline revision's.

The embedded broker (Tansu on ``s3://``) makes three PUTs per produced partition batch: two objects it
rewrites every time (``meta.json`` and the partition's ``watermark.json``) and one new ``.batch``
object. Each round starts both servers (``python -m eventlake.stack.object_server`` of this tree, and
the same module of ``--baseline-rev`` taken with ``git show``) on fresh directories under ``var/`` (the
filesystem the stack's data lives on: its rename and flush costs are the point) and sends each,
serially over one keep-alive connection, ``--puts`` PUTs of a 300-byte body to one rewritten key and
``--puts`` PUTs to new keys. Rounds alternate the two servers; the medians of PUTs/s and of the
server's CPU time per PUT are printed and written to ``var/bench/object_server.json``.

Run: ``.venv/bin/python benchmarks/bench_object_server.py [--puts 3000] [--rounds 3] [--fsync]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from results import write_result

from eventlake.stack.testing import free_ports, wait_for_port

REPO_ROOT = Path(__file__).resolve().parent.parent
MODULE = "eventlake/stack/object_server.py"
#: The server before its objects were stored as versioned files (main of 2026-12-01).
BASELINE_REV = "98b9592"
BUCKET = "tansu"
BODY = b'{"high_watermark":1234567,"log_start":0,"stable":1234567}'.ljust(300, b" ")
SERVERS = ("current", "baseline")


def baseline_module(revision: str, folder: Path) -> Path:
    """The object server's module as it was at ``revision``, written under ``folder``."""
    source = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "show", f"{revision}:{MODULE}"], check=True, capture_output=True
    ).stdout
    path = folder / "baseline_object_server.py"
    path.write_bytes(source)
    return path


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(pid: int, puts: int, send: Callable[[int], None]) -> tuple[float, float]:
    """PUTs/s and server CPU microseconds per PUT of ``puts`` calls of ``send``."""
    cpu, started = cpu_seconds(pid), time.perf_counter()
    for number in range(puts):
        send(number)
    seconds = time.perf_counter() - started
    return puts / seconds, (cpu_seconds(pid) - cpu) / puts * 1e6


def measure(command: list[str], directory: Path, puts: int) -> dict[str, tuple[float, float]]:
    """(PUTs/s, CPU us per PUT) of one server for a rewritten key and for new keys."""
    (port,) = free_ports(1)
    argv = [*command, "--directory", str(directory), "--port", str(port), "--bucket", BUCKET]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30, server)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/{BUCKET}") as client:

            def rewrite(_: int) -> None:
                client.put("/clusters/bench/meta.json", content=BODY).raise_for_status()

            def create(number: int) -> None:
                client.put(f"/topics/t/partitions/0/records/{number:020d}.batch", content=BODY).raise_for_status()

            rewrite(0)  # warm-up: the connection, the folders
            return {"rewritten_key": timed(server.pid, puts, rewrite), "new_keys": timed(server.pid, puts, create)}
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=3000, help="PUTs per pattern per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of the baseline server")
    parser.add_argument("--fsync", action="store_true", help="run both servers with --fsync")
    args = parser.parse_args()

    (REPO_ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-object-server-", dir=REPO_ROOT / "var") as work:
        folder = Path(work)
        fsync = ["--fsync"] if args.fsync else []
        commands = {
            "current": [sys.executable, "-m", "eventlake.stack.object_server", *fsync],
            "baseline": [sys.executable, str(baseline_module(args.baseline_rev, folder)), *fsync],
        }
        samples: dict[str, dict[str, list[tuple[float, float]]]] = {s: {} for s in SERVERS}
        for round_number in range(1, args.rounds + 1):
            for name in SERVERS:
                figures = measure(commands[name], folder / f"{name}-{round_number}", args.puts)
                for pattern, figure in figures.items():
                    samples[name].setdefault(pattern, []).append(figure)
                    print(f"round {round_number} {name:8} {pattern:13} {figure[0]:7,.0f} PUTs/s "
                          f"{figure[1]:6.0f} us CPU/PUT", flush=True)  # fmt: skip

    result: dict[str, object] = {"benchmark": "object_server", "puts": args.puts, "rounds": args.rounds}
    for pattern in samples["current"]:
        medians = {
            name: {
                "puts_per_s": statistics.median(rate for rate, _ in samples[name][pattern]),
                "cpu_us_per_put": statistics.median(cpu for _, cpu in samples[name][pattern]),
            }
            for name in SERVERS
        }
        ratio = medians["current"]["puts_per_s"] / medians["baseline"]["puts_per_s"]
        result[pattern] = {**medians, "ratio": ratio}
        print(f"median {pattern:13}: {medians['current']['puts_per_s']:,.0f} PUTs/s "
              f"({medians['current']['cpu_us_per_put']:.0f} us CPU) vs baseline "
              f"{medians['baseline']['puts_per_s']:,.0f} ({medians['baseline']['cpu_us_per_put']:.0f} us CPU): "
              f"{ratio:.2f}x")  # fmt: skip
    result.update(baseline_rev=args.baseline_rev, fsync=args.fsync, load_average=os.getloadavg()[0])
    write_result("object_server", result)


if __name__ == "__main__":
    main()
