"""Run the producer API under the WSGI server the settings name: ``python -m producer_app.serve``.

The one command of every stack (the embedded stack's ``producer`` service, docker-compose, the tests and
the benchmark), so the server and its options are chosen in one place:

- **granian** (default): a Rust HTTP front calling the WSGI app from its blocking threads. On 2 cores it
  acknowledges 1.6-2x the single-event requests of gunicorn (``benchmarks/bench_producer.py --server``):
  gunicorn's Python request parsing and response writing cost about as much as the app itself. Workers that
  die are respawned; on SIGTERM each worker stops taking requests and flushes its producer before exiting.
- **gunicorn** (gthread): the classic choice, configured by ``producer_app/gunicorn_conf.py``.

The process execs the server, so a process manager's pid is the server's master.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from eventlake.settings import EventlakeSettings, load_settings

APP = "producer_app.wsgi:app"
REPO = Path(__file__).resolve().parents[1]
#: Seconds a stopping worker gets to flush its producer before it is killed.
GRACEFUL_STOP_SECONDS = 15


def server_command(settings: EventlakeSettings) -> list[str]:
    """The command line of the configured server, serving the producer app on the settings' host and port."""
    scripts = Path(sys.executable).parent
    if settings.producer_server == "gunicorn":
        return [str(scripts / "gunicorn"), "--config", str(REPO / "producer_app" / "gunicorn_conf.py"), APP]
    return [
        str(scripts / "granian"),
        "--interface", "wsgi",
        "--http", "1",
        "--no-ws",
        "--host", settings.producer_host,
        "--port", str(settings.producer_port),
        "--workers", str(settings.producer_worker_count),
        "--blocking-threads", str(settings.producer_thread_count),
        # A worker killed by anything but the master comes back (gunicorn does the same).
        "--respawn-failed-workers",
        "--respawn-interval", "0.5",
        "--workers-kill-timeout", str(GRACEFUL_STOP_SECONDS),
        "--log-level", "info",
        "--process-name", "eventlake-producer",
        APP,
    ]  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="Print the server's command line instead of running it.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = server_command(load_settings())
    if args.print:
        print(shlex.join(command))
        return
    # The app is imported from the repository, wherever the process manager started us.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    os.chdir(REPO)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
