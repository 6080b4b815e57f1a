"""Trimming the embedded broker's log: record batches the stream has landed are deleted from its storage.

Tansu, the embedded broker, keeps each partition on its s3 storage (the project's object server) as one
object per record batch, ``.../topics/<topic>/partitions/<partition>/records/<base offset>.batch``,
and lists *every* object of a partition on each fetch. It applies no retention there (``retention.ms``
is not enforced on this storage and DeleteRecords is not implemented), so without trimming a partition
only grows, and every read of it gets slower: at 1,000 events/s a partition gains ~100 batches a
second, and a fetch of a partition of 2,000 batches already lists 547 KB of XML (measured 2026-12-03).

The stream knows what is safe to delete: the offsets it has landed (its last committed micro-batch's
end offsets), which the landing zone holds exactly once from then on. :class:`BrokerLogTrimmer`
deletes, per partition, the leading batches all of whose records are below the landed end and that
were stored at least ``keep`` ago (``EVENTLAKE_BROKER_TRIM_LANDED_AFTER_SECONDS``); the last batch of a
partition is always kept. Deleting a partition's first objects is Tansu's DeleteRecords: its
ListOffsets then answers the first remaining batch as the earliest offset, so a reader asking for a
trimmed offset sees the loss (the stream refuses to skip it, :class:`~eventlake.streaming.kafka_source.DataLossError`).

Only the embedded stack's broker is trimmed (Apache Kafka in the distributed stack has its retention).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from eventlake.stack.object_server import S3_NS

if TYPE_CHECKING:
    import httpx

    from eventlake.settings import EventlakeSettings

log = logging.getLogger(__name__)

#: The cluster id Tansu files its log under (in the bucket :data:`~eventlake.stack.services.BROKER_BUCKET`).
TANSU_CLUSTER = "tansu_cluster"
_S3 = "{" + S3_NS + "}"
#: Seconds between the stream's trims at least (each lists every partition once).
TRIM_INTERVAL_SECONDS = 5.0
#: Keys per DeleteObjects request (S3's limit).
_DELETE_CHUNK = 1000


@dataclass(frozen=True)
class StoredBatch:
    """One record batch object of a partition: its key, first offset, size and when it was stored."""

    key: str
    base_offset: int
    size: int
    stored_at: datetime


def records_prefix(topic: str, partition: int) -> str:
    return f"clusters/{TANSU_CLUSTER}/topics/{topic}/partitions/{partition:010d}/records/"


def trimmable(batches: Sequence[StoredBatch], landed_end: int, stored_before: datetime) -> list[StoredBatch]:
    """The leading batches (sorted by base offset) whose records are all below ``landed_end``, stored before
    ``stored_before``. A batch's records end where the next one's begin, so the last batch, whose end is
    not known here, is never among them; the first batch that must stay ends the run (no holes)."""
    deletable: list[StoredBatch] = []
    for batch, following in itertools.pairwise(batches):
        if following.base_offset > landed_end or batch.stored_at >= stored_before:
            break
        deletable.append(batch)
    return deletable


@dataclass
class PartitionTrim:
    topic: str
    partition: int
    deleted: int
    deleted_bytes: int
    kept: int
    earliest: int | None  # base offset of the first batch kept

    def line(self) -> str:
        return (
            f"{self.topic}[{self.partition}]: deleted {self.deleted:,} landed batches "
            f"({self.deleted_bytes / 2**20:,.1f} MiB), kept {self.kept:,} from offset {self.earliest}"
        )


@dataclass
class TrimResult:
    partitions: list[PartitionTrim] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def deleted(self) -> int:
        return sum(p.deleted for p in self.partitions)

    @property
    def kept(self) -> int:
        return sum(p.kept for p in self.partitions)


class BrokerLogTrimmer:
    """Deletes the landed batches of the embedded broker's log through its storage's S3 API."""

    def __init__(self, endpoint: str, *, keep: timedelta, bucket: str | None = None, timeout: float = 30.0) -> None:
        import httpx

        from eventlake.stack.services import BROKER_BUCKET

        bucket = bucket or BROKER_BUCKET

        self.endpoint = endpoint.rstrip("/")
        self.keep = keep
        self.bucket = bucket
        self._client: httpx.Client = httpx.Client(base_url=f"{self.endpoint}/{bucket}", timeout=timeout)

    def batches(self, topic: str, partition: int) -> list[StoredBatch]:
        """Every batch object of a partition, in offset order (a paged listing)."""
        prefix = records_prefix(topic, partition)
        found: list[StoredBatch] = []
        token: str | None = None
        while True:
            params = {"list-type": "2", "prefix": prefix}
            if token:
                params["continuation-token"] = token
            response = self._client.get("/", params=params)
            response.raise_for_status()
            document = ElementTree.fromstring(response.content)  # noqa: S314  # our own server, on loopback
            for entry in document.iter(f"{_S3}Contents"):
                key = entry.findtext(f"{_S3}Key") or ""
                stored_at = (entry.findtext(f"{_S3}LastModified") or "").replace("Z", "+00:00")
                name = key.removeprefix(prefix)
                if not name.endswith(".batch") or not name[: -len(".batch")].isdigit():
                    continue
                found.append(
                    StoredBatch(
                        key=key,
                        base_offset=int(name[: -len(".batch")]),
                        size=int(entry.findtext(f"{_S3}Size") or 0),
                        stored_at=datetime.fromisoformat(stored_at),
                    )
                )
            token = document.findtext(f"{_S3}NextContinuationToken")
            if document.findtext(f"{_S3}IsTruncated") != "true" or not token:
                break
        return sorted(found, key=lambda batch: batch.base_offset)

    def delete(self, keys: Sequence[str]) -> None:
        """Delete objects, a thousand per DeleteObjects request; fails if any was not deleted."""
        for start in range(0, len(keys), _DELETE_CHUNK):
            chunk = keys[start : start + _DELETE_CHUNK]
            body = (
                "<Delete><Quiet>true</Quiet>"
                + "".join(f"<Object><Key>{escape(key)}</Key></Object>" for key in chunk)
                + "</Delete>"
            )
            response = self._client.post("/", params={"delete": ""}, content=body.encode())
            response.raise_for_status()
            errors = ElementTree.fromstring(response.content).findall(f"{_S3}Error")  # noqa: S314
            if errors:
                first = errors[0]
                raise RuntimeError(
                    f"{len(errors)} of {len(chunk)} batch objects not deleted, e.g. "
                    f"{first.findtext(f'{_S3}Key')}: {first.findtext(f'{_S3}Message')}"
                )

    def trim(self, landed: Mapping[str, Mapping[str, int]], *, now: datetime | None = None) -> TrimResult:
        """Delete, per partition, the batches below its landed end offset stored at least ``keep`` ago.

        ``landed``: topic -> partition (as the stream's progress spells it, a string) -> end offset landed.
        """
        started = time.perf_counter()
        stored_before = (now or datetime.now(UTC)) - self.keep
        result = TrimResult()
        for topic, partitions in sorted(landed.items()):
            for partition_text, landed_end in sorted(partitions.items(), key=lambda item: int(item[0])):
                partition = int(partition_text)
                batches = self.batches(topic, partition)
                deletable = trimmable(batches, landed_end, stored_before)
                if deletable:
                    self.delete([batch.key for batch in deletable])
                kept = batches[len(deletable) :]
                result.partitions.append(
                    PartitionTrim(
                        topic,
                        partition,
                        deleted=len(deletable),
                        deleted_bytes=sum(batch.size for batch in deletable),
                        kept=len(kept),
                        earliest=kept[0].base_offset if kept else None,
                    )
                )
        result.seconds = time.perf_counter() - started
        return result

    def close(self) -> None:
        self._client.close()


class BackgroundTrimmer:
    """Runs a trimmer off the stream's thread: at most one trim at a time, at most one per ``interval``.

    Failures are logged and retried at the next interval; they never stop the stream.
    """

    def __init__(self, trimmer: BrokerLogTrimmer, *, interval: float) -> None:
        self.trimmer = trimmer
        self.interval = interval
        self._running: threading.Thread | None = None
        self._last_start = float("-inf")
        self._failures = 0
        self.totals = {"trims": 0, "batches_deleted": 0, "bytes_deleted": 0, "batches_kept": 0}

    def offer(self, landed: Mapping[str, Mapping[str, int]]) -> bool:
        """Start a trim up to these landed offsets unless one runs or ran less than ``interval`` ago."""
        if not landed or (self._running is not None and self._running.is_alive()):
            return False
        if time.monotonic() - self._last_start < self.interval:
            return False
        self._last_start = time.monotonic()
        snapshot = {topic: dict(parts) for topic, parts in landed.items()}
        self._running = threading.Thread(target=self._trim, args=(snapshot,), name="broker-log-trim", daemon=True)
        self._running.start()
        return True

    def join(self, timeout: float | None = None) -> None:
        if self._running is not None:
            self._running.join(timeout)

    def _trim(self, landed: dict[str, dict[str, int]]) -> None:
        try:
            result = self.trimmer.trim(landed)
        except Exception as error:  # the storage restarting, a timeout: the next interval retries
            self._failures += 1
            level = logging.WARNING if self._failures <= 3 or self._failures % 100 == 0 else logging.DEBUG
            log.log(level, "broker log trim failed (%d in a row): %s", self._failures, error)
            return
        self._failures = 0
        self.totals["trims"] += 1
        self.totals["batches_deleted"] += result.deleted
        self.totals["bytes_deleted"] += sum(p.deleted_bytes for p in result.partitions)
        self.totals["batches_kept"] = result.kept
        if result.deleted:
            log.info(
                "broker log: deleted %s landed batches in %.2fs, %s kept; %s",
                f"{result.deleted:,}",
                result.seconds,
                f"{result.kept:,}",
                "; ".join(p.line() for p in result.partitions if p.deleted),
            )

    def close(self) -> None:
        self.join(30)
        self.trimmer.close()


def background_trimmer_for(settings: EventlakeSettings) -> BackgroundTrimmer | None:
    """The embedded stack's trimmer for the stream (None in the distributed stack, or when turned off)."""
    if settings.profile != "embedded" or settings.broker_trim_landed_after_seconds <= 0:
        return None
    trimmer = BrokerLogTrimmer(
        f"http://127.0.0.1:{settings.broker_storage_port}",
        keep=timedelta(seconds=settings.broker_trim_landed_after_seconds),
    )
    return BackgroundTrimmer(trimmer, interval=max(TRIM_INTERVAL_SECONDS, settings.stream_trigger_seconds))
