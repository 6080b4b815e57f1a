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
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar
from urllib.parse import unquote, urlparse

HIDDEN_PREFIXES = ("_", ".")
COMMITS_DIR = "_commits"
CURATED_MANIFEST = "_eventlake_manifest.json"
PARTITION_DATE = "event_date"
PARTITION_HOUR = "event_hour"

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


def partition_values(path: str) -> dict[str, str]:
    """The Hive partition values of a partition name or location (``.../event_date=<day>/event_hour=<h>/...``).

    Accepts a partition name (``event_date=2026-11-24/event_hour=9``), a path or a URI, where the ``=``
    may be written ``%3D``.
    """
    values: dict[str, str] = {}
    for part in urlparse(path).path.split("/"):
        key, equals, value = unquote(part).partition("=")
        if equals:
            values.setdefault(key, value)
    return values


def partition_event_date(path: str) -> str | None:
    """The ``event_date`` of a Hive partition name or location, if it has one (see :func:`partition_values`)."""
    return partition_values(path).get(PARTITION_DATE)


_Bound = TypeVar("_Bound", str, int)


@dataclass(frozen=True)
class PartitionBounds:
    """Inclusive ``event_date`` (ISO dates) and ``event_hour`` bounds; None is open on that side."""

    first_date: str | None = None
    last_date: str | None = None
    first_hour: int | None = None
    last_hour: int | None = None

    @property
    def unbounded(self) -> bool:
        return self == ALL_PARTITIONS

    def contains(self, day: str, hour: int | None = None) -> bool:
        """Whether a day (and an hour of it, when given) is within the bounds."""
        if not _between(day, self.first_date, self.last_date):
            return False
        return hour is None or _between(hour, self.first_hour, self.last_hour)

    def accepts(self, partition: str) -> bool:
        """Whether a partition name or location may hold rows within the bounds (one without ``event_date`` may)."""
        values = partition_values(partition)
        day, hour = values.get(PARTITION_DATE), values.get(PARTITION_HOUR)
        if day is None:
            return True
        return self.contains(day, int(hour) if hour is not None and hour.isdigit() else None)

    def hours(self, limit: int) -> list[HourPartition] | None:
        """Every hour partition within the bounds, if all four sides are bounded and they are at most ``limit``."""
        if self.first_date is None or self.last_date is None or self.first_hour is None or self.last_hour is None:
            return None
        first = date.fromisoformat(self.first_date)
        days = max((date.fromisoformat(self.last_date) - first).days + 1, 0)
        hours = range(max(self.first_hour, 0), min(self.last_hour, 23) + 1)
        if days * len(hours) > limit:
            return None
        return [HourPartition((first + timedelta(days=n)).isoformat(), hour) for n in range(days) for hour in hours]

    def restricted_to(self, columns: Collection[str]) -> PartitionBounds:
        """These bounds without those of a partition column not in ``columns`` (a table's own)."""
        dates = (self.first_date, self.last_date) if PARTITION_DATE in columns else (None, None)
        hours = (self.first_hour, self.last_hour) if PARTITION_HOUR in columns else (None, None)
        return PartitionBounds(*dates, *hours)

    def intersect(self, other: PartitionBounds) -> PartitionBounds:
        return PartitionBounds(
            _tighter(max, self.first_date, other.first_date),
            _tighter(min, self.last_date, other.last_date),
            _tighter(max, self.first_hour, other.first_hour),
            _tighter(min, self.last_hour, other.last_hour),
        )

    @staticmethod
    def union(bounds: Iterable[PartitionBounds]) -> PartitionBounds:
        items = list(bounds)
        return PartitionBounds(
            _wider(min, [b.first_date for b in items]),
            _wider(max, [b.last_date for b in items]),
            _wider(min, [b.first_hour for b in items]),
            _wider(max, [b.last_hour for b in items]),
        )


ALL_PARTITIONS = PartitionBounds()


def _between(value: _Bound, first: _Bound | None, last: _Bound | None) -> bool:
    return (first is None or value >= first) and (last is None or value <= last)


def _tighter(pick: Callable[[list[_Bound]], _Bound], *values: _Bound | None) -> _Bound | None:
    """The tighter of two bounds of one side (an open side takes the other's)."""
    known = [v for v in values if v is not None]
    return pick(known) if known else None


def _wider(pick: Callable[[list[_Bound]], _Bound], values: list[_Bound | None]) -> _Bound | None:
    """The widest of some bounds of one side (open if any is, or if there are none)."""
    known = [v for v in values if v is not None]
    return pick(known) if known and len(known) == len(values) else None


def landing_partition_path(event_type: str, hour: HourPartition) -> str:
    return f"event_type={event_type}/{hour.path}"


def curated_version_path(table: str, hour: HourPartition, version: str) -> str:
    return f"{table}/{hour.path}/v={version}"
