"""What the ``run_analytics_*`` DAG tasks call: resolve a run's intervals, then report on one."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventlake.analytics.intervals import CADENCE_LENGTH, ReportInterval, aligned_interval, intervals_from_partitions

if TYPE_CHECKING:
    from eventlake.settings import EventlakeSettings

log = logging.getLogger(__name__)


def analytics_dag_id(cadence: str) -> str:
    """``run_analytics_hourly``, ``run_analytics_daily``: the DAG (and DAG file) of a cadence."""
    return f"run_analytics_{cadence}"


#: Every analytics DAG: runs of these may be read by whoever may read reports.
ANALYTICS_DAG_IDS = tuple(analytics_dag_id(cadence) for cadence in CADENCE_LENGTH)


def partitions_in_extra(extra: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Hour partitions an asset event names: ``{"partitions": [{event_date, event_hour}, ...]}`` or one."""
    if not extra:
        return []
    if isinstance(extra.get("partitions"), list):
        return [dict(p) for p in extra["partitions"] if isinstance(p, Mapping) and "event_date" in p]
    if "event_date" in extra:
        return [{"event_date": extra["event_date"], "event_hour": extra.get("event_hour", 0)}]
    return []


def intervals_for_run(
    cadence: str,
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    asset_event_extras: Iterable[Mapping[str, Any] | None],
    run_after: datetime,
) -> list[ReportInterval]:
    """The intervals one run reports on.

    A scheduled or backfill run has its data interval. An asset-triggered run has none: it reports
    on every interval of its cadence that the compaction's events name, or, if they name none, on
    the last complete interval before the run.
    """
    if data_interval_start is not None and data_interval_end is not None and data_interval_end > data_interval_start:
        return [ReportInterval(data_interval_start, data_interval_end)]
    partitions = [p for extra in asset_event_extras for p in partitions_in_extra(extra)]
    if partitions:
        return intervals_from_partitions(partitions, cadence)
    step = timedelta(hours=1) if cadence == "hourly" else timedelta(days=1)
    return [aligned_interval(run_after - step, cadence)]


def report_interval(
    settings: EventlakeSettings, cadence: str, interval: ReportInterval, run: Mapping[str, Any]
) -> list[str]:
    """Answer, check and publish every question of the cadence for one interval; names published."""
    from eventlake.analytics.engines import engine_from_settings
    from eventlake.analytics.inputs import register_quarantine_partitions
    from eventlake.analytics.questions import questions_for, sql_dir_of
    from eventlake.analytics.runner import run_reports
    from eventlake.analytics.sqltext import referenced_tables
    from eventlake.analytics.views import input_tables
    from eventlake.catalog.derive import QUARANTINE_TABLE
    from eventlake.reports.store import ReportStore

    questions = questions_for(cadence)
    sql_dir = sql_dir_of(settings.repo_root)
    if any(QUARANTINE_TABLE in input_tables(referenced_tables(q.sql(sql_dir))) for q in questions):
        register_quarantine_partitions(settings)
    store = ReportStore.from_settings(settings)
    engine = engine_from_settings(settings)
    try:
        published = run_reports(engine, store, questions, interval, sql_dir, run=run)
    finally:
        engine.close()
    log.info("reports of %s are under %s", interval.id, store.uri)
    return [f"{p.question}/{p.interval_id}/{p.version}" for p in published]


def report_interval_from_task(cadence: str, interval: Mapping[str, str], dag_id: str, run_id: str) -> list[str]:
    """:func:`report_interval` for the ISO bounds ``resolve_intervals`` passed on, with the run's settings."""
    from eventlake.settings import load_settings

    window = ReportInterval(datetime.fromisoformat(interval["start"]), datetime.fromisoformat(interval["end"]))
    return report_interval(load_settings(), cadence, window, {"dag_id": dag_id, "run_id": run_id})
