"""The compaction DAGs parse, are thin, and schedule real hourly intervals."""

from __future__ import annotations

from datetime import timedelta

import pendulum
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.encoders import coerce_to_core_timetable

from eventlake.settings import REPO_ROOT


@pytest.fixture(scope="module")
def dagbag():
    return DagBag(dag_folder=str(REPO_ROOT / "dags"))


@pytest.mark.parametrize("dag_id", ["compact_events", "bootstrap_tables"])
def test_dag_imports_with_owner_retries_and_tags(dagbag, dag_id):
    assert not {path: err for path, err in dagbag.import_errors.items() if dag_id in path}
    dag = dagbag.dags.get(dag_id)
    assert dag is not None
    assert dag.fileloc.endswith(f"{dag_id}.py")
    assert dag.tags
    assert "eventlake" in dag.tags
    for task in dag.tasks:
        assert task.owner == "eventlake"
        assert task.retries >= 1


def test_compaction_runs_hourly_over_explicit_intervals_without_a_catchup_queue(dagbag):
    dag = dagbag.dags["compact_events"]
    # Missed hours are taken by the next run (see test_plan: earlier never-compacted hours are planned).
    assert dag.catchup is False
    # Runs may overlap (one waiting out its grace must not hold up a backfill); compactions may not.
    assert dag.max_active_runs > 1
    assert dag.get_task("compact_partitions").max_active_tis_per_dag == 1
    assert dag.get_task("apply_retention").max_active_tis_per_dag == 1
    start = pendulum.datetime(2026, 11, 24, 9, tz="UTC")
    timetable = coerce_to_core_timetable(dag.timetable)
    interval = timetable.infer_manual_data_interval(run_after=start + timedelta(minutes=30))
    # A run at 09:30 covers the last complete hour, never an empty interval.
    assert (interval.start, interval.end) == (start - timedelta(hours=1), start)
    assert [t.task_id for t in dag.topological_sort()] == [
        "wait_for_lateness_grace",
        "find_partitions_to_compact",
        "compact_partitions",
        "emit_curated_assets",
        "apply_retention",
    ]
    emit = dag.get_task("emit_curated_assets")
    assert [outlet.name for outlet in emit.outlets] == ["eventlake-curated-partitions"]
    submit = dag.get_task("compact_partitions")
    assert submit.conf["spark.cores.max"] == "{{ eventlake_settings().spark_batch_cores_max }}"


def test_each_run_reads_the_result_its_own_spark_job_wrote(dagbag, tmp_path, monkeypatch):
    """Two runs of one interval (a manual rerun beside the scheduled run) never share a result file."""
    from eventlake.compaction.runner import result_path
    from eventlake.settings import load_settings

    monkeypatch.setenv("EVENTLAKE_HOME", str(tmp_path))
    dag = dagbag.dags["compact_events"]
    submit = dag.get_task("compact_partitions")
    args = submit.application_args
    assert args[args.index("--result-path") + 1] == "{{ compaction_result_path(data_interval_start, run_id) }}"
    macro = dag.user_defined_macros["compaction_result_path"]
    start = pendulum.datetime(2026, 11, 24, 9, tz="UTC")
    scheduled = macro(start, "scheduled__2026-11-24T10:00:00+00:00")
    manual = macro(start, "manual__2026-11-24T10:05:13.123+00:00")
    assert scheduled != manual
    assert scheduled == result_path(load_settings(), start, "scheduled__2026-11-24T10:00:00+00:00")
    assert scheduled.parent == load_settings().run_dir / "compaction"
    assert ":" not in scheduled.name
    assert "+" not in scheduled.name


def test_the_spark_drivers_jit_is_c1_unless_it_runs_the_spark_transform(dagbag, tmp_path, monkeypatch):
    from eventlake.compaction.runner import driver_java_options
    from eventlake.settings import EventlakeSettings
    from eventlake.spark import COMPACTION_DRIVER_JAVA_OPTIONS

    monkeypatch.setenv("EVENTLAKE_HOME", str(tmp_path))
    submit = dagbag.dags["compact_events"].get_task("compact_partitions")
    assert submit.conf["spark.driver.extraJavaOptions"] == "{{ compaction_driver_java_options() }}"
    macro = dagbag.dags["compact_events"].user_defined_macros["compaction_driver_java_options"]
    assert macro() == COMPACTION_DRIVER_JAVA_OPTIONS == "-XX:TieredStopAtLevel=1"  # a standalone master

    local = EventlakeSettings(home=tmp_path)
    assert driver_java_options(local, "local[2]") == COMPACTION_DRIVER_JAVA_OPTIONS  # duckdb engine: tasks in Python
    s3 = EventlakeSettings(home=tmp_path, data_uri="s3a://lake/eventlake", s3_endpoint="http://127.0.0.1:1")
    assert driver_java_options(s3, "spark://127.0.0.1:7077") == COMPACTION_DRIVER_JAVA_OPTIONS
    assert driver_java_options(s3, "local[2]") == ""  # the driver's JVM runs the Spark transform's tasks
