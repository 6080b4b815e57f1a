"""Deleting what is no longer needed: superseded curated versions, compacted landing files and the
stream's commit manifests of batches whose landing files are all gone.

Never deleted: the published version of a partition, a version younger than the grace period (a
query may still read it), a landing file that no published version holds (not yet compacted), and
the commit manifest of a batch with a landing file left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from eventlake.catalog import EVENT_TYPES, EventType
from eventlake.compaction.plan import PublishedVersion
from eventlake.compaction.storage import CommitManifest, Lake, LandedFile, VersionDir, file_mtime
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


def expired_commit_manifests(
    manifests: Iterable[CommitManifest], landing_file_exists: Callable[[str], bool], *, now: datetime, keep: timedelta
) -> list[CommitManifest]:
    """Manifests written at least ``keep`` ago none of whose landing files is left (all compacted and deleted).

    The stream only replays its last uncommitted batch, so an old manifest is never needed again; one
    whose batch still has a landing file is kept with it.
    """
    return [
        manifest
        for manifest in manifests
        if manifest.mtime + keep <= now and not any(landing_file_exists(path) for path in manifest.landing_files)
    ]


@dataclass
class RetentionResult:
    versions_deleted: list[str] = field(default_factory=list)
    landing_files_deleted: int = 0
    landing_bytes_deleted: int = 0
    commit_manifests_deleted: int = 0


def apply_retention(
    settings: EventlakeSettings, *, now: datetime, event_types: tuple[EventType, ...] = EVENT_TYPES
) -> RetentionResult:
    """Delete expired curated versions and compacted landing files of every table, then spent commit manifests."""
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
            emptied = set()
            for landed_file in expired_landing_files(landed, published, now=now, keep=landing_keep):
                path = lake.landed_path(landed_file)
                lake.delete_file(path)
                emptied.add(path.rpartition("/")[0])
                result.landing_files_deleted += 1
                result.landing_bytes_deleted += landed_file.size
            for directory in sorted(emptied):
                lake.remove_empty_dirs(directory, lake.landing_type_path(et.event_type))
    manifests = lake.commit_manifests(older_than=now - landing_keep)
    for manifest in expired_commit_manifests(
        manifests, lambda rel_path: lake.exists(f"{lake.landing}/{rel_path}"), now=now, keep=landing_keep
    ):
        lake.delete_file(manifest.path)
        result.commit_manifests_deleted += 1
    return result


def _delete_stale_staging(lake: Lake, et: EventType, *, now: datetime, grace: timedelta) -> None:
    """Staging directories of runs killed before they finished (a live run's is younger than the grace)."""
    for info in lake.subdirs(f"{lake.table_path(et.table)}/_staging"):
        if file_mtime(info) + grace <= now:
            lake.delete_dir(info.path)
