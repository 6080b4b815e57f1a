from datetime import UTC, datetime, timedelta

from eventlake.compaction.plan import PublishedVersion
from eventlake.compaction.retention import expired_commit_manifests, expired_landing_files, expired_versions
from eventlake.compaction.storage import CommitManifest, LandedFile, VersionDir
from eventlake.lake import HourPartition, batch_file_name

H = HourPartition("2026-11-24", 9)
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
GRACE = timedelta(minutes=60)


def version(name: str, age: timedelta) -> VersionDir:
    return VersionDir(H, name, f"/c/t/{H.path}/v={name}", NOW - age)


def test_superseded_versions_go_only_after_the_grace_since_they_were_superseded():
    old, current = version("a", timedelta(hours=5)), version("b", timedelta(minutes=30))
    assert expired_versions([old, current], {H: "b"}, now=NOW, grace=GRACE) == []
    current = version("b", timedelta(minutes=61))
    assert expired_versions([old, current], {H: "b"}, now=NOW, grace=GRACE) == [old]


def test_the_published_version_is_never_deleted():
    only = version("a", timedelta(days=30))
    assert expired_versions([only], {H: "a"}, now=NOW, grace=GRACE) == []


def test_abandoned_versions_of_killed_runs_go_after_the_grace():
    abandoned, young = version("a", timedelta(hours=2)), version("c", timedelta(minutes=5))
    assert expired_versions([abandoned, young], {}, now=NOW, grace=GRACE) == [abandoned]


def landed(batch_id: int, hour: HourPartition = H, mtime: datetime | None = None) -> LandedFile:
    return LandedFile("game.paid", hour, batch_file_name(batch_id, 0), 10, mtime or hour.end)


def test_only_compacted_landing_files_past_retention_are_deleted():
    compacted, uncompacted = landed(1), landed(2)
    recent_arrival = landed(3, mtime=NOW - timedelta(hours=1))
    published = {H: PublishedVersion("v", "l", frozenset({compacted.rel_path, recent_arrival.rel_path}), 3)}
    expired = expired_landing_files(
        [compacted, uncompacted, recent_arrival], published, now=NOW, keep=timedelta(hours=48)
    )
    assert expired == [compacted]


def test_nothing_is_deleted_from_an_hour_never_published():
    assert expired_landing_files([landed(1)], {}, now=NOW + timedelta(days=365), keep=timedelta(hours=1)) == []


def test_commit_manifests_go_once_old_and_every_landing_file_of_theirs_is_gone():
    old = NOW - timedelta(hours=49)
    spent = CommitManifest("/l/_commits/1.json", old, (landed(1).rel_path, landed(2).rel_path))
    half_left = CommitManifest("/l/_commits/2.json", old, (landed(3).rel_path, landed(4).rel_path))
    recent = CommitManifest("/l/_commits/3.json", NOW - timedelta(hours=1), (landed(5).rel_path,))
    quarantine_only = CommitManifest("/l/_commits/4.json", old, ())
    left = {landed(4).rel_path}
    expired = expired_commit_manifests(
        [spent, half_left, recent, quarantine_only], left.__contains__, now=NOW, keep=timedelta(hours=48)
    )
    assert expired == [spent, quarantine_only]
