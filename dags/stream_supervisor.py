"""Keeps exactly one streaming driver alive: one short check a minute, or a stop/restart on request."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from eventlake.streaming.supervisor import ACTIONS


@dag(
    dag_id="stream_supervisor",
    schedule=timedelta(minutes=1),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "eventlake", "retries": 1, "retry_delay": timedelta(seconds=20)},
    params={
        "action": Param(
            "ensure",
            enum=list(ACTIONS),
            description="ensure: keep the desired state; start/stop/restart: change it (stop is graceful).",
        )
    },
    tags=["eventlake", "streaming"],
    doc_md=__doc__,
)
def stream_supervisor() -> None:
    @task(execution_timeout=timedelta(minutes=5))
    def supervise_stream(params: dict | None = None) -> str:
        """One check of the driver (detached: this task ends in seconds while the stream runs on)."""
        from eventlake.settings import load_settings
        from eventlake.streaming.supervisor import StreamSupervisor

        action = (params or {}).get("action", "ensure")
        status = StreamSupervisor(load_settings()).check(action)
        print(status.line())
        return status.line()

    supervise_stream()


stream_supervisor()
