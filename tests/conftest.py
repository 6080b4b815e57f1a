"""Shared fixtures: an isolated Airflow home for imports, and the real embedded stack for service tests."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Importing DAG files or Airflow must never touch a user's ~/airflow or a running stack's database.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="eventlake-test-airflow-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).parent.parent / "dags"))
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}")

REPO_ROOT = Path(__file__).resolve().parent.parent
# The end-to-end checks are a helper module, not a test module: without this, a failed assert in them
# says only "AssertionError" (a CI run at 00:05 UTC did), not what differed.
pytest.register_assert_rewrite("e2e_checks")
# Spark's Python workers must run this interpreter (the venv), whichever test starts Spark first.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The embedded stack with default settings, started once per test session; fails on leftover processes."""
    from eventlake.stack.testing import running_stack

    with running_stack(tmp_path_factory.mktemp("stack"), repo_root=REPO_ROOT) as settings:
        yield settings


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite in the test session's Airflow home)."""
    from airflow.utils.db import initdb

    initdb()
    return _AIRFLOW_HOME
