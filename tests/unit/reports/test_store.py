"""The report store: atomic publication, one current version, names that cannot escape the root."""

from __future__ import annotations

import json

import pytest

from eventlake.reports.store import ReportNotFoundError, ReportStore
from eventlake.settings import load_settings

INTERVAL = "20261124T0000Z--20261125T0000Z"


def summary(run_id: str) -> bytes:
    return json.dumps(
        {
            "title": "T",
            "interval": {"start": "2026-11-24T00:00:00+00:00", "end": "2026-11-25T00:00:00+00:00", "cadence": "daily"},
            "row_count": 1,
            "engine": "duckdb",
            "published_at": "now",
            "run": {"dag_id": "run_analytics_daily", "run_id": run_id},
        }
    ).encode()


def test_publish_then_republish_switches_the_current_version(tmp_path) -> None:
    store = ReportStore(tmp_path)
    first = store.publish("q_one", INTERVAL, {"summary.json": summary("a"), "result.csv": b"x\n1\n"})
    assert store.read("q_one", INTERVAL, "result.csv") == b"x\n1\n"
    second = store.publish("q_one", INTERVAL, {"summary.json": summary("b"), "result.csv": b"x\n2\n"})
    assert store.current("q_one", INTERVAL).version == second.version != first.version
    assert store.read("q_one", INTERVAL, "result.csv") == b"x\n2\n"
    assert not any(p.name.startswith(".tmp") for p in (tmp_path / "q_one" / INTERVAL).iterdir())


def test_old_versions_are_pruned_but_the_previous_one_is_kept(tmp_path) -> None:
    store = ReportStore(tmp_path)
    versions = [store.publish("q_one", INTERVAL, {"summary.json": summary(str(n))}).version for n in range(4)]
    on_disk = sorted(p.name for p in (tmp_path / "q_one" / INTERVAL).iterdir() if p.name.startswith("v"))
    assert on_disk == versions[-2:]


def test_index_lists_every_report_with_its_run(tmp_path) -> None:
    store = ReportStore(tmp_path)
    store.publish("q_one", INTERVAL, {"summary.json": summary("a")})
    store.publish("q_two", INTERVAL, {"summary.json": summary("a")})
    entries = store.rebuild_index()
    assert [(e["question"], e["interval_id"], e["run_id"]) for e in entries] == [
        ("q_one", INTERVAL, "a"),
        ("q_two", INTERVAL, "a"),
    ]
    assert json.loads((tmp_path / "index.json").read_text())["reports"] == entries


@pytest.mark.parametrize(
    ("question", "interval", "name"),
    [
        ("..", INTERVAL, "result.csv"),
        ("q_one", "..", "result.csv"),
        ("q_one", INTERVAL, "../../index.json"),
        ("q_one", INTERVAL, "CURRENT"),
        ("q_one", "20261124T0000Z--20261126T0000Z", "result.csv"),
        ("Q_ONE", INTERVAL, "result.csv"),
        ("q_one/../q_one", INTERVAL, "result.csv"),
        ("missing", INTERVAL, "result.csv"),
    ],
)
def test_unknown_names_and_traversal_are_not_found(tmp_path, question, interval, name) -> None:
    store = ReportStore(tmp_path)
    store.publish("q_one", INTERVAL, {"summary.json": summary("a"), "result.csv": b"x\n"})
    with pytest.raises(ReportNotFoundError):
        store.file(question, interval, name)


def test_publish_refuses_bad_names(tmp_path) -> None:
    store = ReportStore(tmp_path)
    with pytest.raises(ValueError, match="report name"):
        store.publish("../evil", INTERVAL, {})
    with pytest.raises(ValueError, match="not report files"):
        store.publish("q_one", INTERVAL, {"../x": b""})


def test_a_store_opens_on_a_file_uri_or_a_plain_path(tmp_path) -> None:
    settings = load_settings(home=tmp_path / "home")
    for where in (tmp_path.as_uri(), str(tmp_path)):
        store = ReportStore.from_uri(where, settings)
        assert store.root == str(tmp_path)
        store.publish("q_one", INTERVAL, {"summary.json": summary("a")})
        assert ReportStore(tmp_path).summary("q_one", INTERVAL)["run"]["run_id"] == "a"
    assert ReportStore.from_settings(settings).uri == settings.resolved_reports_uri


def test_a_crash_before_current_leaves_the_published_version_in_place(tmp_path, monkeypatch) -> None:
    store = ReportStore(tmp_path)
    first = store.publish("q_one", INTERVAL, {"summary.json": summary("a"), "result.csv": b"x\n1\n"})
    written = []

    def crash_on_current(path: str, content: bytes) -> None:
        if path.endswith("/CURRENT"):
            raise OSError("disk gone")
        written.append(path)
        original(path, content)

    original = store._write
    monkeypatch.setattr(store, "_write", crash_on_current)
    with pytest.raises(OSError, match="disk gone"):
        store.publish("q_one", INTERVAL, {"summary.json": summary("b"), "result.csv": b"x\n2\n"})
    assert len(written) == 2, "the new version's files were written before CURRENT"
    assert store.current("q_one", INTERVAL).version == first.version
    assert store.read("q_one", INTERVAL, "result.csv") == b"x\n1\n"


def test_runs_remember_what_they_published(tmp_path) -> None:
    store = ReportStore(tmp_path)
    first = store.publish("q_one", INTERVAL, {"summary.json": summary("a")})
    run_id = "manual__2026-11-24T10:25:14.247989+00:00"
    store.record_run("run_analytics_daily", run_id, [first])
    second = store.publish("q_one", INTERVAL, {"summary.json": summary("a")})
    store.record_run("run_analytics_daily", run_id, [second])
    assert store.run_reports("run_analytics_daily", run_id) == [
        {"question": "q_one", "interval_id": INTERVAL, "version": second.version}
    ]
    with pytest.raises(ReportNotFoundError):
        store.run_reports("run_analytics_daily", "other")
    with pytest.raises(ReportNotFoundError):
        store.run_reports("../..", "../../index")
