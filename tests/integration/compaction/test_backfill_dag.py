"""Backfilling ``compact_events`` over a range of past hours compacts each hour and emits its asset events."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from compaction_helpers import HOURS, ITEM, TICK, land_hours, read_partition_ids
from conftest import settings_env

from eventlake import metastore
from eventlake.compaction.assets import curated_asset_uri
from eventlake.compaction.storage import Lake
from eventlake.settings import REPO_ROOT

pytestmark = pytest.mark.integration


def test_backfill_over_a_range_of_hours_compacts_each_hour(airflow_db, lake_settings, spark_master, monkeypatch):
    settings = lake_settings
    _, truth = land_hours(settings)
    host, _, port = spark_master.removeprefix("spark://").partition(":")
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EVENTLAKE_SPARK_BATCH_CORES_MAX", "1")
    monkeypatch.setenv("EVENTLAKE_SPARK_EXECUTOR_MEMORY", "1g")
    monkeypatch.setenv("EVENTLAKE_SPARK_DRIVER_MEMORY", "1g")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_DEFAULT",
        json.dumps(
            {
                "conn_type": "spark",
                "host": f"spark://{host}",
                "port": int(port),
                "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"},
            }
        ),
    )
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "compact_events.py")).dags["compact_events"]
    for hour in HOURS:
        # A run scheduled after the hour: its data interval is exactly that hour.
        run = dag.test(logical_date=hour.end)
        assert run.state == DagRunState.SUCCESS
        assert (run.data_interval_start, run.data_interval_end) == (hour.start, hour.end)
        emitted = {ti.task_id: ti for ti in run.get_task_instances()}
        assert emitted["compact_partitions"].state == "success"
        assert emitted["emit_curated_assets"].xcom_pull(task_ids="emit_curated_assets") == 2

    for et in (ITEM, TICK):
        assert set(metastore.partition_locations(settings, et.table)) == set(HOURS)
        for hour in HOURS:
            ids = frozenset(truth.ids[(et.table, hour)])
            assert read_partition_ids(settings, et.table, hour) == (len(ids), ids)

    # The asset events carry the partition and its new location.
    lake = Lake.from_settings(settings)
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.execute(
            select(AssetModel.uri, AssetEvent.extra).join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
        ).all()
    by_partition = {(uri, extra["event_hour"]): extra for uri, extra in events if extra.get("table")}
    for et in (ITEM, TICK):
        for hour in HOURS:
            extra = by_partition[(curated_asset_uri(et.table), hour.event_hour)]
            assert extra["rows"] == len(truth.ids[(et.table, hour)])
            published = metastore.partition_locations(settings, et.table)[hour]
            assert lake.path(extra["location"]) == lake.path(published)  # file:/// here, file:/ from Hive

    # A second backfill over the same range finds nothing to do and publishes nothing new.
    before = {et.table: metastore.partition_locations(settings, et.table) for et in (ITEM, TICK)}
    run = dag.test(logical_date=HOURS[0].end)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["find_partitions_to_compact"] == "success"
    assert states["compact_partitions"] == "skipped"
    assert states["apply_retention"] == "success"
    assert {et.table: metastore.partition_locations(settings, et.table) for et in (ITEM, TICK)} == before
