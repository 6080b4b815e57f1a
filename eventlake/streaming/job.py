"""The streaming query: Kafka -> routed and encoded files -> :class:`LandingWriter`, plus progress and stop.

Trigger interval (``settings.stream_trigger_seconds``, default 2 s): a micro-batch costs ~0.45 s of CPU
whatever its size (JVM planning and scheduling, the planner's probe of every partition's end). At a 2 s
trigger that is about a fifth of a core at low rates, while an event waits at most one interval for the
next batch plus about one batch duration to land: p95 freshness of ~2 s + ~1 s, inside the target of
trigger + 2 s. Below ~1 s the fixed cost would eat half a core; above ~3 s freshness suffers for nothing,
since behind a backlog batches grow to the read limit anyway (see docs/streaming.md).
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventlake.catalog import EVENT_TYPES
from eventlake.streaming.control import StreamPaths, fencing_check, stop_requested, write_json_atomic
from eventlake.streaming.landing import LandingWriter
from eventlake.streaming.transform import land_events

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from eventlake.broker_log import BackgroundTrimmer
    from eventlake.settings import EventlakeSettings

log = logging.getLogger(__name__)

QUERY_NAME = "stream_events"
KAFKA_PROVIDER_CLASS = "org.apache.spark.sql.kafka010.KafkaSourceProvider"
HEARTBEAT_SECONDS = 5.0


def event_topics(settings: EventlakeSettings) -> list[str]:
    """The topics the stream reads: one per domain of the catalog."""
    return sorted({settings.topic(et.topic_name) for et in EVENT_TYPES})


def builtin_kafka_available(spark: SparkSession) -> bool:
    """True if Spark's Kafka connector is on the driver's classpath."""
    try:
        loader = spark.sparkContext._jvm.java.lang.Thread.currentThread().getContextClassLoader()  # type: ignore[union-attr]
        loader.loadClass(KAFKA_PROVIDER_CLASS)
    except Exception:
        return False
    return True


def stream_tasks(spark: SparkSession) -> int:
    """Tasks per micro-batch: the cores the application may use (``spark.cores.max`` on a cluster, else all)."""
    cores = spark.conf.get("spark.cores.max", None)
    return int(cores) if cores else spark.sparkContext.defaultParallelism


def _use_builtin(spark: SparkSession, settings: EventlakeSettings) -> bool:
    return settings.spark_kafka_connector == "builtin" or (
        settings.spark_kafka_connector == "auto" and builtin_kafka_available(spark)
    )


def _kafka_reader(spark: SparkSession, settings: EventlakeSettings, *, builtin: bool, **options: str) -> Any:
    reader = spark.readStream
    if builtin:
        reader = reader.format("kafka").option("startingOffsets", "earliest").option("failOnDataLoss", "true")
    else:
        from eventlake.streaming.kafka_source import SOURCE_NAME, KafkaDataSource

        spark.dataSource.register(KafkaDataSource)
        reader = (
            reader.format(SOURCE_NAME)
            .option("tasks", str(stream_tasks(spark)))
            .option("readConsumers", str(settings.stream_read_consumers))
        )
        for name, value in options.items():
            reader = reader.option(name, value)
    return (
        reader.option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", ",".join(event_topics(settings)))
        .option("maxOffsetsPerTrigger", str(settings.stream_max_offsets_per_trigger))
    )


def read_kafka(spark: SparkSession, settings: EventlakeSettings, *, row_mode: str = "arrow") -> DataFrame:
    """A streaming DataFrame of raw Kafka records, from the connector chosen by the settings."""
    builtin = _use_builtin(spark, settings)
    log.info("Kafka source: %s", "Spark's built-in connector" if builtin else f"the Python data source ({row_mode})")
    raw = _kafka_reader(spark, settings, builtin=builtin, rowMode=row_mode).load()
    return raw.select("key", "value", "topic", "partition", "offset", "timestamp")


def read_landing_files(spark: SparkSession, settings: EventlakeSettings, *, row_mode: str = "arrow") -> DataFrame:
    """A streaming DataFrame of encoded landing and quarantine files (``ENCODED_SCHEMA``), one row per file.

    With the Python source in Arrow mode the source itself routes and encodes what each task read, so no
    event ever becomes a JVM row; otherwise (Spark's connector, or the source yielding tuples) the raw
    records go through the same code in ``mapInArrow``.
    """
    if row_mode == "arrow" and not _use_builtin(spark, settings):
        log.info("Kafka source: the Python data source, routing and encoding in its tasks")
        return _kafka_reader(spark, settings, builtin=False, output="landing").load()
    return land_events(read_kafka(spark, settings, row_mode=row_mode))


class StreamRunner:
    """Starts the query, publishes its progress, honours stop requests and the fencing token."""

    def __init__(
        self,
        spark: SparkSession,
        settings: EventlakeSettings,
        *,
        fencing_token: int | None = None,
        checkpoint_uri: str | None = None,
        row_mode: str = "arrow",
        trimmer: BackgroundTrimmer | None = None,
    ) -> None:
        """``trimmer`` deletes the broker's batches once landed (embedded broker, :mod:`eventlake.broker_log`)."""
        self.spark = spark
        self.settings = settings
        self.paths = StreamPaths.under(settings.run_dir)
        self.fencing_token = fencing_token
        self.checkpoint = checkpoint_uri or f"{settings.checkpoint_uri}/{QUERY_NAME}"
        self.row_mode = row_mode
        self.writer = LandingWriter(
            settings.landing_uri,
            settings.quarantine_uri,
            fencing_check=lambda: fencing_check(self.paths, self.fencing_token),
        )
        self.started_at = datetime.now(UTC).isoformat()
        self.query: StreamingQuery | None = None
        self.totals = {"landed_rows": 0, "quarantined_rows": 0}
        self.last_batch: dict[str, Any] = {}
        self.trimmer = trimmer

    def land_batch(self, batch: DataFrame, batch_id: int) -> None:
        """foreachBatch body: collect the batch's encoded files and commit them through the writer."""
        if self.writer.is_committed(batch_id):  # a replay after a crash: finish renames, skip the work
            self.writer.write_encoded(None, batch_id)
            return
        started = time.perf_counter()
        files = batch.toArrow()  # the one action of the batch: read, route and encode on the executors
        collected = time.perf_counter()
        commit = self.writer.write_encoded(files, batch_id)
        finished = time.perf_counter()
        rows = commit.landed_rows + commit.quarantined_rows
        self.last_batch = {
            "batch_id": batch_id,
            "rows": rows,
            "files": len(commit.files),
            "read_route_encode_seconds": round(collected - started, 3),
            "write_commit_seconds": round(finished - collected, 3),
            "rows_per_second": round(rows / (finished - started)) if finished > started else None,
        }
        self.totals["landed_rows"] += commit.landed_rows
        self.totals["quarantined_rows"] += commit.quarantined_rows

    def batches(self) -> DataFrame:
        """What each micro-batch is: the encoded landing files of the Kafka records it reads."""
        return read_landing_files(self.spark, self.settings, row_mode=self.row_mode)

    def start(self, *, available_now: bool = False) -> StreamingQuery:
        fencing_check(self.paths, self.fencing_token)
        self.writer.recover()
        writer = self.batches().writeStream.queryName(QUERY_NAME).foreachBatch(self.land_batch)
        writer = writer.option("checkpointLocation", self.checkpoint)
        if available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{self.settings.stream_trigger_seconds} seconds")
        self.query = writer.start()
        return self.query

    def progress(self) -> dict[str, Any]:
        """The progress document: last batch, rows/s, offsets and lag per partition, last commit."""
        assert self.query is not None
        last = self.query.lastProgress
        doc: dict[str, Any] = {
            "query": QUERY_NAME,
            "pid": os.getpid(),
            "fencing_token": self.fencing_token,
            "started_at": self.started_at,
            "heartbeat_at": datetime.now(UTC).isoformat(),
            "active": self.query.isActive,
            "trigger_seconds": self.settings.stream_trigger_seconds,
            "last_commit_at": self.writer.last_commit.committed_at if self.writer.last_commit else None,
            **self.totals,
            "last_batch": self.last_batch,
        }
        if self.trimmer is not None:
            doc["broker_log"] = dict(self.trimmer.totals)
        if last is not None:
            progress = json.loads(last.json) if hasattr(last, "json") else dict(last)
            source = (progress.get("sources") or [{}])[0]
            end = _offsets(source.get("endOffset"))
            latest = _offsets(source.get("latestOffset")) or end
            lag = {
                topic: {p: max(0, latest.get(topic, {}).get(p, o) - o) for p, o in parts.items()}
                for topic, parts in end.items()
            }
            duration_ms = (progress.get("durationMs") or {}).get("triggerExecution")
            # Spark counts the source's rows, which are encoded files here: count events from the commit.
            rows = self.last_batch.get("rows", 0) if self.last_batch.get("batch_id") == progress.get("batchId") else 0
            doc.update(
                batch_id=progress.get("batchId"),
                batch_timestamp=progress.get("timestamp"),
                input_rows=rows,
                rows_per_second=round(rows * 1000 / duration_ms) if duration_ms else None,
                batch_duration_ms=duration_ms,
                offsets=end,
                latest_offsets=latest,
                lag=lag,
                total_lag=sum(v for parts in lag.values() for v in parts.values()),
            )
        return doc

    def publish(self) -> dict[str, Any]:
        """Write the progress document; returns it."""
        doc = self.progress()
        write_json_atomic(self.paths.progress, doc)
        return doc

    def run_until_stopped(self, *, poll_seconds: float = 0.25) -> None:
        """Publish progress after every batch (and as a heartbeat) until the query ends or a stop is asked."""
        assert self.query is not None
        query = self.query
        last_id = None
        last_publish = 0.0
        while query.isActive:
            query.awaitTermination(poll_seconds)  # type: ignore[arg-type]  # seconds; fractions work (x1000 ms)
            current = query.lastProgress
            batch_id = current["batchId"] if current is not None else None
            if batch_id != last_id or time.monotonic() - last_publish > HEARTBEAT_SECONDS:
                published = self.publish()
                last_id, last_publish = batch_id, time.monotonic()
                if self.trimmer is not None and published.get("offsets"):
                    # The last micro-batch's end offsets: landed (Spark reports progress after the commit).
                    self.trimmer.offer(published["offsets"])
            if stop_requested(self.paths):
                self._stop_gracefully(query)
        self.publish()
        if query.exception() is not None:
            raise RuntimeError(f"streaming query failed: {query.exception()}")

    def _stop_gracefully(self, query: StreamingQuery) -> None:
        """Let the running micro-batch finish, then stop (a batch cut short would just be replayed)."""
        log.info("stop requested: waiting for the current micro-batch to finish")
        deadline = time.monotonic() + 120
        while query.status["isTriggerActive"] and time.monotonic() < deadline:
            time.sleep(0.05)
        query.stop()


def _offsets(value: Any) -> dict[str, dict[str, int]]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    return {topic: {str(p): int(o) for p, o in parts.items()} for topic, parts in value.items()}


def build_session(settings: EventlakeSettings, app_name: str = "eventlake-stream-events") -> SparkSession:
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        # The Python source needs the eventlake package on executors (cluster: spark-submit passes it).
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
