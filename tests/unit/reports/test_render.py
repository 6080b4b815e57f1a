"""Report pages: the chart is inline SVG with its labels as text, the table holds the numbers."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from eventlake.analytics.questions import Chart
from eventlake.reports.render import chart_svg, report_html, result_files

SUMMARY = {
    "question": "game_purchases_by_item",
    "title": "Purchases <by> item",
    "interval": {"start": "2026-11-24T00:00:00+00:00", "end": "2026-11-25T00:00:00+00:00", "cadence": "daily"},
    "engine": "duckdb",
    "row_count": 2,
    "duration_seconds": 0.01,
    "published_at": "2026-11-25T00:05:00+00:00",
    "checks": [{"check": "not_null(item)", "passed": True, "detail": "no nulls"}],
    "input_freshness": {"game_item_purchased": {"rows": 3, "latest_event_time": "x", "curated_at": "y"}},
    "query": "select 1 < 2",
    "run": {"dag_id": "run_analytics_daily", "run_id": "r1"},
}
TABLE = pa.table(
    {"item": ["sword", "axe"], "revenue": pa.array([Decimal("12.50"), Decimal("7.25")], pa.decimal128(12, 2))}
)


def test_bar_chart_is_inline_svg_with_text_labels() -> None:
    svg = chart_svg(TABLE, Chart("bar", "item", ("revenue",)), "Revenue")
    assert svg.startswith("<svg")
    assert "sword" in svg
    assert "Revenue" in svg


def test_line_chart_draws_one_line_per_series() -> None:
    table = pa.table({"hour": [0, 1, 0, 1], "events": [1, 2, 3, 4], "event_type": ["a.x", "a.x", "b.y", "b.y"]})
    svg = chart_svg(table, Chart("line", "hour", ("events",), series="event_type"), "Events")
    assert "a.x" in svg
    assert "b.y" in svg


def test_page_has_chart_table_checks_and_escapes_text() -> None:
    page = report_html(SUMMARY, TABLE, Chart("bar", "item", ("revenue",)))
    assert "<svg" in page
    assert "12.50" in page
    assert "7.25" in page
    assert "Purchases &lt;by&gt; item" in page
    assert "select 1 &lt; 2" in page
    assert 'href="result.csv"' in page
    assert 'href="result.parquet"' in page
    assert "not_null(item)" in page
    assert "passed" in page


def test_empty_result_page_says_so_and_draws_no_chart() -> None:
    empty = TABLE.slice(0, 0)
    page = report_html({**SUMMARY, "row_count": 0}, empty, Chart("bar", "item", ("revenue",)))
    assert "No data in this interval" in page
    assert "<svg" not in page


def test_result_files_round_trip() -> None:
    files = result_files(pa.table({"t": [datetime(2026, 11, 24, 1)], "n": [3]}))
    assert pq.read_table(io.BytesIO(files["result.parquet"])).to_pylist() == [{"t": datetime(2026, 11, 24, 1), "n": 3}]
    assert files["result.csv"].decode().splitlines()[0] == '"t","n"'
