"""Producer API benchmark: acked events/s and latency of the producer API vs the seed-style baseline, same broker.

Starts its own Tansu broker (on the object server's disk storage like the embedded stack by default;
``--storage memory`` without it), the producer API as the stack runs it (``python -m producer_app.serve``:
the settings' server, granian by default, and workers/threads), the same app under the other server for
comparison (``--compare-server``; single events only), and the
baseline (Flask development server, kafka-python fire-and-forget: a 200 that promises nothing), and
drives all of them with the same tool (Apache Bench, 32 clients, keep-alive, same event body).
Rounds alternate between them and the medians are reported. Prints the figures and writes
``var/bench/producer.json``.

    .venv/bin/python benchmarks/bench_producer.py [--requests 20000] [--rounds 3] [--storage s3|memory]
        [--compare-server gunicorn|granian|none]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PORT_BLOCK = range(21100, 21200)
CLIENTS = 32
EVENT = {
    "user_id": "player-0042",
    "payload": {"item": "sword", "item_kind": "gold", "strength": 7, "price": "25.00"},
}
TARGETS = {"single_events_per_s": 2500, "single_p99_ms": 25, "ratio_vs_baseline": 3.0, "batch_events_per_s": 100_000}


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free port of the block, never the same twice in one run (services bind some time later)."""
    for port in PORT_BLOCK:
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port in the benchmark's block")


def wait_http(url: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


# --- the baseline: what the seed pipelines did ------------------------------------------------------
def serve_baseline(port: int, bootstrap: str) -> None:
    """Flask development server; each request's event sent with kafka-python, not waited for."""
    import json

    from flask import Flask, request
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    app = Flask("baseline")

    @app.post("/v1/events/game.item_purchased")
    def purchase() -> tuple[str, int]:
        event = json.loads(request.get_data())
        event.update({"event_type": "game.item_purchased", "Host": request.headers.get("Host")})
        producer.send("eventlake.game", json.dumps(event).encode())
        return "Sword Purchased!\n", 200

    app.run(host="127.0.0.1", port=port, threaded=True)


# --- load ------------------------------------------------------------------------------------------
def apache_bench(url: str, body_file: Path, requests: int, clients: int = CLIENTS) -> dict[str, Any]:
    command = [
        "ab",
        "-q",
        "-k",
        "-n",
        str(requests),
        "-c",
        str(clients),
        "-p",
        str(body_file),
        "-T",
        "application/json",
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True).stdout
    figures: dict[str, Any] = {
        "requests_per_s": float(re.search(r"Requests per second:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "failed": int(re.search(r"Failed requests:\s+(\d+)", output).group(1)),  # type: ignore[union-attr]
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx responses:\s+(\d+)", output)) else 0,
    }
    complete = int(re.search(r"Complete requests:\s+(\d+)", output).group(1))  # type: ignore[union-attr]
    # Only 2xx answers count: a 503 is fast and acknowledges nothing.
    figures["ok_requests_per_s"] = figures["requests_per_s"] * (complete - figures["non_2xx"]) / max(complete, 1)
    for share in ("50", "95", "99"):
        figures[f"p{share}_ms"] = int(re.search(rf"^\s+{share}%\s+(\d+)", output, re.M).group(1))  # type: ignore[union-attr]
    figures["command"] = " ".join(command)
    return figures


class Services:
    def __init__(self, storage: str, workdir: Path) -> None:
        self.workdir = workdir
        self.storage = storage
        self.processes: list[subprocess.Popen[bytes]] = []
        self.broker: Any = None
        self.bootstrap = ""
        #: The settings each started producer server runs with, by server name.
        self.servers: dict[str, Any] = {}

    def start_broker(self) -> None:
        from eventlake.stack.testing import TansuBroker

        self.broker = TansuBroker(self.workdir / "broker", self.storage)
        self.broker.start_storage()
        self.broker.start()
        self.bootstrap = self.broker.bootstrap
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics(
            [NewTopic(f"eventlake.{d}", 3, 1) for d in ("game", "bank", "market")]
        ).values():
            future.result(20)

    def spawn(self, command: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO
        )
        self.processes.append(process)
        return process

    def start_producer(self, server: str | None = None) -> str:
        """The producer API as the stack starts it, under ``server`` (default: the settings')."""
        from eventlake.settings import load_settings

        port = free_port()
        env = {**os.environ, "EVENTLAKE_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "EVENTLAKE_PRODUCER_PORT": str(port),
               "EVENTLAKE_PRODUCER_HOST": "127.0.0.1", "EVENTLAKE_HOME": str(self.workdir / "home"),
               "PYTHONPATH": str(REPO)}  # fmt: skip
        if server is not None:
            env["EVENTLAKE_PRODUCER_SERVER"] = server
        settings = load_settings(**({"producer_server": server} if server else {}))
        self.servers[settings.producer_server] = settings
        self.spawn([sys.executable, "-m", "producer_app.serve"], settings.producer_server, env=env)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/ready")
        return url

    def start_baseline(self) -> str:
        port = free_port()
        self.spawn([sys.executable, __file__, "--serve-baseline", str(port), "--bootstrap", self.bootstrap], "baseline")
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/")
        return url

    def stop(self) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
        if self.broker is not None:
            self.broker.stop()


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_avg_at_start": os.getloadavg(),
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals next to this run's figures (rendered into BENCHMARKS.md by `make bench`)."""
    single, batch, ratio = result["single"], result["batch"], result["ratio_vs_baseline"]
    return [
        {
            "target": "single-event POSTs, 32 clients, acknowledged",
            "goal": f">= {TARGETS['single_events_per_s']:,} events/s",
            "measured": f"{single['acked_events_per_s']:,.0f} events/s",
            "met": single["acked_events_per_s"] >= TARGETS["single_events_per_s"],
        },
        {
            "target": "single-event POSTs, p99 latency",
            "goal": f"< {TARGETS['single_p99_ms']} ms",
            "measured": f"{single['p99_ms']} ms",
            "met": single["p99_ms"] < TARGETS["single_p99_ms"],
        },
        {
            "target": "single-event POSTs vs the fire-and-forget baseline",
            "goal": f">= {TARGETS['ratio_vs_baseline']:g}x its requests/s",
            "measured": f"{ratio:g}x",
            "met": ratio >= TARGETS["ratio_vs_baseline"],
        },
        {
            "target": f"batch endpoint, {batch['events_per_request']} events per request, acknowledged",
            "goal": f">= {TARGETS['batch_events_per_s']:,} events/s",
            "measured": f"{batch['acked_events_per_s']:,.0f} events/s",
            "met": batch["acked_events_per_s"] >= TARGETS["batch_events_per_s"],
        },
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000, help="Requests per single-event round.")
    parser.add_argument("--batch-requests", type=int, default=1_000, help="Requests per batch round.")
    parser.add_argument("--batch-size", type=int, default=100, help="Events per batch request.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--storage",
        choices=["memory", "s3"],
        default="s3",
        help="Broker storage: s3 (object server on disk, as embedded).",
    )
    parser.add_argument(
        "--compare-server",
        choices=["gunicorn", "granian", "none"],
        default=None,
        help="Also measure single events under this server (default: the one the settings do not use).",
    )
    parser.add_argument("--out", type=Path, default=REPO / "var/bench/producer.json")
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline, args.bootstrap)
        return 0
    if shutil.which("ab") is None:
        sys.exit("Apache Bench is needed: apt-get install -y apache2-utils")

    info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="bench-producer-"))
    single_body = workdir / "single.json"
    single_body.write_bytes(orjson.dumps(EVENT))
    batch_body = workdir / "batch.json"
    batch_body.write_bytes(orjson.dumps({"events": [{**EVENT, "event_type": "game.item_purchased"}] * args.batch_size}))
    services = Services(args.storage, workdir)
    try:
        services.start_broker()
        producer = services.start_producer()
        (server,) = services.servers
        other = args.compare_server or ("gunicorn" if server == "granian" else "granian")
        compared = services.start_producer(other) if other not in ("none", server) else None
        baseline = services.start_baseline()
        single_url = "/v1/events/game.item_purchased"
        # Warm-up: connections, the producer's first metadata, Python's caches.
        apache_bench(producer + single_url, single_body, 2_000)
        apache_bench(baseline + single_url, single_body, 2_000)
        rounds: dict[str, list[dict[str, Any]]] = {"producer": [], "baseline": [], "batch": []}
        if compared:
            apache_bench(compared + single_url, single_body, 2_000)
            rounds["compared"] = []
        for index in range(args.rounds):
            rounds["producer"].append(apache_bench(producer + single_url, single_body, args.requests))
            if compared:
                rounds["compared"].append(apache_bench(compared + single_url, single_body, args.requests))
            rounds["baseline"].append(apache_bench(baseline + single_url, single_body, args.requests))
            rounds["batch"].append(apache_bench(producer + "/v1/batch", batch_body, args.batch_requests))
            print(
                f"round {index + 1}: "
                + ", ".join(f"{k} {v[-1]['requests_per_s']:.0f} req/s" for k, v in rounds.items())
            )
    except BaseException:
        services.stop()
        print(f"the services' logs are kept in {workdir}", file=sys.stderr)
        raise
    services.stop()
    shutil.rmtree(workdir, ignore_errors=True)  # the broker's storage: a few hundred MB per run

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[name])

    result = {
        "benchmark": "producer",
        "machine": info,
        "broker": f"tansu 0.6.0, {args.storage} storage, 3 partitions, same broker for both",
        "load_tool": f"ab, {CLIENTS} clients, keep-alive, same machine",
        "producer": f"{server}, workers={services.servers[server].producer_worker_count} "
        f"threads={services.servers[server].producer_thread_count}, confluent-kafka "
        f"{'idempotent ' if services.servers[server].producer_idempotent else ''}acks=all, "
        f"202 after ack, batch requests on a second producer lingering "
        f"{services.servers[server].producer_bulk_linger_ms:g} ms",
        "baseline": "Flask development server (threaded), kafka-python send() fire-and-forget, 200 without ack",
        "rounds": args.rounds,
        "single": {
            "acked_events_per_s": median("producer", "ok_requests_per_s"),
            "p50_ms": median("producer", "p50_ms"),
            "p95_ms": median("producer", "p95_ms"),
            "p99_ms": median("producer", "p99_ms"),
            "non_2xx": sum(r["non_2xx"] + r["failed"] for r in rounds["producer"]),
        },
        **(
            {
                "compared_single": {
                    "server": f"{other}, workers={services.servers[other].producer_worker_count} "
                    f"threads={services.servers[other].producer_thread_count}",
                    "acked_events_per_s": median("compared", "ok_requests_per_s"),
                    "p50_ms": median("compared", "p50_ms"),
                    "p99_ms": median("compared", "p99_ms"),
                    "non_2xx": sum(r["non_2xx"] + r["failed"] for r in rounds["compared"]),
                }
            }
            if compared
            else {}
        ),
        "baseline_single": {
            "requests_per_s": median("baseline", "requests_per_s"),
            "p99_ms": median("baseline", "p99_ms"),
            "non_2xx": sum(r["non_2xx"] + r["failed"] for r in rounds["baseline"]),
        },
        "batch": {
            "events_per_request": args.batch_size,
            "acked_events_per_s": median("batch", "ok_requests_per_s") * args.batch_size,
            "p99_ms": median("batch", "p99_ms"),
            "non_2xx": sum(r["non_2xx"] + r["failed"] for r in rounds["batch"]),
        },
        "goals": TARGETS,
        "commands": sorted({r["command"] for runs in rounds.values() for r in runs}),
        "rounds_raw": rounds,
    }
    result["ratio_vs_baseline"] = round(
        result["single"]["acked_events_per_s"] / max(result["baseline_single"]["requests_per_s"], 1e-9), 2
    )
    no_errors = result["single"]["non_2xx"] == 0 and result["batch"]["non_2xx"] == 0
    result["meets"] = {
        "no_refused_requests": no_errors,
        "single_events_per_s": result["single"]["acked_events_per_s"] >= TARGETS["single_events_per_s"],
        "single_p99_ms": result["single"]["p99_ms"] < TARGETS["single_p99_ms"],
        "ratio_vs_baseline": result["ratio_vs_baseline"] >= TARGETS["ratio_vs_baseline"],
        "batch_events_per_s": result["batch"]["acked_events_per_s"] >= TARGETS["batch_events_per_s"],
    }
    result["targets"] = targets(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))

    print(f"\nmachine: {info['cpus']} x {info['cpu']}, load avg at start {info['load_avg_at_start']}")
    print(f"broker: {result['broker']}; load: {result['load_tool']}")
    print(f"{'':32}{'req/s':>10}{'events/s':>12}{'p50 ms':>8}{'p99 ms':>8}")
    s, b, k = result["single"], result["baseline_single"], result["batch"]

    def row(label: str, figures: dict[str, Any]) -> str:
        rate = figures["acked_events_per_s"]
        return f"{label:32}{rate:>10.0f}{rate:>12.0f}{figures['p50_ms']:>8.0f}{figures['p99_ms']:>8.0f}"

    print(row(f"producer single, {server} (acked)", s))
    if (c := result.get("compared_single")) is not None:
        print(row(f"same under {other} (acked)", c))
    print(f"{'baseline (fire-and-forget)':32}{b['requests_per_s']:>10.0f}{b['requests_per_s']:>12.0f}"
          f"{'':>8}{b['p99_ms']:>8.0f}")  # fmt: skip
    print(f"{'producer batch x' + str(args.batch_size):32}{k['acked_events_per_s'] / args.batch_size:>10.0f}"
          f"{k['acked_events_per_s']:>12.0f}{'':>8}{k['p99_ms']:>8.0f}")  # fmt: skip
    print(f"ratio producer/baseline: {result['ratio_vs_baseline']}x; meets targets: {result['meets']}")
    refused = result["single"]["non_2xx"] + result["batch"]["non_2xx"]
    if refused:
        print(f"WARNING: {refused} producer requests were not 2xx (not counted as acked); see {workdir}")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
