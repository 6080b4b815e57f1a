"""Every DAG file imports cleanly, fast, without I/O at import time, and declares owner, tags, retries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
DAG_FILES = sorted(p for p in (REPO_ROOT / "dags").glob("*.py") if not p.name.startswith("_"))

# Runs in a fresh interpreter per DAG file: an audit hook records network, subprocess and
# file-writing I/O while the file is imported (Airflow's own imports are done first, untimed).
PROBE = r"""
import json, sys, time, importlib.util
# Airflow's and the providers' own import cost and start-up probes are not the DAG's.
import airflow.sdk, croniter, platform  # noqa: E401,F401
platform.architecture()
for provider in ("apache.spark.operators.spark_submit", "apache.kafka.operators.produce",
                 "common.sql.operators.sql", "trino.hooks.trino"):
    __import__(f"airflow.providers.{provider}")
events = []
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "subprocess.Popen", "os.system"):
        events.append(f"{event} {args[:2]!r}"[:200])
    elif event == "open" and len(args) > 1 and isinstance(args[1], str) and any(c in args[1] for c in "wax+"):
        events.append(f"open-for-write {args[0]!r}"[:200])
sys.addaudithook(hook)
path = sys.argv[1]
started = time.perf_counter()
from airflow.sdk import DAG
from airflow.sdk.definitions._internal.contextmanager import DagContext
spec = importlib.util.spec_from_file_location("dag_under_test", path)
module = importlib.util.module_from_spec(spec)
sys.modules["dag_under_test"] = module
DagContext.current_autoregister_module_name = "dag_under_test"  # as Airflow's DagBag does
spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
found = {id(d): d for d, _ in DagContext.autoregistered_dags}
found.update({id(v): v for v in vars(module).values() if isinstance(v, DAG)})
dags = list(found.values())
print(json.dumps({
    "elapsed": elapsed,
    "io": events,
    "dags": [
        {
            "dag_id": d.dag_id,
            "tags": sorted(d.tags),
            "owners": sorted({t.owner for t in d.tasks}),
            "retries": sorted({t.retries for t in d.tasks}),
            "tasks": len(d.tasks),
        }
        for d in dags
    ],
}))
"""


def _probe(path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "plugins")])}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, f"{path.name} failed to import:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_there_are_dags() -> None:
    assert DAG_FILES, "dags/ holds no DAG file"


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.stem for p in DAG_FILES])
def test_dag_file_is_clean(path: Path) -> None:
    report = _probe(path)
    assert report["elapsed"] < 2.0, f"{path.name} took {report['elapsed']:.2f}s to import"
    assert not report["io"], f"{path.name} does I/O at import time: {report['io']}"
    assert report["dags"], f"{path.name} defines no DAG"
    assert [d["dag_id"] for d in report["dags"]] == [path.stem], "one DAG per file, dag_id == file name"
    for dag in report["dags"]:
        assert dag["tasks"] > 0
        assert dag["tags"], f"{dag['dag_id']} has no tags"
        assert dag["owners"], f"{dag['dag_id']} has no owner"
        assert "airflow" not in dag["owners"], f"{dag['dag_id']} keeps Airflow's default owner"
        assert min(dag["retries"]) >= 1 or dag["dag_id"] in RETRY_EXEMPT, f"{dag['dag_id']} retries: {dag['retries']}"


#: DAGs whose tasks must not retry automatically, with the reason (none so far).
RETRY_EXEMPT: dict[str, str] = {
    "load_generator": "a retry would send the whole load a second time (demo traffic, not data)",
}
