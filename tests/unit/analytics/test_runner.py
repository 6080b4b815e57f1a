"""Answer, check, publish: empty intervals, failing checks, reruns and the intervals of a run."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from eventlake.analytics.checks import InRange
from eventlake.analytics.intervals import ReportInterval
from eventlake.analytics.questions import question_by_name, questions_for
from eventlake.analytics.runner import QualityCheckError, run_reports
from eventlake.analytics.tasks import intervals_for_run
from eventlake.reports.store import ReportStore
from eventlake.settings import REPO_ROOT

SQL_DIR = REPO_ROOT / "sql"
DAY = ReportInterval(datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
EMPTY_DAY = ReportInterval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
RUN = {"dag_id": "run_analytics_daily", "run_id": "manual__test"}


def test_every_daily_question_is_published_with_its_files(engine, tmp_path, caplog) -> None:
    store = ReportStore(tmp_path / "reports")
    caplog.set_level("INFO")
    published = run_reports(engine, store, questions_for("daily"), DAY, SQL_DIR, run=RUN)
    assert [p.question for p in published] == [q.name for q in questions_for("daily")]
    for report in published:
        files = store.version_files(report)
        assert set(files) == {"report.html", "summary.json", "result.csv", "result.parquet"}
        summary = json.loads(files["summary.json"])
        assert summary["interval"] == {
            "id": DAY.id,
            "start": DAY.start.isoformat(),
            "end": DAY.end.isoformat(),
            "cadence": "daily",
        }
        assert summary["engine"] == "duckdb"
        assert summary["run"] == RUN
        assert summary["row_count"] > 0
        assert summary["query"].startswith("-- ")
        assert all(c["passed"] for c in summary["checks"])
        assert summary["checks"]
        assert summary["input_freshness"], "every question reads at least one curated table"
    purchases = store.summary("game_purchases_by_item", DAY.id)["input_freshness"]["game_item_purchased"]
    assert purchases["rows"] > 0
    assert purchases["latest_event_time"].startswith("2026-11-24T13:")
    assert b"<svg" in store.read("game_purchases_by_item", DAY.id, "report.html")
    index = store.index()
    assert {(e["question"], e["interval_id"]) for e in index} == {(q.name, DAY.id) for q in questions_for("daily")}
    assert any("published game_purchases_by_item" in r.getMessage() for r in caplog.records)


def test_an_interval_without_data_gives_an_empty_report_that_says_so(engine, tmp_path) -> None:
    store = ReportStore(tmp_path / "reports")
    published = run_reports(engine, store, questions_for("hourly"), EMPTY_DAY, SQL_DIR, run=RUN)
    assert len(published) == len(questions_for("hourly"))
    for report in published:
        files = store.version_files(report)
        summary = json.loads(files["summary.json"])
        assert summary["row_count"] == 0
        assert summary["empty"] is True
        page = files["report.html"].decode()
        assert "No data in this interval" in page


def test_a_failed_check_fails_naming_it_and_keeps_the_previous_report(engine, tmp_path) -> None:
    store = ReportStore(tmp_path / "reports")
    question = question_by_name("game_item_strength")
    first = run_reports(engine, store, [question], DAY, SQL_DIR, run=RUN)[0]
    strict = replace(question, checks=(InRange("avg_strength", 0, 1),))
    other = question_by_name("bank_most_viewed_assets")
    with pytest.raises(
        QualityCheckError, match=r"game_item_strength .*check range\(avg_strength in \[0\.\.1\]\) failed"
    ):
        run_reports(engine, store, [strict, other], DAY, SQL_DIR, run={"dag_id": "x", "run_id": "second"})
    assert store.current(question.name, DAY.id).version == first.version
    assert store.summary(question.name, DAY.id)["run"] == RUN
    # The question whose checks passed was still published.
    assert store.summary(other.name, DAY.id)["run"]["run_id"] == "second"


def test_a_rerun_replaces_the_published_version(engine, tmp_path) -> None:
    store = ReportStore(tmp_path / "reports")
    question = question_by_name("bank_most_viewed_assets")
    first = run_reports(engine, store, [question], DAY, SQL_DIR, run=RUN)[0]
    second = run_reports(engine, store, [question], DAY, SQL_DIR, run=RUN)[0]
    assert second.version > first.version
    assert store.current(question.name, DAY.id).version == second.version
    assert store.version_files(first)["result.csv"] == store.version_files(second)["result.csv"]


def test_intervals_of_a_scheduled_run_are_its_data_interval() -> None:
    got = intervals_for_run("daily", DAY.start, DAY.end, [], datetime(2026, 11, 25, 0, 5, tzinfo=UTC))
    assert got == [DAY]


def test_intervals_of_an_asset_triggered_run_come_from_the_events() -> None:
    extras = [
        {"table": "game_paid", "event_date": "2026-11-24", "event_hour": 13},
        {"table": "bank_deposited", "event_date": "2026-11-24", "event_hour": 13},
        {"table": "game_paid", "event_date": "2026-11-23", "event_hour": 23},
    ]
    hourly = intervals_for_run("hourly", None, None, extras, datetime(2026, 11, 24, 14, 12, tzinfo=UTC))
    assert [i.id for i in hourly] == ["20261123T2300Z--20261124T0000Z", "20261124T1300Z--20261124T1400Z"]
    daily = intervals_for_run("daily", None, None, extras, datetime(2026, 11, 24, 14, 12, tzinfo=UTC))
    assert [i.id for i in daily] == ["20261123T0000Z--20261124T0000Z", DAY.id]


def test_intervals_without_a_data_interval_or_partitions_fall_back_to_the_last_complete_one() -> None:
    got = intervals_for_run("hourly", None, None, [None, {}], datetime(2026, 11, 24, 14, 12, tzinfo=UTC))
    assert [i.id for i in got] == ["20261124T1300Z--20261124T1400Z"]


def test_interval_ids_round_trip_and_reject_anything_else() -> None:
    assert ReportInterval.parse_id(DAY.id) == DAY
    for bad in ("../etc", "20261124T0000Z", "x" * 5):
        with pytest.raises(ValueError, match="not an interval id"):
            ReportInterval.parse_id(bad)
    with pytest.raises(ValueError, match="empty interval"):
        ReportInterval.parse_id("20261124T0000Z--20261124T0000Z")
