"""The reports browser served inside the Airflow api-server by ``plugins/eventlake_reports``.

Airflow does not authenticate plugin apps: every route here depends on :func:`require_reader`,
which resolves the Airflow user from the UI's session cookie (or a bearer token) exactly as the
api-server does, and asks the auth manager whether that user may read runs of the analytics DAGs.
No login -> 401, a bad token or no permission -> 403, an unknown report, interval, file or any
path that is not one of those -> 404.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse

from eventlake.analytics.tasks import ANALYTICS_DAG_IDS
from eventlake.reports.store import ReportFile, ReportNotFoundError, ReportStore

URL_PREFIX = "/eventlake-reports"
_MEDIA_TYPES = {
    "report.html": "text/html; charset=utf-8",
    "summary.json": "application/json",
    "result.csv": "text/csv; charset=utf-8",
    "result.parquet": "application/vnd.apache.parquet",
}
_CHUNK_BYTES = 1 << 20
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2330}table{border-collapse:collapse}"
    "th,td{border:1px solid #ccd;padding:.2rem .6rem;text-align:left}th{background:#eef}h2{margin-top:1.4rem}"
)


async def _airflow_user(request: Request) -> Any:
    """The Airflow user of the request (cookie or bearer token), as the api-server resolves it."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    return await get_user(request, None, await bearer_scheme(request))


def require_reader(user: Annotated[Any, Depends(_airflow_user)]) -> Any:
    """Allow users who may read runs of an analytics DAG (the viewer role and up)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    manager = get_auth_manager()
    allowed = any(
        manager.is_authorized_dag(
            method="GET", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag), user=user
        )
        for dag in ANALYTICS_DAG_IDS
    )
    if not allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not allowed to read analytics reports")
    return user


@cache
def _store_from_settings() -> ReportStore:
    from eventlake.settings import load_settings

    return ReportStore.from_settings(load_settings())


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no such report: {what}")


def _chunks(reports: ReportStore, found: ReportFile) -> Iterator[bytes]:
    with reports.open(found) as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            yield bytes(chunk)


def create_app(store: Callable[[], ReportStore] = _store_from_settings) -> FastAPI:
    """The FastAPI app (mounted by Airflow under :data:`URL_PREFIX`)."""
    app = FastAPI(title="eventlake reports", dependencies=[Depends(require_reader)], docs_url=None, redoc_url=None)

    def index_page(base: str) -> HTMLResponse:
        entries = store().index()
        by_question: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in entries:
            by_question[entry["question"]].append(entry)
        sections = []
        for question, rows in sorted(by_question.items()):
            items = "".join(
                f'<tr><td><a href="{base}reports/{e["question"]}/{e["interval_id"]}/">'
                f"{html.escape(e['interval_start'])} .. {html.escape(e['interval_end'])}</a></td>"
                f"<td>{html.escape(e['cadence'])}</td><td>{e['rows']}</td><td>{html.escape(e['engine'])}</td>"
                f"<td>{html.escape(e['published_at'])}</td></tr>"
                for e in sorted(rows, key=lambda e: e["interval_start"], reverse=True)
            )
            sections.append(
                f'<h2 id="{question}">{html.escape(rows[0]["title"])} <small>({question})</small></h2>'
                "<table><tr><th>Interval</th><th>Cadence</th><th>Rows</th><th>Engine</th><th>Published</th></tr>"
                f"{items}</table>"
            )
        body = "".join(sections) or "<p>No reports have been published yet.</p>"
        return _page("eventlake reports", f"<h1>eventlake reports</h1><p>{len(entries)} reports.</p>{body}")

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        """Every report and interval."""
        return index_page("")

    @app.get("/reports/", response_class=HTMLResponse)
    def index_under_reports() -> HTMLResponse:
        return index_page("../")

    @app.get("/reports/{question}/", response_class=HTMLResponse)
    def intervals(question: str) -> HTMLResponse:
        """Every published interval of one report."""
        rows = [e for e in store().index() if e["question"] == question]
        if not rows:
            raise _not_found(question)
        items = "".join(
            f'<li><a href="{e["interval_id"]}/">{html.escape(e["interval_start"])} .. '
            f"{html.escape(e['interval_end'])}</a> ({e['cadence']}, {e['rows']} rows)</li>"
            for e in sorted(rows, key=lambda e: e["interval_start"], reverse=True)
        )
        title = rows[0]["title"]
        return _page(title, f'<p><a href="../../">All reports</a></p><h1>{html.escape(title)}</h1><ul>{items}</ul>')

    @app.get("/reports/{question}/{interval_id}/", response_class=HTMLResponse)
    def report(question: str, interval_id: str) -> Response:
        """The report page: chart, table, checks, freshness, downloads."""
        return file(question, interval_id, "report.html")

    @app.get("/reports/{question}/{interval_id}/{name}")
    def file(question: str, interval_id: str, name: str) -> Response:
        """One file of a published report (CSV and Parquet download as attachments)."""
        reports = store()
        try:
            found = reports.file(question, interval_id, name)
        except ReportNotFoundError:
            raise _not_found(f"{question}/{interval_id}/{name}") from None
        attachment = name.startswith("result.")
        filename = f"{question}-{interval_id}-{name}" if attachment else None
        if found.local_path is not None:
            return FileResponse(
                found.local_path,
                media_type=_MEDIA_TYPES[name],
                filename=filename,
                content_disposition_type="attachment" if attachment else "inline",
            )
        headers = {"content-length": str(found.size)}
        if filename:
            headers["content-disposition"] = f'attachment; filename="{filename}"'
        return StreamingResponse(_chunks(reports, found), media_type=_MEDIA_TYPES[name], headers=headers)

    @app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse)
    def run_reports(dag_id: str, run_id: str) -> HTMLResponse:
        """The reports one DAG run published (the tab on runs of the analytics DAGs)."""
        try:
            recorded = store().run_reports(dag_id, run_id)
        except ReportNotFoundError:
            raise _not_found(f"run {dag_id}/{run_id}") from None
        current = {(e["question"], e["interval_id"]): e for e in store().index()}
        items = []
        for r in sorted(recorded, key=lambda r: (r["interval_id"], r["question"])):
            entry = current.get((r["question"], r["interval_id"]))
            if entry is None:
                continue
            note = "" if entry["version"] == r["version"] else " (since replaced by a later run: showing the latest)"
            items.append(
                f'<li><a href="../../reports/{r["question"]}/{r["interval_id"]}/">{html.escape(entry["title"])}</a> '
                f"{html.escape(entry['interval_start'])} .. {html.escape(entry['interval_end'])} "
                f"({entry['rows']} rows){note}</li>"
            )
        if not items:
            raise _not_found(f"run {dag_id}/{run_id}")
        heading = f"Reports of {html.escape(dag_id)} / {html.escape(run_id)}"
        return _page(heading, f'<p><a href="../../">All reports</a></p><h1>{heading}</h1><ul>{"".join(items)}</ul>')

    return app
