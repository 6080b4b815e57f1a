"""The stream against a real (Tansu) broker: tail of the log, exactly once, quarantine, resume, stop."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from eventlake.streaming.control import StreamPaths
from eventlake.streaming.fixtures import produce
from eventlake.streaming.job import StreamRunner, event_topics
from eventlake.streaming.kafka_source import BrokerProbe

from .conftest import assert_exactly_once, assert_resume_lands_only_new_messages, produce_bursts_until_landed

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kafka_bootstrap", ["memory", "s3"], indirect=True)
def test_tansu_tail_is_read_and_every_message_lands_exactly_once(stream_settings: Any, local_spark: Any) -> None:
    valid, malformed = produce(stream_settings, 20_000, malformed_every=100)
    # The quirk is real on this broker: ListOffsets stops short of the true end of some partition.
    probe = BrokerProbe(stream_settings.kafka_bootstrap_servers, event_topics(stream_settings))
    from confluent_kafka import TopicPartition

    short = [
        (topic, p)
        for topic, p in probe.partitions()
        if probe._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] < probe.true_end(topic, p, 0)
    ]
    probe.close()
    assert short, "expected Tansu's ListOffsets to under-report the end of batched partitions"

    runner = StreamRunner(local_spark, stream_settings)
    runner.start(available_now=True)
    runner.run_until_stopped()
    assert_exactly_once(stream_settings, valid, malformed)
    assert runner.totals == {"landed_rows": len(valid), "quarantined_rows": len(malformed)}

    # A second run resumes from the checkpoint: only the new messages are read.
    assert_resume_lands_only_new_messages(local_spark, stream_settings, valid, malformed, count=3_000, seed=8)


def test_a_backlog_lands_exactly_once_in_micro_batches_of_the_read_limit(
    stream_settings: Any, local_spark: Any
) -> None:
    # Batches end in the middle of partitions that hold more: a task reads several partitions at once and
    # must stop each at its planned end, although whole record batches keep arriving past it.
    valid, malformed = produce(stream_settings, 30_000, malformed_every=100)
    settings = stream_settings.model_copy(update={"stream_max_offsets_per_trigger": 4_000})
    runner = StreamRunner(local_spark, settings)
    runner.start(available_now=True)
    runner.run_until_stopped()
    assert runner.query is not None
    assert len([p for p in runner.query.recentProgress if p["numInputRows"] > 0]) >= 30_000 // 4_000
    assert_exactly_once(settings, valid, malformed)


def test_continuous_stream_lands_the_tail_after_producers_stop_and_stops_gracefully(
    stream_settings: Any, local_spark: Any
) -> None:
    runner = StreamRunner(local_spark, stream_settings)
    runner.start()
    worker = threading.Thread(target=runner.run_until_stopped, daemon=True)
    worker.start()
    # Bursts in large batches, then silence: the tail must still land.
    valid, malformed = produce_bursts_until_landed(stream_settings, bursts=3, count=4_000)
    paths = StreamPaths.under(stream_settings.run_dir)
    progress = __import__("json").loads(paths.progress.read_text())
    assert progress["batch_id"] is not None
    assert set(progress["offsets"]) == set(event_topics(stream_settings))
    paths.stop_request.touch()
    worker.join(120)
    assert not worker.is_alive(), "the stream did not stop on request"
    assert_exactly_once(stream_settings, valid, malformed)
    final = __import__("json").loads(paths.progress.read_text())
    assert final["total_lag"] == 0
    assert final["active"] is False
