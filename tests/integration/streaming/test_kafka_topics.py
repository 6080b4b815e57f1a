"""Topics as code against a real (Tansu) broker: create, verify idempotently, report drift."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka.admin import NewTopic

from eventlake.kafka_admin import admin_client, ensure_topics, topic_plan

pytestmark = pytest.mark.integration


def test_second_run_changes_nothing(stream_settings: Any) -> None:
    # stream_settings already ran ensure_topics once; the plan is in place.
    report = ensure_topics(stream_settings)
    assert report.drift == []
    assert report.done == []
    assert sorted(report.ok) == sorted(spec.name for spec in topic_plan(stream_settings))
    metadata = admin_client(stream_settings).list_topics(timeout=10)
    for spec in topic_plan(stream_settings):
        assert len(metadata.topics[spec.name].partitions) == spec.partitions


def test_too_few_partitions_is_fixed_or_reported_never_ignored(stream_settings: Any) -> None:
    from eventlake.settings import load_settings

    settings = load_settings(
        home=stream_settings.home,
        kafka_bootstrap_servers=stream_settings.kafka_bootstrap_servers,
        kafka_topic_prefix=stream_settings.kafka_topic_prefix + "drift.",
        kafka_partitions=3,
    )
    admin = admin_client(settings)
    short = settings.topic("game")
    admin.create_topics([NewTopic(short, 1, 1)])[short].result(timeout=30)
    report = ensure_topics(settings)
    partitions = len(admin.list_topics(timeout=10).topics[short].partitions)
    fixed = any(c.topic == short and c.kind == "add_partitions" for c in report.done)
    reported = any(c.topic == short for c in report.drift)
    assert (fixed and partitions == 3) or (reported and partitions < 3), report.lines()
    assert short not in report.ok
    if reported:
        with pytest.raises(RuntimeError, match="drift"):
            report.raise_for_drift()
