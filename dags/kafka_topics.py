"""Creates or verifies every topic the catalog and settings name; fails on drift it cannot fix."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task


@dag(
    dag_id="kafka_topics",
    schedule=None,  # on demand, and triggered by the `make up` bootstrap
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "eventlake", "retries": 2, "retry_delay": timedelta(seconds=15)},
    tags=["eventlake", "kafka"],
    doc_md=__doc__,
)
def kafka_topics() -> None:
    @task
    def ensure_topics() -> list[str]:
        """Create missing topics, grow partitions, and report (then fail on) drift that remains."""
        from eventlake.kafka_admin import ensure_topics as ensure
        from eventlake.settings import load_settings

        report = ensure(load_settings())
        for line in report.lines():
            print(line)
        report.raise_for_drift()
        return report.lines()

    ensure_topics()


kafka_topics()
