"""Which curated partitions to (re)write, and with which inputs: pure functions of listings and time."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from eventlake.compaction.storage import LandedFile
from eventlake.lake import HourPartition

SkipReason = Literal["open", "unchanged", "below_threshold", "future"]


@dataclass(frozen=True)
class PublishedVersion:
    """The version a metastore partition points at, with what its manifest says it holds."""

    version: str
    location: str
    input_files: frozenset[str]
    rows: int
    bytes: int = 0

    @classmethod
    def from_manifest(cls, location: str, manifest: Mapping[str, Any] | None) -> PublishedVersion:
        """A published version; one without a manifest is treated as holding no landed file."""
        manifest = manifest or {}
        version = str(manifest.get("version") or location.rstrip("/").rpartition("v=")[2])
        return cls(
            version,
            location,
            frozenset(manifest.get("input_files", ())),
            int(manifest.get("rows", 0)),
            int(manifest.get("bytes", 0)),
        )


@dataclass(frozen=True)
class PartitionTask:
    """Rewrite one curated partition: the published version (if any) plus the new landed files."""

    event_type: str
    table: str
    hour: HourPartition
    version: str
    new_files: tuple[LandedFile, ...]
    previous: PublishedVersion | None
    late: bool
    #: The new files are every visible file of the hour (so its directory can be read whole, up to the last one).
    all_visible: bool = False

    @property
    def input_files(self) -> frozenset[str]:
        """Every landed file the new version holds (the manifest's list)."""
        previous = self.previous.input_files if self.previous else frozenset()
        return previous | {f.rel_path for f in self.new_files}

    @property
    def new_bytes(self) -> int:
        return sum(f.size for f in self.new_files)


@dataclass(frozen=True)
class SkippedPartition:
    table: str
    hour: HourPartition
    reason: SkipReason
    pending_files: int = 0


@dataclass(frozen=True)
class CompactionPlan:
    tasks: tuple[PartitionTask, ...] = ()
    skipped: tuple[SkippedPartition, ...] = field(default=())


def version_name(now: datetime, table: str, hour: HourPartition, input_files: Iterable[str]) -> str:
    """A new, sortable version id: the planning time plus a digest of what the version holds."""
    digest = hashlib.sha256("\n".join([table, hour.path, *sorted(input_files)]).encode()).hexdigest()[:8]
    return f"{now:%Y%m%dT%H%M%S%f}-{digest}"


def plan_compaction(
    *,
    event_type: str,
    table: str,
    landed: Iterable[LandedFile],
    published: Mapping[HourPartition, PublishedVersion],
    interval_start: datetime,
    interval_end: datetime,
    now: datetime,
    lateness_grace: timedelta,
    min_input_files: int = 1,
) -> CompactionPlan:
    """Plan one table's compaction for the run of ``[interval_start, interval_end)``.

    Hours of the interval are compacted once closed (ended at least ``lateness_grace`` before
    ``now``). Earlier hours are recompacted when landed files arrived after their published version
    (late events). Later hours belong to later runs. Files already in the published version's
    manifest are never read again: the published version is merged instead.
    """
    by_hour: dict[HourPartition, list[LandedFile]] = defaultdict(list)
    for landed_file in landed:
        by_hour[landed_file.hour].append(landed_file)
    interval_hours = {hour for hour in by_hour if interval_start <= hour.start < interval_end}
    tasks: list[PartitionTask] = []
    skipped: list[SkippedPartition] = []
    for hour in sorted(by_hour):
        if hour.start >= interval_end:
            continue
        previous = published.get(hour)
        included = previous.input_files if previous else frozenset()
        visible = by_hour[hour]
        new = (f for f in visible if f.rel_path not in included) if included else visible
        new_files = tuple(sorted(new, key=lambda f: f.name))
        if not new_files:
            if hour in interval_hours:
                skipped.append(SkippedPartition(table, hour, "unchanged"))
            continue
        if hour.end + lateness_grace > now:
            skipped.append(SkippedPartition(table, hour, "open", len(new_files)))
            continue
        if previous is not None and len(new_files) < min_input_files:
            skipped.append(SkippedPartition(table, hour, "below_threshold", len(new_files)))
            continue
        inputs = included | {f.rel_path for f in new_files}
        tasks.append(
            PartitionTask(
                event_type=event_type,
                table=table,
                hour=hour,
                version=version_name(now, table, hour, inputs),
                new_files=new_files,
                previous=previous,
                late=hour.start < interval_start,
                all_visible=len(new_files) == len(visible),
            )
        )
    return CompactionPlan(tuple(tasks), tuple(skipped))


def output_files(task: PartitionTask, target_file_bytes: int, *, curated_per_landing_byte: float) -> int:
    """Files of the task's new version, each at most about the target size (estimated from input bytes)."""
    previous = task.previous.bytes if task.previous else 0
    estimate = task.new_bytes * curated_per_landing_byte + previous
    return max(1, math.ceil(estimate / target_file_bytes))
