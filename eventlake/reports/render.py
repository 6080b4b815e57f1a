"""A report's files: Parquet, CSV, JSON summary and a self-contained HTML page with SVG charts."""

from __future__ import annotations

import html
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from eventlake.analytics.questions import Chart

#: Rows shown in the page (the CSV and Parquet hold all of them).
PAGE_ROWS = 200

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2330}
h1{font-size:1.4rem;margin:0 0 .3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem}
th,td{border:1px solid #ccd;padding:.2rem .5rem;text-align:left}
th{background:#eef}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.meta td:first-child{font-weight:600}
.fail{color:#b00020;font-weight:600}.pass{color:#1b7f3b}
.empty{padding:1rem;background:#fff6d6;border:1px solid #e6c200}
nav a{margin-right:1rem}
figure{margin:0}
"""


def result_files(table: pa.Table) -> dict[str, bytes]:
    """The result as Parquet and CSV."""
    parquet = io.BytesIO()
    pq.write_table(table, parquet, compression="zstd")
    csv = io.BytesIO()
    pacsv.write_csv(table, csv)
    return {"result.parquet": parquet.getvalue(), "result.csv": csv.getvalue()}


def summary_json(summary: dict[str, Any]) -> bytes:
    return json.dumps(summary, indent=1, default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value))


def chart_svg(table: pa.Table, chart: Chart, title: str) -> str:
    """The chart as inline SVG (text kept as text, so the numbers on it are searchable)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    # Only what is drawn becomes Python objects: bars show the first rows, lines need three columns.
    drawn = table.select(list(dict.fromkeys(c for c in (chart.x, *chart.y, chart.series) if c)))
    rows = (drawn.slice(0, chart.top) if chart.kind == "bar" else drawn).to_pylist()
    figure, axes = plt.subplots(figsize=(9, 4))
    try:
        if chart.kind == "line":
            _draw_lines(axes, rows, chart)
        else:
            _draw_bars(axes, rows, chart)
        axes.set_title(title)
        axes.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        out = io.StringIO()
        figure.savefig(out, format="svg")
    finally:
        plt.close(figure)
    svg = out.getvalue()
    return svg[svg.index("<svg") :]


def _number(value: Any) -> float:
    return float(value) if value is not None else float("nan")


def _draw_lines(axes: Any, rows: list[dict[str, Any]], chart: Chart) -> None:
    series: dict[str, list[tuple[Any, float]]] = {}
    for row in rows:
        for y in chart.y:
            key = str(row[chart.series]) if chart.series else y
            if chart.series and len(chart.y) > 1:
                key = f"{key} {y}"
            series.setdefault(key, []).append((row[chart.x], _number(row[y])))
    for name, points in sorted(series.items())[: chart.top]:
        points.sort(key=lambda p: p[0])
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="." if len(points) < 60 else None, label=name)
    axes.set_xlabel(chart.x)
    axes.set_ylabel(", ".join(chart.y))
    if series:
        axes.legend(fontsize="x-small", ncol=2)


def _draw_bars(axes: Any, rows: list[dict[str, Any]], chart: Chart) -> None:
    if chart.series:
        labels = [f"{row[chart.series]} {row[chart.x]}" for row in rows]
    else:
        labels = [str(row[chart.x]) for row in rows]
    labels, rows = labels[: chart.top], rows[: chart.top]
    width = 0.8 / max(1, len(chart.y))
    for i, y in enumerate(chart.y):
        positions = [n + i * width for n in range(len(rows))]
        axes.bar(positions, [_number(row[y]) for row in rows], width=width, label=y)
    axes.set_xticks([n + width * (len(chart.y) - 1) / 2 for n in range(len(rows))])
    axes.set_xticklabels(labels, rotation=45 if len(rows) > 6 else 0, ha="right" if len(rows) > 6 else "center")
    axes.tick_params(axis="x", labelsize="small")
    if len(chart.y) > 1:
        axes.legend(fontsize="small")


def _cell(value: Any) -> str:
    if value is None:
        return '<td class="null">NULL</td>'
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return f'<td class="num">{html.escape(str(value))}</td>'
    if isinstance(value, datetime):
        return f"<td>{value:%Y-%m-%d %H:%M:%S}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def table_html(table: pa.Table, limit: int = PAGE_ROWS) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in table.column_names)
    rows = table.slice(0, limit).to_pylist()
    body = "".join("<tr>" + "".join(_cell(v) for v in row.values()) + "</tr>" for row in rows)
    more = (
        f"<p>Showing {limit} of {table.num_rows} rows; download the CSV or Parquet for all.</p>"
        if table.num_rows > limit
        else ""
    )
    return f'<table class="result"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'


def report_html(summary: dict[str, Any], table: pa.Table, chart: Chart | None) -> str:
    """The report page: what was asked, of which interval, the checks, the chart and the table."""
    title = html.escape(summary["title"])
    interval = summary["interval"]
    checks = "".join(
        f'<tr><td>{html.escape(c["check"])}</td><td class="{"pass" if c["passed"] else "fail"}">'
        f"{'passed' if c['passed'] else 'FAILED'}</td><td>{html.escape(c['detail'])}</td></tr>"
        for c in summary["checks"]
    )
    freshness = "".join(
        f"<tr><td>{html.escape(t)}</td><td>{html.escape(str(f.get('latest_event_time') or '-'))}</td>"
        f'<td>{html.escape(str(f.get("curated_at") or "-"))}</td><td class="num">{f.get("rows", 0)}</td></tr>'
        for t, f in sorted(summary.get("input_freshness", {}).items())
    )
    if table.num_rows == 0:
        body = (
            f'<p class="empty" id="empty-report">No data in this interval: the inputs hold no events between '
            f"{html.escape(interval['start'])} and {html.escape(interval['end'])}. The report is empty.</p>"
        )
    else:
        figure = chart_svg(table, chart, summary["title"]) if chart else ""
        body = f'<figure class="chart">{figure}</figure>{table_html(table)}'
    meta = _meta_rows(
        [
            ("Report", summary["question"]),
            ("Interval", f"{interval['start']} .. {interval['end']} ({interval['cadence']})"),
            ("Engine", summary["engine"]),
            ("Rows", str(summary["row_count"])),
            ("Duration", f"{summary['duration_seconds']:.3f} s"),
            ("Published", summary["published_at"]),
            ("Run", f"{summary.get('run', {}).get('dag_id') or '-'} / {summary.get('run', {}).get('run_id') or '-'}"),
        ]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · {html.escape(interval["start"])}</title>
<style>{_STYLE}</style></head><body>
<nav><a href="../../">All reports</a><a href="../">All intervals of this report</a>
<a href="result.csv" download>Download CSV</a><a href="result.parquet" download>Download Parquet</a>
<a href="summary.json">Summary (JSON)</a></nav>
<h1>{title}</h1>
<table class="meta">{meta}</table>
{body}
<h2>Quality checks</h2>
<table class="checks"><thead><tr><th>Check</th><th>Result</th><th>Detail</th></tr></thead>
<tbody>{checks}</tbody></table>
<h2>Input freshness</h2>
<table class="freshness"><thead>
<tr><th>Table</th><th>Latest event time</th><th>Curated at</th><th>Rows</th></tr></thead>
<tbody>{freshness}</tbody></table>
<h2>Query</h2><pre>{html.escape(summary["query"])}</pre>
</body></html>
"""


def _meta_rows(rows: Sequence[tuple[str, str]]) -> str:
    return "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
