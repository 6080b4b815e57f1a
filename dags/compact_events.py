"""Hourly compaction of the landing zone into the curated tables, one asset event per published partition.

Each run owns the hour ``[data_interval_start, data_interval_end)``: it waits out the lateness
grace, checks (without Spark) whether any partition needs a rewrite, submits the Spark job that
compacts its hour and recompacts earlier hours that received late events, then emits an asset event
per published partition and applies retention.

No catchup: a run also compacts every earlier closed hour that was never compacted, so after the
scheduler was down for hours the next run takes them all, instead of a queue of one run per missed
hour (which, from a fixed start date, a new deployment would start with). ``airflow dags backfill``
(or the UI's backfill) compacts a range of past hours run by run.

One compaction at a time: the Spark job and the retention run one task instance at a time across
runs (``max_active_tis_per_dag=1``; the job re-plans when it starts, so a run queued behind another
skips what that one published). Runs themselves may overlap, so a run waiting out its grace period
never holds up a backfill or a manual run of an earlier hour.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import AssetAlias, CronDataIntervalTimetable, dag, task

from eventlake.compaction.assets import CURATED_ALIAS_NAME

CURATED_PARTITIONS = AssetAlias(CURATED_ALIAS_NAME)


def eventlake_settings() -> Any:
    """The platform settings, read when a task renders its templates (never at parse time)."""
    from eventlake.settings import load_settings

    return load_settings()


def compaction_result_path(data_interval_start: Any, run_id: str) -> Any:
    """Where this run's Spark job leaves its result (see :func:`eventlake.compaction.runner.result_path`)."""
    from eventlake.compaction.runner import result_path

    return result_path(eventlake_settings(), data_interval_start, run_id)


def compaction_driver_java_options() -> str:
    """JVM options of the Spark job's driver (see :func:`eventlake.compaction.runner.driver_java_options`)."""
    from eventlake.compaction.runner import driver_java_options

    settings = eventlake_settings()
    return driver_java_options(settings, settings.spark_master_url)


def python_executable() -> str:
    import sys

    return sys.executable


@dag(
    dag_id="compact_events",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 24, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    default_args={"owner": "eventlake", "retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["eventlake", "compaction"],
    user_defined_macros={
        "eventlake_settings": eventlake_settings,
        "python_executable": python_executable,
        "compaction_result_path": compaction_result_path,
        "compaction_driver_java_options": compaction_driver_java_options,
    },
    doc_md=__doc__,
)
def compact_events() -> None:
    wait_for_lateness_grace = TimeDeltaSensor(
        task_id="wait_for_lateness_grace",
        delta="{{ eventlake_settings().compaction_lateness_grace_minutes }}",
        mode="reschedule",
        poke_interval=60,
    )

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def find_partitions_to_compact(data_interval_start: Any = None, data_interval_end: Any = None) -> bool:
        """True when some partition of this run needs a rewrite (listing + metastore, no Spark)."""
        from datetime import UTC, datetime

        from eventlake import metastore
        from eventlake.compaction.runner import iter_plans
        from eventlake.compaction.storage import Lake

        settings = eventlake_settings()
        with metastore.connect(settings) as client:
            plans = iter_plans(
                settings,
                Lake.from_settings(settings),
                client,
                interval_start=data_interval_start,
                interval_end=data_interval_end,
                now=datetime.now(UTC),
            )
            tasks = [t for _table, plan in plans for t in plan.tasks]
        for partition in tasks:
            print(f"to compact: {partition.table} {partition.hour.path} ({len(partition.new_files)} new files)")
        return bool(tasks)

    compact_partitions = SparkSubmitOperator(
        task_id="compact_partitions",
        conn_id="spark_default",
        application="{{ eventlake_settings().repo_root }}/spark_jobs/compact_events.py",
        name="eventlake-compact-events",
        max_active_tis_per_dag=1,
        conf={
            "spark.cores.max": "{{ eventlake_settings().spark_batch_cores_max }}",
            "spark.executor.memory": "{{ eventlake_settings().spark_executor_memory }}",
            "spark.driver.memory": "{{ eventlake_settings().spark_driver_memory }}",
            "spark.driver.extraJavaOptions": "{{ compaction_driver_java_options() }}",
            "spark.pyspark.python": "{{ python_executable() }}",
            "spark.pyspark.driver.python": "{{ python_executable() }}",
        },
        env_vars={"PYTHONPATH": "{{ eventlake_settings().repo_root }}"},
        application_args=[
            "--interval-start",
            "{{ data_interval_start.isoformat() }}",
            "--interval-end",
            "{{ data_interval_end.isoformat() }}",
            "--result-path",
            "{{ compaction_result_path(data_interval_start, run_id) }}",
        ],
    )

    @task(outlets=[CURATED_PARTITIONS])
    def emit_curated_assets(outlet_events: Any = None, data_interval_start: Any = None, run_id: Any = None) -> int:
        """One asset event on ``eventlake://curated/<table>`` per partition this run's Spark job published."""
        import json

        from eventlake.compaction.assets import asset_event_extra, curated_asset

        result = json.loads(compaction_result_path(data_interval_start, run_id).read_text())
        for partition in result["published"]:
            outlet_events[CURATED_PARTITIONS].add(curated_asset(partition["table"]), extra=asset_event_extra(partition))
        return len(result["published"])

    @task(trigger_rule="none_failed", max_active_tis_per_dag=1)
    def apply_retention(data_interval_end: Any = None) -> dict[str, Any]:
        """Delete superseded curated versions and compacted landing files past their retention."""
        from dataclasses import asdict

        from eventlake.compaction.retention import apply_retention as retain

        result = retain(eventlake_settings(), now=data_interval_end)
        print(
            f"deleted {len(result.versions_deleted)} versions, {result.landing_files_deleted} landing files, "
            f"{result.commit_manifests_deleted} commit manifests"
        )
        return asdict(result)

    emitted = emit_curated_assets()
    wait_for_lateness_grace >> find_partitions_to_compact() >> compact_partitions >> emitted >> apply_retention()


compact_events()
