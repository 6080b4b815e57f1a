"""The compose bootstrap one-shot: the embedded stack's bootstrap DAGs, run through the REST API and awaited."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from eventlake import airflow_client
from eventlake.distributed import load_distributed_settings, run_bootstrap
from eventlake.stack.cli import BOOTSTRAP_TRIGGER, BOOTSTRAP_UNPAUSE

#: One unpause-only DAG left out of the fake repo: the bootstrap handles DAGs that do not exist (yet).
ABSENT = next(dag_id for dag_id in reversed(BOOTSTRAP_UNPAUSE) if dag_id not in BOOTSTRAP_TRIGGER)
PRESENT = tuple(dag_id for dag_id in BOOTSTRAP_UNPAUSE if dag_id != ABSENT)


class FakeAirflow:
    """Records the calls the bootstrap makes; runs end in the states given."""

    calls: ClassVar[list[tuple[Any, ...]]] = []
    final_state = "success"

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.calls.append(("login", base_url, username, password))

    def __enter__(self) -> FakeAirflow:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def wait_for_dags(self, dag_ids: list[str], timeout: float) -> None:
        self.calls.append(("wait_for_dags", tuple(dag_ids)))

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.calls.append(("paused", dag_id, paused))

    def trigger(self, dag_id: str) -> str:
        self.calls.append(("trigger", dag_id))
        return f"manual__{dag_id}"

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        self.calls.append(("wait_for_run", dag_id, run_id))
        return self.final_state


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repo root whose dags/ holds every bootstrap DAG but one unpause-only one."""
    (tmp_path / "dags").mkdir()
    for dag_id in PRESENT:
        (tmp_path / "dags" / f"{dag_id}.py").write_text("")
    FakeAirflow.calls = []
    FakeAirflow.final_state = "success"
    monkeypatch.setattr(airflow_client, "AirflowClient", FakeAirflow)
    return tmp_path


def test_bootstrap_unpauses_present_dags_and_awaits_each_trigger(repo: Path) -> None:
    settings = load_distributed_settings().model_copy(update={"repo_root": repo})
    run_bootstrap(settings)
    calls = FakeAirflow.calls
    assert calls[0] == ("login", "http://airflow-apiserver:8080", "admin", "placeholder-eventlake-admin-password")
    assert calls[1] == ("wait_for_dags", PRESENT)
    assert [c[1] for c in calls if c[0] == "paused"] == list(PRESENT)
    assert all(c[2] is False for c in calls if c[0] == "paused")
    # Each on-deploy DAG is triggered and awaited before the next (topics before tables).
    runs = [c for c in calls if c[0] in ("trigger", "wait_for_run")]
    expected = []
    for dag_id in BOOTSTRAP_TRIGGER:
        expected += [("trigger", dag_id), ("wait_for_run", dag_id, f"manual__{dag_id}")]
    assert runs == expected


def test_bootstrap_fails_when_a_run_fails(repo: Path) -> None:
    FakeAirflow.final_state = "failed"
    settings = load_distributed_settings().model_copy(update={"repo_root": repo})
    with pytest.raises(SystemExit, match=f"{BOOTSTRAP_TRIGGER[0]} run .* ended failed"):
        run_bootstrap(settings)


def test_bootstrap_fails_when_an_on_deploy_dag_is_missing(repo: Path) -> None:
    (repo / "dags" / f"{BOOTSTRAP_TRIGGER[0]}.py").unlink()
    settings = load_distributed_settings().model_copy(update={"repo_root": repo})
    with pytest.raises(SystemExit, match=BOOTSTRAP_TRIGGER[0]):
        run_bootstrap(settings)
    assert FakeAirflow.calls == []
