"""Hourly analytics reports: every hourly question for each hour of event time, checked, then published.

Runs on the hour for the hour that ended (``[data_interval_start, data_interval_end)``) and again
whenever compaction publishes a curated partition (the asset event names the hour), so a report
catches up with late data. A backfill over past hours gives one report per hour and question.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import AssetAny, AssetOrTimeSchedule, CronDataIntervalTimetable, dag, task

from eventlake.catalog.events import EVENT_TYPES
from eventlake.compaction.assets import curated_asset

CADENCE = "hourly"


@dag(
    dag_id="run_analytics_hourly",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
        assets=AssetAny(*(curated_asset(et.table) for et in EVENT_TYPES)),
    ),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    default_args={"owner": "eventlake", "retries": 1, "retry_delay": timedelta(minutes=2)},
    tags=["eventlake", "analytics", "reports"],
    doc_md=__doc__,
)
def run_analytics_hourly() -> None:
    @task
    def resolve_intervals(**context: Any) -> list[dict[str, str]]:
        """The hours this run reports on (its data interval, or the hours its asset events name)."""
        from eventlake.analytics.tasks import intervals_for_run

        extras = [event.extra for events in (context.get("triggering_asset_events") or {}).values() for event in events]
        intervals = intervals_for_run(
            CADENCE,
            context.get("data_interval_start"),
            context.get("data_interval_end"),
            extras,
            context["dag_run"].run_after,
        )
        print(f"reporting on {len(intervals)} interval(s): {', '.join(i.label for i in intervals)}")
        return [{"start": i.start.isoformat(), "end": i.end.isoformat()} for i in intervals]

    @task(map_index_template="{{ task.op_kwargs['interval']['start'] }}")
    def publish_reports(interval: dict[str, str], **context: Any) -> list[str]:
        """Answer, check and publish every hourly question for one interval."""
        from datetime import datetime

        from eventlake.analytics.intervals import ReportInterval
        from eventlake.analytics.tasks import report_interval
        from eventlake.settings import load_settings

        run = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"]}
        window = ReportInterval(datetime.fromisoformat(interval["start"]), datetime.fromisoformat(interval["end"]))
        return report_interval(load_settings(), CADENCE, window, run)

    publish_reports.expand(interval=resolve_intervals())


run_analytics_hourly()
