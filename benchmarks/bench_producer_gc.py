"""The producer app's garbage collection under load, with and without ``settle_heap()`` (the servers' default).

``python benchmarks/bench_producer_gc.py [--rounds 3]``

32 threads post through the WSGI app in-process (no HTTP, no broker: a stand-in acknowledges every
publish after 5 ms, so requests stay alive as long as they wait for a real broker). Every collection's
pause is timed with ``gc.callbacks``. Each mode runs in its own process, alternating, ``--rounds`` times;
figures are medians. Writes ``var/bench/producer_gc.json``.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from bench_producer import EVENT
from results import write_result

THREADS = 32
ACK_SECONDS = 0.005
WORKLOADS = {
    "single": ("/v1/events/game.item_purchased", orjson.dumps(EVENT), 1_500),
    "batch": ("/v1/batch", orjson.dumps({"events": [{**EVENT, "event_type": "game.item_purchased"}] * 100}), 100),
}


class _AckAfterDelay:
    """A broker stand-in: every publish is acknowledged after ACK_SECONDS, and nothing is kept.

    Not ``MemoryPublisher(delay_seconds=...)``: it keeps every message, which would grow the heap the
    collector traverses, unlike a worker whose producer lets go of what the broker acknowledged.
    """

    def publish(self, messages: Any, timeout: float) -> None:
        time.sleep(ACK_SECONDS)

    def ready(self, topics: Any, timeout: float) -> tuple[bool, str]:
        return True, "ok"

    def close(self, timeout: float = 10.0) -> int:
        return 0


def measure(settled: bool, workload: str) -> dict[str, Any]:
    """One run in this process: requests/s, CPU and latency per request, collections and their pauses."""
    from eventlake.settings import EventlakeSettings
    from producer_app import create_app, settle_heap

    app = create_app(EventlakeSettings(), _AckAfterDelay())
    if settled:
        settle_heap()
    path, body, per_thread = WORKLOADS[workload]
    pauses: list[tuple[int, float]] = []
    started: dict[int, tuple[float, int]] = {}

    def on_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[threading.get_ident()] = (time.perf_counter(), info["generation"])
        else:
            begin, generation = started.pop(threading.get_ident())
            pauses.append((generation, time.perf_counter() - begin))

    latencies: list[float] = []

    def client() -> None:
        for _ in range(per_thread):
            environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_TYPE": "application/json",
                       "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
                       "REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": "bench"}  # fmt: skip
            begin = time.perf_counter()
            b"".join(app(environ, lambda status, headers: None))
            latencies.append(time.perf_counter() - begin)

    gc.callbacks.append(on_collection)
    cpu, wall = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    gc.callbacks.remove(on_collection)
    latencies.sort()
    full = [seconds for generation, seconds in pauses if generation == 2]
    return {
        "requests_per_s": round(len(latencies) / wall),
        "cpu_us_per_request": round(cpu / len(latencies) * 1e6),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1e3, 1),
        "collections": len(pauses),
        "full_collections": len(full),
        "longest_pause_ms": round(max((s for _, s in pauses), default=0.0) * 1e3, 1),
        "collecting_ms": round(sum(s for _, s in pauses) * 1e3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", nargs=2, metavar=("MODE", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0] == "settled", args.measure[1])))
        return 0

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {w: {"settled": [], "default": []} for w in WORKLOADS}
    for index in range(args.rounds):
        for workload in WORKLOADS:
            modes = ("default", "settled") if index % 2 == 0 else ("settled", "default")
            for mode in modes:
                command = [sys.executable, __file__, "--measure", mode, workload]
                output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
                run = json.loads(output.strip().splitlines()[-1])
                runs[workload][mode].append(run)
                print(f"round {index + 1} {workload:6} {mode:8} {run}", flush=True)
    medians = {
        workload: {mode: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for mode, rs in by_mode.items()}
        for workload, by_mode in runs.items()
    }
    for workload, by_mode in medians.items():
        base, settled = by_mode["default"], by_mode["settled"]
        print(
            f"{workload:6}: requests/s {base['requests_per_s']:,.0f} -> {settled['requests_per_s']:,.0f} "
            f"({settled['requests_per_s'] / base['requests_per_s']:.2f}x), CPU/request "
            f"{base['cpu_us_per_request']:,.0f} -> {settled['cpu_us_per_request']:,.0f} us, full collections "
            f"{base['full_collections']:g} -> {settled['full_collections']:g}, collecting "
            f"{base['collecting_ms']:,.0f} -> {settled['collecting_ms']:,.0f} ms (medians of {args.rounds})"
        )
    write_result(
        "producer_gc",
        {
            "benchmark": "producer_gc",
            "setup": f"in-process WSGI app, {THREADS} threads, broker stand-in acking after {ACK_SECONDS * 1e3:g} ms",
            "baseline": "default: CPython's collector as it starts (threshold 700, nothing frozen)",
            "medians": medians,
            "runs": runs,
            "rounds": args.rounds,
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
