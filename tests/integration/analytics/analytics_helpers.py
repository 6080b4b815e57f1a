"""Helpers of the analytics integration tests: programs of the repo run in their own process."""

from __future__ import annotations

import os
import subprocess
import sys

from eventlake.settings import REPO_ROOT, EventlakeSettings


def run_in_spark(settings: EventlakeSettings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a Python program of the repo with these settings, in its own process (and so its own Spark).

    A Spark session already in the test process (another module's, without Hive support) would
    otherwise be reused by ``getOrCreate``.
    """
    env = {**os.environ, **settings.as_env(), "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def create_lake_tables(settings: EventlakeSettings) -> str:
    """Every lake table in the settings' metastore, by the bootstrap's Spark job (local[1]); its output."""
    return run_in_spark(settings, "spark_jobs/create_tables.py", "--master", "local[1]").stdout
