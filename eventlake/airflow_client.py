"""A small client of Airflow 3's REST API (what `make up`'s bootstrap, tests and drills use)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

TERMINAL_STATES = {"success", "failed"}


class AirflowError(RuntimeError):
    """The Airflow REST API answered with an error."""


class AirflowClient:
    """Log in with a user and password (simple auth manager), then call /api/v2."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._username = username
        self._password = password
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- auth ----------------------------------------------------------------------------------------
    def login(self) -> str:
        response = self._http.post("/auth/token", json={"username": self._username, "password": self._password})
        if response.status_code not in (200, 201):
            raise AirflowError(f"login as {self._username!r} failed: HTTP {response.status_code} {response.text[:200]}")
        self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._token is None:
            self.login()
        response = self._http.request(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
        if response.status_code == 401:
            self.login()
            response = self._http.request(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
        if response.status_code >= 400:
            raise AirflowError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    # -- DAGs and runs -------------------------------------------------------------------------------
    def dag_ids(self) -> list[str]:
        return [dag["dag_id"] for dag in self.request("GET", "/api/v2/dags", params={"limit": 500})["dags"]]

    def import_errors(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/v2/importErrors")["import_errors"]  # type: ignore[no-any-return]

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            missing = set(dag_ids) - set(self.dag_ids())
            if not missing:
                return
            if time.monotonic() > deadline:
                errors = "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}" for e in self.import_errors())
                raise AirflowError(f"DAGs not parsed after {timeout:.0f}s: {sorted(missing)}. Import errors: {errors}")
            time.sleep(2)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})

    def trigger(
        self,
        dag_id: str,
        conf: dict[str, Any] | None = None,
        *,
        logical_date: datetime | None = None,
        data_interval: tuple[datetime, datetime] | None = None,
        run_id: str | None = None,
    ) -> str:
        body: dict[str, Any] = {"conf": conf or {}, "logical_date": None}
        if logical_date is not None:
            body["logical_date"] = logical_date.astimezone(UTC).isoformat()
        if data_interval is not None:
            body["data_interval_start"] = data_interval[0].astimezone(UTC).isoformat()
            body["data_interval_end"] = data_interval[1].astimezone(UTC).isoformat()
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]  # type: ignore[no-any-return]

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")  # type: ignore[no-any-return]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]  # type: ignore[no-any-return]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        data = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}")
        content = data.get("content", "")
        if isinstance(content, list):
            return "\n".join(str(item.get("event", item)) if isinstance(item, dict) else str(item) for item in content)
        return str(content)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600, poll: float = 2) -> str:
        """Wait until the run ends; its final state ("success" or "failed")."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.dag_run(dag_id, run_id)["state"]
            if state in TERMINAL_STATES:
                return str(state)
            if time.monotonic() > deadline:
                raise AirflowError(f"{dag_id} run {run_id} still {state} after {timeout:.0f}s")
            time.sleep(poll)

    def run_dag(self, dag_id: str, *, timeout: float = 600, **trigger: Any) -> tuple[str, str]:
        """Unpause and trigger a DAG as a user would, and wait; its run id and final state."""
        self.set_paused(dag_id, False)
        run_id = self.trigger(dag_id, **trigger)
        return run_id, self.wait_for_run(dag_id, run_id, timeout=timeout)

    def failed_task_logs(self, dag_id: str, run_id: str, tail: int = 4000) -> str:
        """The last lines of every task of a run that did not succeed (what a user opens in the UI)."""
        logs = []
        for ti in self.task_instances(dag_id, run_id):
            if ti["state"] not in ("success", "skipped"):
                log = self.task_log(dag_id, run_id, ti["task_id"], max(1, ti.get("try_number") or 1))
                logs.append(f"--- {ti['task_id']} ({ti['state']}) ---\n{log[-tail:]}")
        return "\n".join(logs)
