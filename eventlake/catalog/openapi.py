"""The producer API's OpenAPI 3.1 document, derived from the event catalog (no hand-written schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from eventlake.catalog.derive import (
    USER_ID_PATTERN,
    event_types,
    payload_model,
    request_model,
    tagged_request_model,
)
from eventlake.catalog.types import EventType

_REF = "#/components/schemas/{model}"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every 4xx and 5xx answer: what went wrong, and for bad input which field and why.",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "Machine-readable error code."},
        "message": {"type": "string", "description": "What went wrong, for a human."},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "problem"],
                "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
            },
        },
        "event_ids": {"type": "array", "items": {"type": "string"}, "description": "Ids to retry with (503)."},
    },
}
ACCEPTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "event_ids"],
    "properties": {
        "status": {"const": "accepted"},
        "event_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
        "event_type": {"type": "string"},
    },
}


def operation_id(et: EventType, prefix: str) -> str:
    return f"{prefix}_{et.domain}_{et.name}"


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
    }


def _responses(*, accepted: str = "Stored: the broker acknowledged every event.") -> dict[str, Any]:
    return {
        "202": {
            "description": accepted,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="Accepted")}}},
        },
        "400": _error("The body is empty or not JSON (including NaN, invalid UTF-8, too deep)."),
        "404": _error("No such route or event type."),
        "413": _error("The body is larger than allowed."),
        "415": _error("The content type is not JSON."),
        "422": _error("Valid JSON that breaks the event's schema: missing, extra, mistyped or out-of-range fields."),
        "503": {
            **_error("The broker did not acknowledge in time: nothing was promised; retry with the same ids."),
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
        },
    }


def _query_parameters(et: EventType, implied: dict[str, Any]) -> list[dict[str, Any]]:
    properties = payload_model(et).model_json_schema()["properties"]
    params: list[dict[str, Any]] = [
        {
            "name": "user_id",
            "in": "query",
            "required": False,
            "description": "The player or customer; defaults to anonymous@<client host>.",
            "schema": {"type": "string", "pattern": USER_ID_PATTERN, "maxLength": 64},
        }
    ]
    for f in et.fields:
        if f.name in implied:
            continue
        schema = {k: v for k, v in properties[f.name].items() if k not in ("title", "examples")}
        params.append(
            {"name": f.name, "in": "query", "required": f.required, "description": f.description, "schema": schema}
        )
    return params


def legacy_slug(route: str) -> str:
    """A unique name of a legacy route (``/deposit/`` -> ``deposit_slash``, ``/`` -> ``root``)."""
    name = route.strip("/").replace("/", "_") or "root"
    return f"{name}_slash" if route.endswith("/") and route != "/" else name


def _legacy_paths(et: EventType) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route, implied in et.legacy_routes.items():
        slug = legacy_slug(route)
        params = _query_parameters(et, dict(implied))
        body_properties = {p["name"]: p["schema"] for p in params}
        body_schema = {
            "type": "object",
            "properties": body_properties,
            "required": [p["name"] for p in params if p["required"]],
            "additionalProperties": False,
        }
        summary = f"Compatibility route of the original pipelines: records {et.event_type}."
        paths[route] = {
            "get": {
                "operationId": f"legacy_get_{slug}",
                "tags": ["compatibility"],
                "summary": summary,
                "parameters": params,
                "responses": _responses(),
            },
            "post": {
                "operationId": f"legacy_post_{slug}",
                "tags": ["compatibility"],
                "summary": summary,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": body_schema},
                        "application/x-www-form-urlencoded": {"schema": body_schema},
                    },
                },
                "responses": _responses(),
            },
        }
    return paths


def openapi_document(*, max_batch_events: int = 500, max_body_bytes: int = 1024 * 1024) -> dict[str, Any]:
    """The OpenAPI document of every endpoint of the producer API."""
    models: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (request_model(et), "validation") for et in event_types()
    ]
    models += [(tagged_request_model(et), "validation") for et in event_types()]
    refs, defs = models_json_schema(models, ref_template=_REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    tagged_refs = {et.event_type: refs[(tagged_request_model(et), "validation")]["$ref"] for et in event_types()}
    schemas["AnyEvent"] = {
        "oneOf": [{"$ref": ref} for ref in tagged_refs.values()],
        "discriminator": {"propertyName": "event_type", "mapping": tagged_refs},
    }
    schemas["Batch"] = {
        "type": "object",
        "required": ["events"],
        "additionalProperties": False,
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_batch_events,
                "items": {"$ref": _REF.format(model="AnyEvent")},
            }
        },
    }
    schemas["Error"] = ERROR_SCHEMA
    schemas["Accepted"] = ACCEPTED_SCHEMA

    paths: dict[str, Any] = {}
    for et in event_types():
        paths[f"/v1/events/{et.event_type}"] = {
            "post": {
                "operationId": operation_id(et, "publish"),
                "tags": [et.domain],
                "summary": et.description,
                "description": f"Schema version {et.version}; lands in table `{et.table}`.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": refs[(request_model(et), "validation")]}},
                },
                "responses": _responses(),
            }
        }
    paths["/v1/events"] = {
        "post": {
            "operationId": "publish_any",
            "tags": ["events"],
            "summary": "Publish one event of any type (event_type in the body).",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="AnyEvent")}}},
            },
            "responses": _responses(),
        }
    }
    paths["/v1/batch"] = {
        "post": {
            "operationId": "publish_batch",
            "tags": ["events"],
            "summary": f"Publish up to {max_batch_events} events or {max_body_bytes} bytes; all or nothing.",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="Batch")}}},
            },
            "responses": _responses(accepted="Stored: the broker acknowledged every event of the batch."),
        }
    }
    paths["/health"] = {
        "get": {
            "operationId": "health",
            "tags": ["operations"],
            "summary": "Liveness: the process answers.",
            "responses": {"200": {"description": "Alive."}},
        }
    }
    paths["/ready"] = {
        "get": {
            "operationId": "ready",
            "tags": ["operations"],
            "summary": "Readiness: the broker answers and every event topic exists.",
            "responses": {"200": {"description": "Ready."}, "503": _error("Not ready, with the reason.")},
        }
    }
    for et in event_types():
        paths.update(_legacy_paths(et))

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "eventlake producer API",
            "version": "1",
            "description": "Publishes validated events to Kafka; a 202 means the broker stored them. "
            "Derived from the event catalog (eventlake.catalog).",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
