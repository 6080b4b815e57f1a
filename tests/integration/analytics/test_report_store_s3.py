"""Reports on object storage: the report store and the plugin's app against a real S3 server.

The server is the project's own S3 object server (``eventlake.stack.object_server``, the embedded
broker's storage) on a free port; the store reaches it through pyarrow's S3 file system with the
settings' endpoint and keys, exactly as the distributed stack reaches MinIO (``s3a://...``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest

from eventlake.analytics.engines import DuckDBEngine
from eventlake.analytics.intervals import ReportInterval
from eventlake.analytics.questions import question_by_name
from eventlake.analytics.runner import run_reports
from eventlake.analytics.synthetic import synthetic_events, write_curated_partition
from eventlake.catalog.derive import get_event_type
from eventlake.lake import HourPartition
from eventlake.reports.store import KEEP_SUPERSEDED, ReportStore
from eventlake.settings import REPO_ROOT, EventlakeSettings, load_settings
from eventlake.stack.testing import free_ports, wait_for_port

pytestmark = pytest.mark.integration

BUCKET = "eventlake"
DAY = ReportInterval(datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))


@pytest.fixture(scope="module")
def object_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The project's S3 server with one bucket, on a free port; yields (port, data directory)."""
    data = tmp_path_factory.mktemp("s3")
    (port,) = free_ports(1)
    command = [sys.executable, "-m", "eventlake.stack.object_server", "--directory", str(data)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--bucket", BUCKET]
    with (data.parent / f"{data.name}.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, 30, server)
        yield port, data
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def s3_settings(object_server, tmp_path: Path) -> EventlakeSettings:
    port, _ = object_server
    return load_settings(
        home=tmp_path / "home",
        reports_uri=f"s3a://{BUCKET}/reports/{tmp_path.name}",
        s3_endpoint=f"http://127.0.0.1:{port}",
        s3_access_key="eventlake",
        s3_secret_key="eventlake",
    )


def test_reports_are_published_replaced_and_indexed_on_s3(s3_settings, tmp_path) -> None:
    store = ReportStore.from_settings(s3_settings)
    assert store.uri.startswith("s3a://")
    assert store.fs.type_name == "s3"
    question = question_by_name("game_purchases_by_item")
    purchases = get_event_type("game.item_purchased")
    hour = HourPartition("2026-11-24", 13)
    events = synthetic_events(purchases, hour, 200, np.random.default_rng(5))
    written = write_curated_partition(tmp_path / "curated", purchases, hour, events)
    engine = DuckDBEngine(lambda table, dates: [written.location] if table == purchases.table else [])
    try:
        versions = [
            run_reports(engine, store, [question], DAY, REPO_ROOT / "sql", run={"dag_id": "d", "run_id": f"r{n}"})[0]
            for n in range(KEEP_SUPERSEDED + 2)
        ]
    finally:
        engine.close()
    assert store.current(question.name, DAY.id).version == versions[-1].version
    assert store.summary(question.name, DAY.id)["run"]["run_id"] == f"r{KEEP_SUPERSEDED + 1}"
    # The oldest version is pruned on S3 too; the newest superseded ones stay for readers still on them.
    remaining = {v.version for v in versions if store.version_files(v)}
    assert remaining == {v.version for v in versions[-(KEEP_SUPERSEDED + 1) :]}
    csv = store.read(question.name, DAY.id, "result.csv").decode()
    assert csv.splitlines()[0] == '"item","item_kind","purchases","revenue"'
    local = tmp_path / "result.parquet"
    local.write_bytes(store.read(question.name, DAY.id, "result.parquet"))
    assert pq.read_table(local).num_rows == len(csv.splitlines()) - 1
    assert sum(pq.read_table(local).column("purchases").to_pylist()) == events.num_rows
    assert [(e["question"], e["interval_id"]) for e in store.index()] == [(question.name, DAY.id)]
    assert store.run_reports("d", "r0")[0]["version"] == versions[0].version
    # Another process (the plugin in the api-server) reads the same objects.
    again = ReportStore.from_uri(s3_settings.resolved_reports_uri, s3_settings)
    assert again.current(question.name, DAY.id) == store.current(question.name, DAY.id)


def test_the_plugin_serves_reports_from_s3(s3_settings, monkeypatch) -> None:
    import airflow.api_fastapi.app as airflow_app
    from fastapi.testclient import TestClient

    from eventlake.reports import web

    store = ReportStore.from_settings(s3_settings)
    summary = {
        "title": "Purchases",
        "interval": {"start": DAY.start.isoformat(), "end": DAY.end.isoformat(), "cadence": "daily"},
        "row_count": 1,
        "engine": "trino",
        "published_at": "now",
        "run": {"dag_id": "run_analytics_daily", "run_id": "scheduled__x"},
    }
    big_csv = b"item,revenue\n" + b"sword,12.50\n" * 200_000  # several chunks: streamed, not read whole
    published = store.publish(
        "game_purchases_by_item",
        DAY.id,
        {"summary.json": json.dumps(summary).encode(), "report.html": b"<h1>Purchases</h1>", "result.csv": big_csv},
    )
    store.rebuild_index()
    store.record_run("run_analytics_daily", "scheduled__x", [published])

    class Reader:
        def is_authorized_dag(self, **_: object) -> bool:
            return True

    monkeypatch.setattr(airflow_app, "get_auth_manager", lambda: Reader())
    app = web.create_app(lambda: store)
    app.dependency_overrides[web._airflow_user] = lambda: SimpleNamespace(role="viewer")
    client = TestClient(app)
    assert f"reports/game_purchases_by_item/{DAY.id}/" in client.get("/").text
    assert client.get(f"/reports/game_purchases_by_item/{DAY.id}/").text == "<h1>Purchases</h1>"
    download = client.get(f"/reports/game_purchases_by_item/{DAY.id}/result.csv")
    assert download.status_code == 200
    assert download.content == big_csv
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["content-type"].startswith("text/csv")
    assert "game_purchases_by_item" in client.get("/runs/run_analytics_daily/scheduled__x").text
    for missing in (
        f"/reports/game_purchases_by_item/{DAY.id}/result.parquet",
        f"/reports/game_purchases_by_item/{DAY.id}/..%2F..%2Findex.json",
        "/reports/game_purchases_by_item/20200101T0000Z--20200102T0000Z/",
    ):
        assert client.get(missing).status_code == 404, missing
