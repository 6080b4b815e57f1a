"""The layout of the lake: where the stream lands, where curated tables live, how files are named.

This is the contract between the streaming job (writer of the landing zone), the compaction job
(its reader, and the writer of curated tables) and the analytics (reader of curated tables).

Landing zone (``settings.landing_uri``), written only by the stream::

    <landing>/event_type=<domain.name>/event_date=<yyyy-MM-dd>/event_hour=<H>/batch-<batch_id:012d>-<n:04d>.parquet
    <landing>/_commits/<batch_id:012d>.json            one manifest per committed micro-batch
    <quarantine>/quarantine_date=<yyyy-MM-dd>/batch-<batch_id:012d>-<n:04d>.parquet

A data file is first written under a hidden name (leading ``_``, which Hive, Trino, Spark and
DuckDB-hive-globs all skip), the batch's manifest is then written atomically, and only then are the
files renamed to their visible names. So a directory-listing reader sees only files of committed
batches; a crash after the manifest is rolled forward on restart; a crash before it leaves only
hidden files, which the retried batch overwrites (same batch id = same offsets = same names).

Landing rows carry the envelope, the payload as normalised JSON (``payload``), and the Kafka lineage;
the typed payload columns appear in the curated tables only.

Curated tables (``settings.curated_uri``), one per event type, written only by compaction::

    <curated>/<table>/event_date=<yyyy-MM-dd>/event_hour=<H>/v=<version>/part-<n:05d>.parquet
    <curated>/<table>/event_date=<yyyy-MM-dd>/event_hour=<H>/v=<version>/_eventlake_manifest.json

The metastore partition points at exactly one ``v=<version>`` directory; publishing a new version is
one metastore call. Superseded versions are deleted after ``compaction_version_grace_minutes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlparse

HIDDEN_PREFIXES = ("_", ".")
COMMITS_DIR = "_commits"
CURATED_MANIFEST = "_eventlake_manifest.json"

_BATCH_FILE = re.compile(r"^batch-(?P<batch_id>\d{12})-(?P<n>\d{4})\.parquet$")


def is_hidden(name: str) -> bool:
    """True for names that directory-listing readers skip."""
    return name.startswith(HIDDEN_PREFIXES)


def batch_file_name(batch_id: int, n: int) -> str:
    return f"batch-{batch_id:012d}-{n:04d}.parquet"


def hidden_batch_file_name(batch_id: int, n: int) -> str:
    return "_" + batch_file_name(batch_id, n)


def parse_batch_file_name(name: str) -> tuple[int, int] | None:
    """(batch_id, n) of a visible landing file name, or None if it is not one."""
    match = _BATCH_FILE.match(name)
    return (int(match["batch_id"]), int(match["n"])) if match else None


def commit_manifest_name(batch_id: int) -> str:
    return f"{batch_id:012d}.json"


@dataclass(frozen=True, order=True)
class HourPartition:
    """One hour of event time, UTC: the unit of landing, compaction and hourly reports."""

    event_date: str
    event_hour: int

    @classmethod
    def of(cls, moment: datetime) -> HourPartition:
        moment = moment.astimezone(UTC)
        return cls(moment.strftime("%Y-%m-%d"), moment.hour)

    @property
    def start(self) -> datetime:
        return datetime.strptime(self.event_date, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(hours=self.event_hour)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=1)

    @property
    def path(self) -> str:
        """Hive partition path, ``event_date=2026-11-24/event_hour=9``."""
        return f"event_date={self.event_date}/event_hour={self.event_hour}"

    @property
    def spec(self) -> dict[str, str | int]:
        return {"event_date": self.event_date, "event_hour": self.event_hour}


def hours_between(start: datetime, end: datetime) -> list[HourPartition]:
    """Every hour partition overlapping ``[start, end)``."""
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    moment = first
    while moment < end:
        hours.append(HourPartition.of(moment))
        moment += timedelta(hours=1)
    return hours


def partition_event_date(path: str) -> str | None:
    """The ``event_date`` of a Hive partition name or location (``.../event_date=<day>/...``), if it has one.

    Accepts a partition name (``event_date=2026-11-24/event_hour=9``), a path or a URI, where the ``=``
    may be written ``%3D``.
    """
    for part in urlparse(path).path.split("/"):
        key, _, value = unquote(part).partition("=")
        if key == "event_date":
            return value
    return None


def landing_partition_path(event_type: str, hour: HourPartition) -> str:
    return f"event_type={event_type}/{hour.path}"


def curated_version_path(table: str, hour: HourPartition, version: str) -> str:
    return f"{table}/{hour.path}/v={version}"
