"""Every artefact is derived from the one declaration per event type: change it once, it shows everywhere."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from typing import Any

import pytest
from pyspark.sql.types import DecimalType, LongType, StringType, TimestampType

from eventlake.catalog import (
    ENVELOPE_COLUMNS,
    EVENT_TYPES,
    LINEAGE_COLUMNS,
    PARTITION_COLUMNS,
    EventField,
    curated_columns,
    derive,
    example_payload,
    hive_table_ddl,
    payload_model,
    published_event_adapter,
    request_model,
    spark_curated_schema,
    spark_payload_schema,
)
from eventlake.catalog.openapi import openapi_document
from eventlake.catalog.types import Integer, Money

ALL = pytest.mark.parametrize("et", EVENT_TYPES, ids=lambda et: et.event_type)


def _clear_caches() -> None:
    for name in dir(derive):
        function = getattr(derive, name)
        if hasattr(function, "cache_clear"):
            function.cache_clear()


@pytest.fixture
def changed_catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The catalog with one new field declared on every event type (and nowhere else)."""
    probe = EventField("loyalty_points", Integer(ge=0, le=1000), "Probe field added in one place.", example=5)
    changed = tuple(dataclasses.replace(et, fields=(*et.fields, probe)) for et in EVENT_TYPES)
    monkeypatch.setattr(derive, "EVENT_TYPES", changed)
    _clear_caches()
    try:
        yield changed
    finally:
        monkeypatch.undo()
        _clear_caches()


@ALL
def test_a_field_declared_once_shows_up_in_docs_spark_schema_and_table(et: Any, changed_catalog: Any) -> None:
    changed = next(c for c in changed_catalog if c.event_type == et.event_type)

    schemas = openapi_document()["components"]["schemas"]
    payload_schema = schemas[derive._class_name(changed, "Payload")]
    assert payload_schema["properties"]["loyalty_points"]["maximum"] == 1000
    assert "loyalty_points" in payload_schema["required"]
    assert spark_payload_schema(changed)["loyalty_points"].dataType == LongType()
    assert spark_curated_schema(changed)["loyalty_points"].dataType == LongType()
    assert "`loyalty_points` bigint" in hive_table_ddl(changed, database="db", location="file:///x")
    assert "loyalty_points" in payload_model(changed).model_fields


@ALL
def test_derivations_agree_with_the_declaration(et: Any) -> None:
    names = et.field_names()
    assert list(spark_payload_schema(et).names) == names
    assert [c[0] for c in curated_columns(et)] == (
        [c[0] for c in ENVELOPE_COLUMNS] + names + [c[0] for c in LINEAGE_COLUMNS]
    )
    assert spark_curated_schema(et, with_partitions=True).names[-2:] == [c[0] for c in PARTITION_COLUMNS]
    ddl = hive_table_ddl(et, database="eventlake", location="file:///lake/curated/x")
    for field in et.fields:
        assert f"`{field.name}` {field.type.hive_type()}" in ddl
        spark_type = spark_curated_schema(et)[field.name].dataType
        if isinstance(field.type, Money):
            assert spark_type == DecimalType(field.type.precision, field.type.scale)
        else:
            assert spark_type in (StringType(), LongType(), TimestampType())
    assert f"'eventlake.schema_version'='{et.version}'" in ddl
    path = openapi_document()["paths"][f"/v1/events/{et.event_type}"]
    assert path["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        derive._class_name(et, "Request")
    )
    for route in et.legacy_routes:
        assert route in openapi_document()["paths"]


@ALL
def test_fixtures_are_valid_requests_and_events(et: Any) -> None:
    for rng in (None, random.Random(1), random.Random(2)):
        payload = example_payload(et, rng)
        request_model(et).model_validate({"user_id": "u1", "payload": payload})
        event = {
            "event_id": "01a20d07-d197-75f9-a9bb-f67f51fb7053",
            "event_type": et.event_type,
            "schema_version": et.version,
            "event_time": "2026-11-24T10:00:00Z",
            "received_at": "2026-11-24T10:00:01Z",
            "user_id": "u1",
            "payload": payload,
        }
        assert published_event_adapter().validate_python(event).event_type == et.event_type


def test_every_domain_of_the_original_pipelines_is_covered() -> None:
    names = {et.event_type for et in EVENT_TYPES}
    assert {"game.item_purchased", "game.guild_joined", "game.guild_quit", "game.war_declared"} <= names
    assert {"game.peace_declared", "game.paid", "game.page_viewed"} <= names
    assert {"bank.account_opened", "bank.account_closed", "bank.deposited", "bank.withdrawn"} <= names
    assert {"bank.asset_bought", "bank.asset_sold", "bank.asset_prices_viewed", "bank.account_viewed"} <= names
    assert "market.price_tick" in names
    routes = [route for et in EVENT_TYPES for route in et.legacy_routes]
    assert len(routes) == len(set(routes))
    assert {"/purchase_a_sword", "/join_a_guild", "/quit_guild", "/get_paid", "/declare_a_war"} <= set(routes)
    assert {"/return_price", "/deposit/"} <= set(routes)


def test_money_is_exact_and_floats_that_lost_digits_are_refused() -> None:
    et = next(et for et in EVENT_TYPES if et.event_type == "bank.deposited")
    model = request_model(et)

    def amount(value: Any) -> Any:
        body = {"user_id": "u", "payload": {"account_id": "a", "amount": value, "currency": "EUR"}}
        return model.model_validate(body).payload.amount

    assert str(amount(0.1)) == "0.1"
    assert str(amount("1234567890123456.78")) == "1234567890123456.78"
    with pytest.raises(ValueError, match="significant digits"):
        amount(1234567890123456.78)
    with pytest.raises(ValueError, match="decimal places"):
        amount("1.001")
