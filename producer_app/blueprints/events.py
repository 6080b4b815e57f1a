"""The event endpoints' place in Flask's URL map (405s, ``url_for``); :mod:`producer_app.events_wsgi` answers them."""

from __future__ import annotations

from flask import Blueprint, Response

from producer_app.service import ApiError


def events_blueprint() -> Blueprint:
    """Routes under /v1. A POST never reaches these views: the WSGI component in front answers it."""
    blueprint = Blueprint("events", __name__, url_prefix="/v1")

    def answered_in_front(**_: str) -> Response:
        raise ApiError(500, "internal_error", "the event endpoints are served by producer_app.events_wsgi")

    for rule, endpoint in (
        ("/events/<event_type>", "publish_typed"),
        ("/events", "publish_any"),
        ("/batch", "publish_batch"),
    ):
        blueprint.add_url_rule(rule, endpoint, answered_in_front, methods=["POST"])
    return blueprint
