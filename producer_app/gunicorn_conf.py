"""gunicorn configuration of the producer API, from the eventlake settings.

``EVENTLAKE_PRODUCER_SERVER=gunicorn python -m producer_app.serve`` runs
``gunicorn -c producer_app/gunicorn_conf.py producer_app.wsgi:app``. Threads (gthread) because a
request mostly waits for the broker's ack; no preload, so each worker builds its own Kafka producer
after the fork.
"""

from __future__ import annotations

from typing import Any

from eventlake.settings import load_settings

_settings = load_settings()

bind = f"{_settings.producer_host}:{_settings.producer_port}"
workers = _settings.producer_worker_count
threads = _settings.producer_thread_count
worker_class = "gthread"
preload_app = False
keepalive = 5
timeout = 30
graceful_timeout = 15
backlog = 1024
# Request line and header limits stay at gunicorn's defaults; smaller bodies are enforced by the app.
accesslog = None
errorlog = "-"
loglevel = "info"
proc_name = "eventlake-producer"


def worker_exit(server: Any, worker: Any) -> None:
    """Flush what the worker's producer still buffers before it exits (SIGTERM, max requests)."""
    from producer_app import close_publisher

    app = getattr(worker, "wsgi", None)
    if app is not None:
        lost = close_publisher(app, timeout=float(graceful_timeout) - 2)
        if lost:
            server.log.error("worker %s exited with %d undelivered messages", worker.pid, lost)
