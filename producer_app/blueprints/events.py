"""The JSON API: one endpoint per event type, a generic one, and the batch endpoint."""

from __future__ import annotations

from flask import Blueprint, Response, request

from eventlake.catalog import event_types, get_event_type
from producer_app.http import json_body, json_response, request_info
from producer_app.service import ApiError, ProducerService, parse_json


def events_blueprint(service: ProducerService) -> Blueprint:
    """Routes under /v1: ``/v1/events/<event_type>``, ``/v1/events`` and ``/v1/batch``."""
    blueprint = Blueprint("events", __name__, url_prefix="/v1")
    max_event_bytes = service.settings.producer_max_event_bytes
    max_batch_bytes = service.settings.producer_max_body_bytes
    known = {et.event_type: et for et in event_types()}

    @blueprint.post("/events/<event_type>")
    def publish_typed(event_type: str) -> Response:
        et = known.get(event_type)
        if et is None:
            raise ApiError(404, "unknown_event_type", f"unknown event type {event_type!r}; known: {', '.join(known)}")
        document = parse_json(json_body(request, max_event_bytes))
        req = service.validate_typed(et, document)
        event_ids = service.publish([(et, req)], request_info(request))
        return json_response({"status": "accepted", "event_ids": event_ids, "event_type": et.event_type}, 202)

    @blueprint.post("/events")
    def publish_any() -> Response:
        req = service.validate_tagged(parse_json(json_body(request, max_event_bytes)))
        et = get_event_type(req.event_type)  # type: ignore[attr-defined]
        event_ids = service.publish([(et, req)], request_info(request))
        return json_response({"status": "accepted", "event_ids": event_ids, "event_type": et.event_type}, 202)

    @blueprint.post("/batch")
    def publish_batch() -> Response:
        requests = service.validate_batch(parse_json(json_body(request, max_batch_bytes)))
        events = [(known[req.event_type], req) for req in requests]  # type: ignore[attr-defined]
        event_ids = service.publish(events, request_info(request))
        return json_response({"status": "accepted", "event_ids": event_ids}, 202)

    return blueprint
