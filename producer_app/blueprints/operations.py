"""Health, readiness and the OpenAPI document."""

from __future__ import annotations

from functools import cache

import orjson
from flask import Blueprint, Response

from eventlake.catalog.openapi import openapi_document
from producer_app.http import json_response
from producer_app.service import ProducerService

READY_CHECK_TIMEOUT_SECONDS = 1.5


def operations_blueprint(service: ProducerService) -> Blueprint:
    blueprint = Blueprint("operations", __name__)
    topics = sorted(set(service.topics.values()))

    @cache
    def openapi_bytes() -> bytes:
        return orjson.dumps(
            openapi_document(
                max_batch_events=service.settings.producer_max_batch_events,
                max_body_bytes=service.settings.producer_max_body_bytes,
            )
        )

    @blueprint.get("/health")
    def health() -> Response:
        return json_response({"status": "ok"})

    @blueprint.get("/ready")
    def ready() -> Response:
        ok, reason = service.publisher.ready(topics, timeout=READY_CHECK_TIMEOUT_SECONDS)
        if ok:
            return json_response({"status": "ready", "topics": topics})
        return json_response({"error": "not_ready", "message": reason}, 503, {"Retry-After": "2"})

    @blueprint.get("/openapi.json")
    def openapi() -> Response:
        return Response(openapi_bytes(), mimetype="application/json")

    return blueprint
