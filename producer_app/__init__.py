"""The producer API: validated events in, 202 only once the broker stored them.

``create_app(settings, publisher)`` is the app factory; the publisher (broker client) is injected so
tests run against :class:`~eventlake.kafka_publisher.MemoryPublisher` and the server
(``python -m producer_app.serve``: granian or gunicorn) against Kafka.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing.util

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from eventlake.kafka_publisher import BulkRoutingPublisher, Publisher
from eventlake.settings import EventlakeSettings, load_settings
from producer_app.blueprints.compat import compat_blueprint
from producer_app.blueprints.events import events_blueprint
from producer_app.blueprints.operations import operations_blueprint
from producer_app.events_wsgi import EventsEndpoints
from producer_app.http import error_response, json_response
from producer_app.service import ApiError, ProducerService

log = logging.getLogger(__name__)
EXTENSION = "eventlake_producer"
#: Container allocations between young-generation collections (CPython's default: 700). A batch request
#: allocates a few thousand; what is still alive when one runs (the events waiting for the broker's ack)
#: is promoted and traversed again by every older generation's collection.
YOUNG_COLLECTION_THRESHOLD = 10_000


def create_app(settings: EventlakeSettings | None = None, publisher: Publisher | None = None) -> Flask:
    """Build the app; without a publisher, a Kafka one from the settings (closed and flushed at exit)."""
    settings = settings or load_settings()
    if publisher is None:
        publisher = BulkRoutingPublisher.from_settings(settings)
        # At exit, flush what is buffered. A multiprocessing finalizer, not atexit: granian's workers are
        # multiprocessing children, which run these (and skip atexit); elsewhere they run at exit as well.
        multiprocessing.util.Finalize(publisher, publisher.close, args=(10.0,), exitpriority=10)
    service = ProducerService(settings, publisher)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.producer_max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = service
    app.register_blueprint(events_blueprint())
    app.register_blueprint(operations_blueprint(service))
    app.register_blueprint(compat_blueprint(service))

    # The hot path: the event endpoints answered without Flask's per-request machinery.
    app.wsgi_app = EventsEndpoints(service, app.wsgi_app)  # type: ignore[method-assign]

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        name = (error.name or "error").lower().replace(" ", "_")
        return json_response({"error": name, "message": error.description or error.name}, code)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return json_response({"error": "internal_error", "message": "unexpected error; it was logged"}, 500)

    return app


def settle_heap() -> None:
    """Keep the garbage collector off the app's start-up objects and out of the batch endpoint's way.

    A batch request allocates a few thousand objects that live until the broker acknowledges them, so
    under load the collector ran often and its full collections traversed the app's ~50,000 start-up
    objects (routes, validators, schemas) each time. ``benchmarks/bench_producer_gc.py`` (32 threads
    posting batches of 100 events in-process, a broker stand-in acking after 5 ms), medians: 22 full
    collections and 1.6 s collecting per run against none and 7 ms once settled, 26% less CPU per batch
    request, 1.31x the requests/s. Single events allocate too little to trigger the collector either way.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


def close_publisher(app: Flask, timeout: float = 10.0) -> int:
    """Flush and close the app's publisher (gunicorn's worker_exit); how many messages were lost."""
    service: ProducerService = app.extensions[EXTENSION]
    return service.publisher.close(timeout)
