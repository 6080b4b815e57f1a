"""The ``run_analytics_<cadence>`` Airflow DAGs, declared once: each DAG file is one call of :func:`analytics_dag`.

A run reports on its data interval (``[data_interval_start, data_interval_end)``, a cron data-interval
timetable), or, when compaction's asset events trigger it, on every interval of its cadence that
the published partitions fall in, so a report catches up with late data. A backfill over past
intervals gives one report per interval and question. One mapped task per interval: answer, check,
publish (a failed check fails that task and keeps the previous report).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import AssetAny, AssetOrTimeSchedule, CronDataIntervalTimetable, dag, task

from eventlake.analytics.tasks import analytics_dag_id
from eventlake.catalog.events import EVENT_TYPES
from eventlake.compaction.assets import curated_asset

if TYPE_CHECKING:
    from airflow.sdk import DAG

#: When each cadence's scheduled runs start (UTC): once its interval has ended.
CRON = {"hourly": "0 * * * *", "daily": "0 0 * * *"}


def analytics_dag(cadence: str, *, doc_md: str | None = None) -> DAG:
    """The DAG that publishes every question of ``cadence`` for each of its intervals."""
    if cadence not in CRON:
        raise ValueError(f"unknown cadence {cadence!r}; known: {', '.join(CRON)}")

    @dag(
        dag_id=analytics_dag_id(cadence),
        schedule=AssetOrTimeSchedule(
            timetable=CronDataIntervalTimetable(CRON[cadence], timezone="UTC"),
            assets=AssetAny(*(curated_asset(et.table) for et in EVENT_TYPES)),
        ),
        start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
        catchup=False,
        max_active_runs=2,
        default_args={"owner": "eventlake", "retries": 1, "retry_delay": timedelta(minutes=2)},
        tags=["eventlake", "analytics", "reports"],
        doc_md=doc_md or __doc__,
    )
    def run_analytics() -> None:
        @task
        def resolve_intervals(**context: Any) -> list[dict[str, str]]:
            """The intervals this run reports on (its data interval, or those its asset events name)."""
            from eventlake.analytics.tasks import intervals_for_run

            triggering = context.get("triggering_asset_events") or {}
            extras = [event.extra for events in triggering.values() for event in events]
            intervals = intervals_for_run(
                cadence,
                context.get("data_interval_start"),
                context.get("data_interval_end"),
                extras,
                context["dag_run"].run_after,
            )
            print(f"reporting on {len(intervals)} interval(s): {', '.join(i.label for i in intervals)}")
            return [{"start": i.start.isoformat(), "end": i.end.isoformat()} for i in intervals]

        @task(map_index_template="{{ task.op_kwargs['interval']['start'] }}")
        def publish_reports(interval: dict[str, str], **context: Any) -> list[str]:
            """Answer, check and publish every question of the cadence for one interval."""
            from eventlake.analytics.tasks import report_interval_from_task

            return report_interval_from_task(cadence, interval, context["dag"].dag_id, context["run_id"])

        publish_reports.expand(interval=resolve_intervals())

    return run_analytics()
