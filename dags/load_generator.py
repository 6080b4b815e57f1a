"""Demo traffic: a seeded, realistic mix of events sent to the producer API (manual trigger).

Runs :mod:`eventlake.loadgen` against the producer (connection settings ``producer_host``/``port``)
and keeps its summary (counts, latency percentiles, accepted ids) under ``HOME/loadgen/``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="load_generator",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    default_args={"owner": "eventlake", "retries": 0},
    tags=["eventlake", "demo", "producer"],
    params={
        "count": Param(5000, type="integer", minimum=1, description="Events to send."),
        "rate": Param(
            500, type=["null", "number"], description="Target events per second (null: as fast as possible)."
        ),
        "concurrency": Param(16, type="integer", minimum=1, maximum=256),
        "batch_size": Param(1, type="integer", minimum=1, maximum=500),
        "seed": Param(42, type="integer"),
        "malformed_share": Param(0.0, type="number", minimum=0, maximum=1),
        "retry_share": Param(0.01, type="number", minimum=0, maximum=1),
    },
    doc_md=__doc__,
)
def load_generator() -> None:
    @task(execution_timeout=timedelta(hours=1))
    def send_events(params: dict[str, Any] | None = None, run_id: str | None = None) -> dict[str, Any]:
        """Send the events; the summary without the id list goes to XCom, the full one to a file."""
        from eventlake.loadgen import LoadOptions, LoadPlan, run_load
        from eventlake.settings import load_settings

        settings = load_settings()
        assert params is not None
        out = settings.home / "loadgen" / str(run_id).replace(":", "_").replace("+", "_")
        plan = LoadPlan(
            seed=params["seed"], retry_share=params["retry_share"], malformed_share=params["malformed_share"]
        )
        summary = run_load(
            plan,
            LoadOptions(
                url=settings.producer_url,
                count=params["count"],
                rate_per_second=params["rate"],
                concurrency=params["concurrency"],
                batch_size=params["batch_size"],
                summary_path=out / "summary.json",
                events_path=out / "events.jsonl",
                progress=False,
            ),
        )
        if summary.failed:
            raise RuntimeError(f"{summary.failed} events failed (5xx or transport errors): {summary.status_counts}")
        return {k: v for k, v in summary.__dict__.items() if k != "accepted_event_ids"}

    send_events()


load_generator()
