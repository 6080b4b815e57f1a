"""kill -9 of the compaction job at any point leaves readers on the previous version; the retry completes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from compaction_helpers import HOURS, ITEM, TICK, interval_of, land_hours, land_late, read_partition_ids
from conftest import settings_env, spark_submit_command

from eventlake import metastore
from eventlake.compaction.runner import CHECKPOINTS, run_compaction
from eventlake.compaction.storage import Lake
from eventlake.lake import HourPartition

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def submit(settings, master, hour, kill_at=None):
    env = {**os.environ, **settings_env(settings), "PYSPARK_PYTHON": sys.executable}
    env.pop("EVENTLAKE_COMPACTION_KILL_AT", None)
    if kill_at:
        env["EVENTLAKE_COMPACTION_KILL_AT"] = kill_at
    now = hour.end + timedelta(hours=1)
    args = ["--interval-start", hour.start.isoformat(), "--interval-end", hour.end.isoformat()]
    args += ["--now", now.isoformat()]
    return subprocess.run(
        spark_submit_command(master, "spark_jobs/compact_events.py", *args),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def snapshot(settings):
    tables = (ITEM.table, TICK.table)
    return {table: metastore.partition_locations(settings, table) for table in tables}


def test_killed_runs_leave_readers_on_the_previous_version_and_the_retry_completes(spark, spark_master, lake_settings):
    settings = lake_settings
    first = HOURS[0]
    writer, truth = land_hours(settings)
    run_compaction(spark, settings, **interval_of(first))
    before_locations = snapshot(settings)
    before = read_partition_ids(settings, ITEM.table, first)
    land_late(settings, writer, truth, first, 30)  # hour 3 gets late events; hour 4 is new in the next run

    later = HOURS[1]
    for point in [p for p in CHECKPOINTS if p != "published"]:
        killed = submit(settings, spark_master, later, kill_at=point)
        assert killed.returncode != 0, killed.stdout[-2000:]
        assert "published " not in killed.stdout
        # Nothing a reader resolves has changed: same locations, same complete data.
        if point in ("planned", "written"):
            assert snapshot(settings) == before_locations
        assert metastore.partition_locations(settings, ITEM.table)[first] == before_locations[ITEM.table][first]
        assert read_partition_ids(settings, ITEM.table, first) == before

    retry = submit(settings, spark_master, later)
    assert retry.returncode == 0, retry.stderr[-3000:]
    assert "compacted game_item_purchased 2026-11-24/03" in retry.stdout
    for et in (ITEM, TICK):
        for hour in HOURS[:2]:
            ids = frozenset(truth.ids[(et.table, hour)])
            assert read_partition_ids(settings, et.table, hour) == (len(ids), ids)

    # Killed right after publishing: readers are on the complete new version; the retry has nothing to do.
    land_late(settings, writer, truth, first, 5)
    killed = submit(settings, spark_master, later, kill_at="published")
    assert killed.returncode != 0
    after_kill = snapshot(settings)
    assert after_kill[ITEM.table][first] != before_locations[ITEM.table][first]
    ids = frozenset(truth.ids[(ITEM.table, first)])
    assert read_partition_ids(settings, ITEM.table, first) == (len(ids), ids)
    retry = submit(settings, spark_master, later)
    assert retry.returncode == 0, retry.stderr[-3000:]
    assert "published 0 partitions" in retry.stdout
    assert snapshot(settings) == after_kill

    # Abandoned versions and staging of the killed runs are left for retention, never published.
    lake = Lake.from_settings(settings)
    published = {lake.path(loc) for locs in snapshot(settings).values() for loc in locs.values()}
    orphans = [v for v in lake.version_dirs(ITEM.table) if v.path not in published]
    assert orphans
    assert HourPartition(first.event_date, first.event_hour) in {v.hour for v in orphans}
