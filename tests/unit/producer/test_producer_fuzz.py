"""Fuzz the producer API from its own OpenAPI document: no answer other than 503 may be a 5xx."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from eventlake.kafka_publisher import MemoryPublisher
from eventlake.settings import EventlakeSettings
from producer_app import create_app

PUBLISHER = MemoryPublisher()
STATUSES: Counter[int] = Counter()
APP = create_app(EventlakeSettings(), PUBLISHER)
SCHEMA = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_for_any_generated_request(case: Any) -> None:
    response = case.call()
    STATUSES[response.status_code] += 1

    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/json"), (case.path, response.status_code)
        assert response.json()["error"]


@pytest.mark.parametrize("reason", ["broker down"])
def test_broker_down_answers_503_for_a_valid_event(reason: str) -> None:
    PUBLISHER.unavailable = reason
    try:
        response = APP.test_client().get("/get_paid?user_id=u1&amount=5")
        assert response.status_code == 503
    finally:
        PUBLISHER.unavailable = None


def test_the_fuzzing_reached_both_acceptance_and_refusal() -> None:
    """Runs after the fuzz test (file order): generated requests were both accepted and refused."""
    assert STATUSES[202] > 0
    assert sum(n for status, n in STATUSES.items() if 400 <= status < 500) > 0
    assert all(status < 500 for status in STATUSES)
