"""Acceptance: landed hours with duplicates and late events, compacted on Spark standalone, published
in a real Hive Metastore; exactly once; reruns change nothing; retention cleans the landing zone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from compaction_helpers import HOURS, ITEM, TICK, interval_of, land_hours, land_late, read_partition_ids

from eventlake import metastore
from eventlake.compaction.retention import apply_retention
from eventlake.compaction.runner import run_compaction
from eventlake.compaction.storage import Lake
from eventlake.lake import HourPartition

pytestmark = pytest.mark.integration


# duckdb: one Spark task per hour merging it in DuckDB (local lakes); spark: the Spark transform (object storage).
@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_landed_hours_are_compacted_exactly_once_and_listed_in_the_metastore(spark, lake_settings, engine):
    settings = lake_settings.model_copy(update={"compaction_engine": engine})
    lake = Lake.from_settings(settings)
    writer, truth = land_hours(settings)

    for hour in HOURS:  # one run per hour, as the hourly DAG does
        result = run_compaction(spark, settings, **interval_of(hour))
        assert {(p.table, p.event_hour) for p in result.published} == {
            (ITEM.table, hour.event_hour),
            (TICK.table, hour.event_hour),
        }
        for partition in result.published:
            key = (partition.table, hour)
            assert partition.rows_out == len(truth.ids[key])
            assert partition.rows_in == truth.copies[key]
            assert partition.duplicates_removed == truth.copies[key] - len(truth.ids[key]) == 70
            assert partition.files_in == 3
            assert partition.late_rows_merged == 0

    # The metastore lists every partition with the location of its one version directory.
    for et in (ITEM, TICK):
        locations = metastore.partition_locations(settings, et.table)
        assert set(locations) == set(HOURS)
        for hour, location in locations.items():
            assert (
                lake.path(location)
                == lake.path(lake.uri(lake.partition_path(et.table, hour)))
                + "/"
                + (location.rstrip("/").rpartition("/")[2])
            )
            assert location.rstrip("/").rpartition("/")[2].startswith("v=")
            assert read_partition_ids(settings, et.table, hour) == (
                len(truth.ids[(et.table, hour)]),
                frozenset(truth.ids[(et.table, hour)]),
            )
        assert metastore.table_location(settings, et.table).endswith(f"/curated/{et.table}")

    # Spark SQL through the metastore sees each event exactly once, with the catalog's columns.
    for et in (ITEM, TICK):
        rows, distinct = spark.sql(
            f"select count(*), count(distinct event_id) from `{settings.hive_database}`.`{et.table}`"
        ).first()
        expected = sum(len(truth.ids[(et.table, hour)]) for hour in HOURS)
        assert rows == distinct == expected

    # Rerunning every interval changes nothing: no new version, same rows.
    before = {et.table: metastore.partition_locations(settings, et.table) for et in (ITEM, TICK)}
    for hour in HOURS:
        rerun = run_compaction(spark, settings, **interval_of(hour))
        assert rerun.published == []
        assert {s["reason"] for s in rerun.skipped} == {"unchanged"}
    assert {et.table: metastore.partition_locations(settings, et.table) for et in (ITEM, TICK)} == before

    # Late events for hour 3 land after it was compacted; the run of a later hour merges them once.
    late_hour = HOURS[0]
    late = land_late(settings, writer, truth, late_hour, 25)
    next_hour = HourPartition(late_hour.event_date, HOURS[-1].event_hour + 1)
    result = run_compaction(spark, settings, **interval_of(next_hour))
    (merged,) = result.published
    assert (merged.table, merged.event_hour, merged.late) == (ITEM.table, late_hour.event_hour, True)
    assert merged.late_rows_merged == len(late) == 25
    assert merged.duplicates_removed == 10  # the late file's re-deliveries of already published events
    assert merged.files_in == 1
    assert merged.previous_location == before[ITEM.table][late_hour]
    assert read_partition_ids(settings, ITEM.table, late_hour) == (
        len(truth.ids[(ITEM.table, late_hour)]),
        frozenset(truth.ids[(ITEM.table, late_hour)]),
    )
    # The Spark session that read the table before reads the new version without a `refresh table`: it asks
    # the metastore for each query's partitions, and a version's directory never changes once published.
    where = f"event_date = '{late_hour.event_date}' and event_hour = {late_hour.event_hour}"
    (late_rows,) = spark.sql(f"select count(*) from `{settings.hive_database}`.`{ITEM.table}` where {where}").first()
    assert late_rows == len(truth.ids[(ITEM.table, late_hour)])

    # Retention: an hour still open keeps its uncompacted file; compacted files and superseded versions go.
    open_hour = HourPartition(late_hour.event_date, 23)
    writer.write(ITEM, open_hour, writer.events(ITEM, open_hour, 5))
    superseded = lake.path(before[ITEM.table][late_hour])
    assert lake.exists(superseded)
    assert len(lake.files_under(lake.commits)) == 2 * 3 * 3 + 1 + 1
    retention = apply_retention(settings, now=open_hour.start + timedelta(days=30))
    assert retention.landing_files_deleted == 2 * 3 * 3 + 1
    assert superseded in {lake.path(uri) for uri in retention.versions_deleted}
    assert not lake.exists(superseded)
    remaining = lake.landed_files(ITEM.event_type) + lake.landed_files(TICK.event_type)
    assert [(f.hour, f.event_type) for f in remaining] == [(open_hour, ITEM.event_type)]
    # The stream's commit manifests go with their batches' files; the open hour's batch keeps its own.
    assert retention.commit_manifests_deleted == 2 * 3 * 3 + 1
    (kept_manifest,) = lake.files_under(lake.commits)
    assert lake.read_json(kept_manifest.path)["files"][0]["path"] == remaining[0].rel_path
    for et in (ITEM, TICK):
        for hour in HOURS:
            assert read_partition_ids(settings, et.table, hour)[1] == frozenset(truth.ids[(et.table, hour)])
    # The planner still knows the deleted files were compacted: nothing to redo.
    again = run_compaction(spark, settings, **interval_of(next_hour))
    assert again.published == []
