"""Create (or complete) the metastore database and the curated tables from the event catalog, on deploy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import dag


def eventlake_settings() -> Any:
    """The platform settings, read when the task renders its templates (never at parse time)."""
    from eventlake.settings import load_settings

    return load_settings()


def python_executable() -> str:
    import sys

    return sys.executable


@dag(
    dag_id="bootstrap_tables",
    schedule="@once",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    default_args={"owner": "eventlake", "retries": 3, "retry_delay": timedelta(seconds=30)},
    tags=["eventlake", "metastore"],
    user_defined_macros={"eventlake_settings": eventlake_settings, "python_executable": python_executable},
    doc_md=__doc__,
)
def bootstrap_tables() -> None:
    SparkSubmitOperator(
        task_id="create_curated_tables",
        conn_id="spark_default",
        application="{{ eventlake_settings().repo_root }}/spark_jobs/create_tables.py",
        name="eventlake-create-tables",
        conf={
            "spark.cores.max": "{{ eventlake_settings().spark_batch_cores_max }}",
            "spark.pyspark.python": "{{ python_executable() }}",
            "spark.pyspark.driver.python": "{{ python_executable() }}",
        },
        env_vars={"PYTHONPATH": "{{ eventlake_settings().repo_root }}"},
    )


bootstrap_tables()
