"""Flask glue shared by the blueprints: reading JSON bodies, the request context, JSON answers."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Request, Response

from producer_app.service import ApiError, RequestInfo

JSON_MIMETYPE = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, headers=headers, mimetype=JSON_MIMETYPE)


def error_response(error: ApiError) -> Response:
    return json_response(error.body(), error.status, error.headers)


def request_info(request: Request) -> RequestInfo:
    """The allow-listed context: User-Agent and the client's address. No other header is read."""
    return RequestInfo.from_headers(request.headers.get("User-Agent"), request.remote_addr)


def is_json(request: Request) -> bool:
    mimetype = request.mimetype
    return mimetype == JSON_MIMETYPE or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def json_body(request: Request, max_bytes: int) -> bytes:
    """The raw JSON body, after the content type, charset and size checks."""
    if not is_json(request):
        raise ApiError(
            415, "unsupported_media_type", f"send Content-Type: application/json, not {request.mimetype or 'nothing'!r}"
        )
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_charset", f"JSON must be UTF-8, not {charset!r}")
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "body_too_large", f"the body has {request.content_length} bytes; at most {max_bytes}")
    body = request.get_data(cache=False)
    if len(body) > max_bytes:
        raise ApiError(413, "body_too_large", f"the body has more than {max_bytes} bytes")
    return body
