"""Answer the questions of one interval, check the answers, publish those that pass.

Pure orchestration over an engine and a store, so the DAGs stay thin and tests need no Airflow.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from eventlake.analytics.checks import CheckResult, evaluate_checks
from eventlake.analytics.engines import QueryEngine
from eventlake.analytics.intervals import ReportInterval
from eventlake.analytics.questions import Question
from eventlake.analytics.sqltext import referenced_tables
from eventlake.analytics.views import FILE_MODIFIED_TIME, input_tables
from eventlake.catalog.events import EVENT_TYPES
from eventlake.reports.render import report_html, result_files, summary_json
from eventlake.reports.store import PublishedReport, ReportStore

log = logging.getLogger(__name__)

_CURATED_TABLES = {et.table for et in EVENT_TYPES}
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


class QualityCheckError(RuntimeError):
    """A report's quality checks failed: it was not published (the previous version stays)."""


@dataclass
class Answer:
    """One question answered for one interval, with its checks."""

    question: Question
    interval: ReportInterval
    table: pa.Table
    duration_seconds: float
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]


def answer(engine: QueryEngine, question: Question, sql: str, interval: ReportInterval) -> Answer:
    """Run one question on the engine and check its result."""
    started = time.perf_counter()
    table = engine.run(sql, interval.parameters())
    duration = time.perf_counter() - started
    return Answer(question, interval, table, duration, evaluate_checks(question.checks, table))


def freshness_sql(table: str) -> str:
    """Trino SQL: rows, newest event and newest curated file of one table within the interval."""
    if not _IDENTIFIER.match(table):
        raise ValueError(f"not a table name: {table!r}")
    return (
        f'select count(*) as row_count, max(event_time) as latest_event_time, max("{FILE_MODIFIED_TIME}") '
        f"as curated_at from {table} where event_date between :first_date and :last_date "
        "and event_time >= :interval_start and event_time < :interval_end"
    )


def input_freshness(engine: QueryEngine, tables: Iterable[str], interval: ReportInterval) -> dict[str, dict[str, Any]]:
    """How fresh each curated input is for this interval (what the summary reports)."""
    out = {}
    for table in sorted(set(tables) & _CURATED_TABLES):
        row = engine.run(freshness_sql(table), interval.parameters()).to_pylist()[0]
        out[table] = {
            "rows": int(row["row_count"] or 0),
            "latest_event_time": _iso(row["latest_event_time"]),
            "curated_at": _iso(row["curated_at"]),
        }
    return out


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return str(value)


def build_summary(
    result: Answer, sql: str, engine: str, freshness: Mapping[str, Any], run: Mapping[str, Any]
) -> dict[str, Any]:
    interval = result.interval
    return {
        "question": result.question.name,
        "title": result.question.title,
        "interval": {
            "id": interval.id,
            "start": interval.start.isoformat(),
            "end": interval.end.isoformat(),
            "cadence": interval.cadence,
        },
        "engine": engine,
        "query": sql,
        "parameters": {k: _iso(v) for k, v in interval.parameters().items()},
        "row_count": result.table.num_rows,
        "empty": result.table.num_rows == 0,
        "columns": [{"name": f.name, "type": str(f.type)} for f in result.table.schema],
        "duration_seconds": round(result.duration_seconds, 6),
        "input_freshness": dict(freshness),
        "checks": [c.as_dict() for c in result.checks],
        "published_at": datetime.now(UTC).isoformat(),
        "run": dict(run),
    }


def publish(
    store: ReportStore, result: Answer, sql: str, engine: str, freshness: Mapping[str, Any], run: Mapping[str, Any]
) -> PublishedReport:
    """Write the report's files as a new version and make it the published one."""
    summary = build_summary(result, sql, engine, freshness, run)
    files = result_files(result.table)
    files["summary.json"] = summary_json(summary)
    files["report.html"] = report_html(summary, result.table, result.question.chart).encode()
    return store.publish(result.question.name, result.interval.id, files)


def run_reports(
    engine: QueryEngine,
    store: ReportStore,
    questions: Iterable[Question],
    interval: ReportInterval,
    sql_dir: Path,
    run: Mapping[str, Any] | None = None,
) -> list[PublishedReport]:
    """Answer, check and publish every question for one interval.

    Reports whose checks pass are published even if another fails; then, if any failed, raises
    :class:`QualityCheckError` naming every failed check (their previous versions stay published).
    """
    questions = list(questions)
    sources = {q.name: q.sql(sql_dir) for q in questions}
    inputs_of = {name: input_tables(referenced_tables(sql)) for name, sql in sources.items()}
    tables = set().union(*inputs_of.values())
    log.info("interval %s (%s): %d reports on %s", interval.label, interval.cadence, len(questions), engine.name)
    freshness = input_freshness(engine, tables, interval)
    total_rows = sum(f["rows"] for f in freshness.values())
    log.info("inputs: %d curated rows in the interval across %d tables", total_rows, len(freshness))
    published, failures = [], []
    for question in questions:
        result = answer(engine, question, sources[question.name], interval)
        inputs = {t: freshness[t] for t in sorted(inputs_of[question.name]) if t in freshness}
        if result.failed_checks:
            for check in result.failed_checks:
                message = f"report {question.name} for {interval.id}: check {check.check} failed ({check.detail})"
                log.error("%s", message)
                failures.append(message)
            log.error("report %s NOT published; the previous version (if any) stays", question.name)
            continue
        report = publish(store, result, sources[question.name], engine.name, inputs, run or {})
        note = " (empty: no data in the interval)" if result.table.num_rows == 0 else ""
        log.info(
            "published %s: %d rows in %.3f s, %d checks passed, version %s%s",
            question.name,
            result.table.num_rows,
            result.duration_seconds,
            len(result.checks),
            report.version,
            note,
        )
        published.append(report)
    store.rebuild_index()
    if run and run.get("dag_id") and run.get("run_id"):
        store.record_run(str(run["dag_id"]), str(run["run_id"]), published)
    if failures:
        raise QualityCheckError("; ".join(failures))
    return published
