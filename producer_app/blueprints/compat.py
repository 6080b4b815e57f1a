"""Compatibility routes: the original pipelines' URLs (``GET /purchase_a_sword?...``, ``POST /deposit/``).

Values come from the query string, a form body or a flat JSON object; the route implies some payload
values (``/purchase_a_sword`` -> ``item=sword``); ``user_id`` defaults to ``anonymous@<client host>``
because the original load scripts sent none. The events are validated like any other.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Request, Response, request

from eventlake.catalog import EventType, event_types
from eventlake.catalog.openapi import legacy_slug
from producer_app.http import is_json, json_body, json_response, request_info
from producer_app.service import ApiError, ProducerService, parse_json


def _values(req: Request, max_bytes: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, items in req.args.lists():
        if len(items) > 1:
            raise ApiError(422, "invalid_event", f"{name}: given {len(items)} times; give it once")
        values[name] = items[0]
    if req.method != "POST" or not (req.content_length or req.headers.get("Transfer-Encoding")):
        return values
    if is_json(req):
        document = parse_json(json_body(req, max_bytes))
        if not isinstance(document, dict):
            raise ApiError(422, "invalid_event", "(body): send a flat JSON object")
        body: dict[str, Any] = document
    elif req.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if req.content_length is not None and req.content_length > max_bytes:
            raise ApiError(413, "body_too_large", f"the body has {req.content_length} bytes; at most {max_bytes}")
        body = req.form.to_dict()
    else:
        raise ApiError(415, "unsupported_media_type", "send a query string, a form or a JSON object")
    clash = set(body) & set(values)
    if clash:
        raise ApiError(422, "invalid_event", f"{sorted(clash)[0]}: given in both the query string and the body")
    return values | body


def compat_blueprint(service: ProducerService) -> Blueprint:
    """One GET+POST route per legacy URL of every event type in the catalog."""
    blueprint = Blueprint("compat", __name__)
    max_bytes = service.settings.producer_max_event_bytes

    def view_for(et: EventType, implied: dict[str, Any]) -> Any:
        def legacy_event() -> Response:
            info = request_info(request)
            req = service.validate_legacy(et, implied, _values(request, max_bytes), info)
            event_ids = service.publish([(et, req)], info)
            return json_response({"status": "accepted", "event_ids": event_ids, "event_type": et.event_type}, 202)

        return legacy_event

    for et in event_types():
        for route, implied in et.legacy_routes.items():
            endpoint = legacy_slug(route)
            blueprint.add_url_rule(route, endpoint, view_for(et, dict(implied)), methods=["GET", "POST"])
    return blueprint
