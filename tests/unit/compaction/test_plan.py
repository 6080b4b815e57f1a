from datetime import UTC, datetime, timedelta

from eventlake.compaction.plan import PublishedVersion, output_files, plan_compaction, version_name
from eventlake.compaction.storage import LandedFile
from eventlake.lake import HourPartition, batch_file_name

ET = "game.item_purchased"
TABLE = "game_item_purchased"
H9 = HourPartition("2026-11-24", 9)
H10 = HourPartition("2026-11-24", 10)
H11 = HourPartition("2026-11-24", 11)
GRACE = timedelta(minutes=10)


def landed(hour: HourPartition, batch_id: int, size: int = 100) -> LandedFile:
    return LandedFile(ET, hour, batch_file_name(batch_id, 0), size, hour.end)


def plan(files, published=None, *, start=H10.start, now=None, min_input_files=1):
    return plan_compaction(
        event_type=ET,
        table=TABLE,
        landed=files,
        published=published or {},
        interval_start=start,
        interval_end=start + timedelta(hours=1),
        now=now or start + timedelta(hours=1, minutes=15),
        lateness_grace=GRACE,
        min_input_files=min_input_files,
    )


def test_closed_hour_of_interval_is_compacted_with_all_its_files():
    files = [landed(H10, 1), landed(H10, 2)]
    result = plan(files)
    assert len(result.tasks) == 1
    task = result.tasks[0]
    assert (task.hour, task.late, task.previous) == (H10, False, None)
    assert task.new_files == tuple(files)
    assert task.input_files == {f.rel_path for f in files}
    assert task.new_bytes == 200


def test_hour_within_lateness_grace_waits():
    result = plan([landed(H10, 1)], now=H10.end + GRACE - timedelta(seconds=1))
    assert result.tasks == ()
    assert [(s.hour, s.reason, s.pending_files) for s in result.skipped] == [(H10, "open", 1)]


def test_later_hours_belong_to_later_runs():
    result = plan([landed(H11, 1)], now=H11.end + timedelta(hours=1))
    assert result.tasks == ()
    assert result.skipped == ()


def test_unchanged_input_is_skipped_and_keeps_the_published_version():
    files = [landed(H10, 1), landed(H10, 2)]
    published = {H10: PublishedVersion("v1", "file:///c/v=v1", frozenset(f.rel_path for f in files), 10)}
    result = plan(files, published)
    assert result.tasks == ()
    assert [(s.hour, s.reason) for s in result.skipped] == [(H10, "unchanged")]


def test_late_files_of_an_earlier_hour_recompact_it_with_only_the_new_files():
    old, late = landed(H9, 1), landed(H9, 7)
    published = {H9: PublishedVersion("v1", "file:///c/v=v1", frozenset({old.rel_path}), 10)}
    result = plan([old, late, landed(H10, 8)], published)
    by_hour = {task.hour: task for task in result.tasks}
    assert set(by_hour) == {H9, H10}
    assert by_hour[H9].late
    assert not by_hour[H10].late
    assert by_hour[H9].new_files == (late,)
    assert by_hour[H9].previous == published[H9]
    assert by_hour[H9].input_files == {old.rel_path, late.rel_path}


def test_files_deleted_by_retention_stay_in_the_manifest():
    kept = landed(H10, 2)
    published = {H10: PublishedVersion("v1", "l", frozenset({landed(H10, 1).rel_path}), 5)}
    (task,) = plan([kept], published).tasks
    assert task.input_files == {landed(H10, 1).rel_path, kept.rel_path}


def test_threshold_delays_rewriting_a_published_partition_but_not_a_first_one():
    published = {H9: PublishedVersion("v1", "l", frozenset({landed(H9, 1).rel_path}), 5)}
    files = [landed(H9, 1), landed(H9, 2), landed(H10, 3)]
    result = plan(files, published, min_input_files=2)
    assert [task.hour for task in result.tasks] == [H10]
    assert [(s.hour, s.reason, s.pending_files) for s in result.skipped] == [(H9, "below_threshold", 1)]


def test_versions_are_new_per_run_and_sort_by_time():
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    first = version_name(now, TABLE, H10, ["a", "b"])
    assert first == version_name(now, TABLE, H10, ["b", "a"])
    assert first != version_name(now, TABLE, H10, ["a", "b", "c"])
    assert version_name(now + timedelta(seconds=1), TABLE, H10, ["a"]) > first


def test_output_files_follow_the_estimated_bytes_of_the_new_version():
    (first,) = plan([landed(H10, 1, size=300), landed(H10, 2, size=300)]).tasks
    assert output_files(first, 1000, curated_per_landing_byte=0.5) == 1
    assert output_files(first, 100, curated_per_landing_byte=0.5) == 3
    published = {H9: PublishedVersion("v1", "l", frozenset({landed(H9, 1).rel_path}), 5, bytes=950)}
    late = next(task for task in plan([landed(H9, 1), landed(H9, 3, size=200)], published).tasks if task.hour == H9)
    assert output_files(late, 1000, curated_per_landing_byte=0.5) == 2


def test_only_a_first_compaction_of_an_hour_reads_every_visible_file():
    published = {H9: PublishedVersion("v1", "l", frozenset({landed(H9, 1).rel_path}), 5)}
    by_hour = {task.hour: task for task in plan([landed(H9, 1), landed(H9, 2), landed(H10, 3)], published).tasks}
    assert by_hour[H10].all_visible
    assert not by_hour[H9].all_visible


def test_earlier_hours_never_compacted_are_taken_by_the_next_run():
    # The scheduler was down over 09:00-10:00: the 11:00 run compacts hour 9 too (no catchup queue needed).
    files = [landed(H9, 1), landed(H10, 2)]
    result = plan(files, start=H10.start)
    assert [(t.hour, t.late, t.previous) for t in result.tasks] == [(H9, True, None), (H10, False, None)]
