"""The reports app: every route needs an Airflow user allowed to read analytics runs; 404 otherwise."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from eventlake.reports import web
from eventlake.reports.store import ReportStore

INTERVAL = "20261124T0000Z--20261125T0000Z"


class FakeAuthManager:
    def is_authorized_dag(self, *, method, access_entity, details, user) -> bool:
        return method == "GET" and user.role != "nobody" and details.id in web.ANALYTICS_DAG_IDS


@pytest.fixture
def store(tmp_path) -> ReportStore:
    store = ReportStore(tmp_path)
    summary = {
        "title": "Purchases",
        "interval": {"start": "2026-11-24T00:00:00+00:00", "end": "2026-11-25T00:00:00+00:00", "cadence": "daily"},
        "row_count": 1,
        "engine": "duckdb",
        "published_at": "now",
        "run": {"dag_id": "run_analytics_daily", "run_id": "scheduled__2026-11-25"},
    }
    files = {
        "summary.json": json.dumps(summary).encode(),
        "report.html": b"<html>the report</html>",
        "result.csv": b"item,revenue\nsword,12.50\n",
        "result.parquet": b"PAR1",
    }
    published = store.publish("game_purchases_by_item", INTERVAL, files)
    store.rebuild_index()
    store.record_run("run_analytics_daily", "scheduled__2026-11-25T00:00:00+00:00", [published])
    return store


def client(store: ReportStore, role: str | None, monkeypatch) -> TestClient:
    import airflow.api_fastapi.app as airflow_app

    monkeypatch.setattr(airflow_app, "get_auth_manager", lambda: FakeAuthManager())
    app = web.create_app(lambda: store)
    if role is not None:
        app.dependency_overrides[web._airflow_user] = lambda: SimpleNamespace(role=role)
    return TestClient(app)


def test_without_login_every_route_is_401(store, monkeypatch) -> None:
    anonymous = client(store, None, monkeypatch)
    for path in ("/", "/reports/", f"/reports/game_purchases_by_item/{INTERVAL}/", "/runs/run_analytics_daily/x"):
        assert anonymous.get(path).status_code == 401, path


def test_a_user_without_permission_gets_403(store, monkeypatch) -> None:
    assert client(store, "nobody", monkeypatch).get("/").status_code == 403


def test_a_viewer_browses_opens_and_downloads(store, monkeypatch) -> None:
    viewer = client(store, "viewer", monkeypatch)
    index = viewer.get("/")
    assert index.status_code == 200
    assert f"reports/game_purchases_by_item/{INTERVAL}/" in index.text
    assert viewer.get(f"/reports/game_purchases_by_item/{INTERVAL}/").text == "<html>the report</html>"
    csv = viewer.get(f"/reports/game_purchases_by_item/{INTERVAL}/result.csv")
    assert csv.text == "item,revenue\nsword,12.50\n"
    assert csv.headers["content-disposition"].startswith("attachment")
    assert viewer.get(f"/reports/game_purchases_by_item/{INTERVAL}/result.parquet").content == b"PAR1"
    run = viewer.get("/runs/run_analytics_daily/scheduled__2026-11-25T00:00:00+00:00")
    assert run.status_code == 200
    assert f"../../reports/game_purchases_by_item/{INTERVAL}/" in run.text


@pytest.mark.parametrize(
    "path",
    [
        "/reports/nope/",
        f"/reports/nope/{INTERVAL}/",
        "/reports/game_purchases_by_item/20261124T0000Z--20261126T0000Z/",
        f"/reports/game_purchases_by_item/{INTERVAL}/CURRENT",
        f"/reports/game_purchases_by_item/{INTERVAL}/..%2F..%2F..%2Findex.json",
        "/reports/..%2F..%2Fetc/passwd/",
        "/reports/game_purchases_by_item/..%2F..%2Findex.json/result.csv",
        "/runs/run_analytics_daily/no-such-run",
    ],
)
def test_unknown_reports_and_traversal_are_404(store, monkeypatch, path) -> None:
    assert client(store, "viewer", monkeypatch).get(path).status_code == 404
