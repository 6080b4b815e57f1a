"""Deleting what is no longer needed: superseded curated versions and compacted landing files.

Never deleted: the published version of a partition, a version younger than the grace period (a
query may still read it), and a landing file that no published version holds (not yet compacted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from eventlake.catalog import EVENT_TYPES, EventType
from eventlake.compaction.plan import PublishedVersion
from eventlake.compaction.storage import Lake, LandedFile, VersionDir, file_mtime
from eventlake.lake import HourPartition

if TYPE_CHECKING:
    from eventlake.settings import EventlakeSettings


def expired_versions(
    versions: Iterable[VersionDir], published: Mapping[HourPartition, str], *, now: datetime, grace: timedelta
) -> list[VersionDir]:
    """Versions that are not published and were superseded (or abandoned) at least ``grace`` ago.

    ``published`` maps an hour to its published version id. A superseded version stopped being read
    when its successor was published, which is no earlier than the successor directory's mtime.
    """
    by_hour: dict[HourPartition, list[VersionDir]] = {}
    for version in versions:
        by_hour.setdefault(version.hour, []).append(version)
    expired: list[VersionDir] = []
    for hour, candidates in by_hour.items():
        current = next((v for v in candidates if v.version == published.get(hour)), None)
        if current is not None and current.mtime + grace > now:
            continue
        expired.extend(v for v in candidates if v is not current and v.mtime + grace <= now)
    return sorted(expired, key=lambda v: (v.hour, v.version))


def expired_landing_files(
    landed: Iterable[LandedFile], published: Mapping[HourPartition, PublishedVersion], *, now: datetime, keep: timedelta
) -> list[LandedFile]:
    """Landing files held by a published version whose hour ended, and which arrived, ``keep`` ago."""
    expired = []
    for landed_file in landed:
        version = published.get(landed_file.hour)
        if version is None or landed_file.rel_path not in version.input_files:
            continue
        if max(landed_file.hour.end, landed_file.mtime) + keep <= now:
            expired.append(landed_file)
    return expired


@dataclass
class RetentionResult:
    versions_deleted: list[str] = field(default_factory=list)
    landing_files_deleted: int = 0
    landing_bytes_deleted: int = 0


def apply_retention(
    settings: EventlakeSettings, *, now: datetime, event_types: tuple[EventType, ...] = EVENT_TYPES
) -> RetentionResult:
    """Delete expired curated versions and compacted landing files of every table."""
    from eventlake import metastore

    lake = Lake.from_settings(settings)
    result = RetentionResult()
    version_grace = timedelta(minutes=settings.compaction_version_grace_minutes)
    landing_keep = timedelta(hours=settings.landing_retention_hours)
    with metastore.connect(settings) as client:
        for et in event_types:
            locations = client.partition_locations(et.table)
            published_ids = {hour: location.rstrip("/").rpartition("/v=")[2] for hour, location in locations.items()}
            for version in expired_versions(lake.version_dirs(et.table), published_ids, now=now, grace=version_grace):
                lake.delete_dir(version.path)
                result.versions_deleted.append(lake.uri(version.path))
            _delete_stale_staging(lake, et, now=now, grace=version_grace)

            landed = lake.landed_files(et.event_type)
            hours = {f.hour for f in landed}
            published = {
                hour: PublishedVersion.from_manifest(location, lake.manifest(lake.path(location)))
                for hour, location in locations.items()
                if hour in hours
            }
            for landed_file in expired_landing_files(landed, published, now=now, keep=landing_keep):
                path = lake.landed_path(landed_file)
                lake.delete_file(path)
                lake.remove_empty_dirs(path.rpartition("/")[0], lake.landing_type_path(et.event_type))
                result.landing_files_deleted += 1
                result.landing_bytes_deleted += landed_file.size
    return result


def _delete_stale_staging(lake: Lake, et: EventType, *, now: datetime, grace: timedelta) -> None:
    """Staging directories of runs killed before they finished (a live run's is younger than the grace)."""
    for info in lake.subdirs(f"{lake.table_path(et.table)}/_staging"):
        if file_mtime(info) + grace <= now:
            lake.delete_dir(info.path)
