"""The stream trims the embedded broker's log behind it: on the real Tansu and its object server."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from eventlake.broker_log import BackgroundTrimmer, BrokerLogTrimmer
from eventlake.stack.testing import TansuBroker
from eventlake.streaming.control import StreamPaths
from eventlake.streaming.fixtures import produce
from eventlake.streaming.job import StreamRunner, event_topics
from eventlake.streaming.kafka_source import BrokerProbe, consumer_config

from .conftest import assert_exactly_once, assert_resume_lands_only_new_messages, produce_bursts_until_landed

pytestmark = pytest.mark.integration


def stored(trimmer: BrokerLogTrimmer, settings: Any) -> dict[tuple[str, int], list[int]]:
    probe = BrokerProbe(settings.kafka_bootstrap_servers, event_topics(settings))
    try:
        return {(t, p): [b.base_offset for b in trimmer.batches(t, p)] for t, p in probe.partitions()}
    finally:
        probe.close()


@pytest.mark.parametrize("kafka_bootstrap", ["s3"], indirect=True)
def test_the_stream_deletes_what_it_landed_and_nothing_else(
    stream_settings: Any, local_spark: Any, durable_broker: TansuBroker
) -> None:
    trimmer = BrokerLogTrimmer(f"http://127.0.0.1:{durable_broker.storage_port}", keep=timedelta(0))
    background = BackgroundTrimmer(trimmer, interval=0)  # after every micro-batch
    runner = StreamRunner(local_spark, stream_settings, trimmer=background)
    runner.start()
    worker = threading.Thread(target=runner.run_until_stopped, daemon=True)
    worker.start()
    # Bursts of several record batches per partition each.
    valid, malformed = produce_bursts_until_landed(stream_settings, bursts=4, count=3_000)
    time.sleep(3)  # a batch or two more, and the trims behind them
    paths = StreamPaths.under(stream_settings.run_dir)
    paths.stop_request.touch()
    worker.join(120)
    assert not worker.is_alive()
    background.join(30)
    assert_exactly_once(stream_settings, valid, malformed)

    progress = json.loads(paths.progress.read_text())
    assert progress["broker_log"]["batches_deleted"] > 0, progress.get("broker_log")
    landed_end = {(t, int(p)): end for t, parts in progress["offsets"].items() for p, end in parts.items()}
    consumer = Consumer(consumer_config(stream_settings.kafka_bootstrap_servers))
    try:
        for (topic, partition), bases in stored(trimmer, stream_settings).items():
            assert bases, f"{topic}[{partition}]: the last batch is always kept"
            # What is left begins at or below the landed end: nothing unlanded was deleted ...
            assert bases[0] <= landed_end[(topic, partition)]
            # ... and the broker agrees: its earliest offset is the first batch left.
            low, _ = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            assert low == bases[0]
        lows = {key: earliest(consumer, *key) for key in landed_end}
        trimmed = [(t, p, offset) for t, p, offset in valid | malformed if offset < lows[(t, p)]]
        assert trimmed, "landed records were deleted from the broker"
    finally:
        consumer.close()

    # The stream resumes from its checkpoint over the trimmed log: only the new messages, exactly once.
    paths.stop_request.unlink()  # (the supervisor clears it on start)
    assert_resume_lands_only_new_messages(local_spark, stream_settings, valid, malformed, count=2_000, seed=9)
    trimmer.close()


def earliest(consumer: Any, topic: str, partition: int) -> int:
    return int(consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[0])


@pytest.mark.parametrize("kafka_bootstrap", ["s3"], indirect=True)
def test_a_trim_keeps_batches_younger_than_the_keep_period(stream_settings: Any, durable_broker: TansuBroker) -> None:
    for seed in (3, 4):  # two calls: at least two batches in every partition
        produce(stream_settings, 2_000, malformed_every=0, seed=seed)
    trimmer = BrokerLogTrimmer(f"http://127.0.0.1:{durable_broker.storage_port}", keep=timedelta(hours=1))
    try:
        before = stored(trimmer, stream_settings)
        assert all(len(bases) >= 2 for bases in before.values())
        everything_landed: dict[str, dict[str, int]] = {}
        for topic, partition in before:
            everything_landed.setdefault(topic, {})[str(partition)] = 10**9
        result = trimmer.trim(everything_landed)
        assert result.deleted == 0
        assert stored(trimmer, stream_settings) == before
        # An hour and a minute later, the same landed offsets let every batch but the last go.
        result = trimmer.trim(everything_landed, now=datetime.now(UTC) + trimmer.keep + timedelta(minutes=1))
        after = stored(trimmer, stream_settings)
        assert result.deleted == sum(len(b) - 1 for b in before.values())
        assert all(len(b) == 1 and b[0] == before[key][-1] for key, b in after.items())
    finally:
        trimmer.close()
