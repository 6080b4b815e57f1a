"""The topic plan and the drift comparison (pure)."""

from __future__ import annotations

from eventlake.catalog import EVENT_TYPES
from eventlake.kafka_admin import ObservedTopic, compare, topic_plan
from eventlake.settings import load_settings


def test_plan_has_one_topic_per_domain_and_the_dead_letter_topic() -> None:
    settings = load_settings(kafka_partitions=4, kafka_topic_prefix="t.")
    plan = topic_plan(settings)
    domains = {et.domain for et in EVENT_TYPES}
    assert [spec.name for spec in plan] == [*sorted(f"t.{d}" for d in domains), "t.dead-letter"]
    assert {spec.partitions for spec in plan} == {4}


def test_compare_fixes_what_it_can_and_reports_the_rest() -> None:
    settings = load_settings(kafka_partitions=3, kafka_replication=1, kafka_retention_ms=1000, kafka_topic_prefix="t.")
    plan = topic_plan(settings)
    observed = {
        "t.game": ObservedTopic("t.game", 3, 1, 1000),
        "t.bank": ObservedTopic("t.bank", 2, 1, 999),
        "t.market": ObservedTopic("t.market", 5, 2, None),
    }
    changes = {(c.topic, c.kind) for c in compare(plan, observed)}
    assert changes == {
        ("t.bank", "add_partitions"),
        ("t.bank", "set_retention"),
        ("t.market", "drift"),
        ("t.market", "unverifiable"),
        ("t.dead-letter", "create"),
    }
    assert sum(1 for c in compare(plan, observed) if c.topic == "t.market" and c.kind == "drift") == 2
    assert not any(c.topic == "t.game" for c in compare(plan, observed))
