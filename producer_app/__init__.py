"""The producer API: validated events in, 202 only once the broker stored them.

``create_app(settings, publisher)`` is the app factory; the publisher (broker client) is injected so
tests run against :class:`~eventlake.kafka_publisher.MemoryPublisher` and the server
(``python -m producer_app.serve``: granian or gunicorn) against Kafka.
"""

from __future__ import annotations

import logging
import multiprocessing.util

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from eventlake.kafka_publisher import KafkaPublisher, Publisher
from eventlake.settings import EventlakeSettings, load_settings
from producer_app.blueprints.compat import compat_blueprint
from producer_app.blueprints.events import events_blueprint
from producer_app.blueprints.operations import operations_blueprint
from producer_app.events_wsgi import EventsEndpoints
from producer_app.http import error_response, json_response
from producer_app.service import ApiError, ProducerService

log = logging.getLogger(__name__)
EXTENSION = "eventlake_producer"


def create_app(settings: EventlakeSettings | None = None, publisher: Publisher | None = None) -> Flask:
    """Build the app; without a publisher, a Kafka one from the settings (closed and flushed at exit)."""
    settings = settings or load_settings()
    if publisher is None:
        publisher = KafkaPublisher.from_settings(settings)
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


def close_publisher(app: Flask, timeout: float = 10.0) -> int:
    """Flush and close the app's publisher (gunicorn's worker_exit); how many messages were lost."""
    service: ProducerService = app.extensions[EXTENSION]
    return service.publisher.close(timeout)
