"""The JSON event endpoints as a lean WSGI component in front of Flask: the hot path of the API.

``POST /v1/events/<event_type>``, ``POST /v1/events`` and ``POST /v1/batch`` are answered here without
Flask's request and app contexts (about two thirds of a request's CPU time at this size); every other
route falls through to the Flask app. Validation, envelope, publishing and errors are the shared
:class:`~producer_app.service.ProducerService`, so behaviour is the same as anywhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from eventlake.catalog import event_types, get_event_type
from producer_app.service import ApiError, ProducerService, RequestInfo, parse_json

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TYPED_PREFIX = "/v1/events/"
_JSON_HEADERS = [("Content-Type", "application/json")]
_REASONS = {
    202: "Accepted",
    400: "Bad Request",
    404: "Not Found",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _is_json(content_type: str) -> tuple[bool, str]:
    mimetype, _, params = content_type.partition(";")
    mimetype = mimetype.strip().lower()
    ok = mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))
    charset = "utf-8"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return ok, charset


class EventsEndpoints:
    """WSGI middleware: answers the event endpoints, passes everything else to ``fallback``."""

    def __init__(self, service: ProducerService, fallback: WsgiApp) -> None:
        self.service = service
        self.fallback = fallback
        self.known = {et.event_type: et for et in event_types()}
        self.max_event_bytes = service.settings.producer_max_event_bytes
        self.max_batch_bytes = service.settings.producer_max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not (path.startswith("/v1/events") or path == "/v1/batch"):
            return self.fallback(environ, start_response)
        try:
            status, body = self.handle(path, environ)
            headers = _JSON_HEADERS
        except ApiError as error:
            status, body = error.status, error.body()
            headers = _JSON_HEADERS + list(error.headers.items())
        except Exception:
            log.exception("unexpected error")
            status, body = 500, {"error": "internal_error", "message": "unexpected error; it was logged"}
            headers = _JSON_HEADERS
        if status == 404 and body is None:
            return self.fallback(environ, start_response)
        payload = orjson.dumps(body)
        start_response(f"{status} {_REASONS.get(status, '')}", [*headers, ("Content-Length", str(len(payload)))])
        return [payload]

    def handle(self, path: str, environ: dict[str, Any]) -> tuple[int, Any]:
        service = self.service
        if path == "/v1/batch":
            requests = service.validate_batch_body(self.body(environ, self.max_batch_bytes))
            events = [(self.known[req.event_type], req) for req in requests]  # type: ignore[attr-defined]
            event_ids = service.publish(events, self.info(environ))
            return 202, {"status": "accepted", "event_ids": event_ids}
        if path == "/v1/events":
            req = service.validate_tagged(parse_json(self.body(environ, self.max_event_bytes)))
            et = get_event_type(req.event_type)  # type: ignore[attr-defined]
        elif path.startswith(TYPED_PREFIX) and "/" not in path[len(TYPED_PREFIX) :]:
            name = path[len(TYPED_PREFIX) :]
            found = self.known.get(name)
            if found is None:
                raise ApiError(404, "unknown_event_type", f"unknown event type {name!r}; see /openapi.json")
            et = found
            req = service.validate_typed(et, parse_json(self.body(environ, self.max_event_bytes)))
        else:
            return 404, None
        event_ids = service.publish([(et, req)], self.info(environ))
        return 202, {"status": "accepted", "event_ids": event_ids, "event_type": et.event_type}

    @staticmethod
    def info(environ: dict[str, Any]) -> RequestInfo:
        """The allow-listed context: User-Agent and the client's address. No other header is read."""
        return RequestInfo.from_headers(environ.get("HTTP_USER_AGENT"), environ.get("REMOTE_ADDR"))

    @staticmethod
    def body(environ: dict[str, Any], max_bytes: int) -> bytes:
        ok, charset = _is_json(environ.get("CONTENT_TYPE", ""))
        if not ok:
            shown = environ.get("CONTENT_TYPE", "").partition(";")[0].strip() or "nothing"
            raise ApiError(415, "unsupported_media_type", f"send Content-Type: application/json, not {shown!r}")
        if charset not in ("utf-8", "utf8"):
            raise ApiError(415, "unsupported_charset", f"JSON must be UTF-8, not {charset!r}")
        length_header = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if length_header:
            try:
                length = int(length_header)
            except ValueError:
                raise ApiError(400, "bad_content_length", "Content-Length is not a number") from None
            if length > max_bytes:
                raise ApiError(413, "body_too_large", f"the body has {length} bytes; at most {max_bytes}")
            body: bytes = stream.read(length) if length > 0 else b""
        else:  # chunked: read one byte more than allowed to tell "too large" from "just fits"
            body = stream.read(max_bytes + 1) if environ.get("wsgi.input_terminated") else b""
            if len(body) > max_bytes:
                raise ApiError(413, "body_too_large", f"the body has more than {max_bytes} bytes")
        return body
