"""docker/entrypoint.sh run for real (outside a container): Airflow reads the configuration it derives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventlake.distributed import distributed_environment, placeholder_secrets
from eventlake.settings import REPO_ROOT

ENTRYPOINT = REPO_ROOT / "docker" / "entrypoint.sh"


@pytest.fixture
def container_env(tmp_path: Path) -> dict[str, str]:
    """A distributed container's environment, with its state folder in a temporary directory."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("EVENTLAKE_", "AIRFLOW"))}
    env |= distributed_environment(placeholder_secrets())
    env["EVENTLAKE_HOME"] = str(tmp_path)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(env: dict[str, str], *command: str) -> str:
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), *command], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_airflow_reads_the_derived_configuration(container_env: dict[str, str], tmp_path: Path) -> None:
    # PostgreSQL's driver is in the image (docker/requirements-distributed.txt), not in this venv:
    # point Airflow at SQLite explicitly, which also shows an explicit container variable winning.
    container_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{tmp_path / 'airflow.db'}"
    keys = [
        ("core", "executor"),
        ("core", "execution_api_server_url"),
        ("core", "dags_folder"),
        ("core", "auth_manager"),
        ("core", "simple_auth_manager_users"),
        ("database", "sql_alchemy_conn"),
    ]
    script = f"from airflow.configuration import conf\nfor s, k in {keys!r}:\n    print(conf.get(s, k))"
    out = run(container_env, "python", "-c", script)
    assert out.splitlines()[-6:] == [
        "LocalExecutor",
        "http://airflow-apiserver:8080/execution/",
        "/opt/eventlake/dags",
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "admin:admin,viewer:viewer",
        f"sqlite:///{tmp_path / 'airflow.db'}",
    ]
    passwords = json.loads((tmp_path / "airflow" / "passwords.json").read_text())
    assert passwords == {
        "admin": "placeholder-eventlake-admin-password",
        "viewer": "placeholder-eventlake-viewer-password",
    }
    conf = (tmp_path / "spark-conf" / "spark-defaults.conf").read_text()
    assert "spark.hadoop.fs.s3a.endpoint http://minio:9000" in conf


def test_connections_and_explicit_overrides(container_env: dict[str, str]) -> None:
    container_env["AIRFLOW__CORE__PARALLELISM"] = "3"
    out = run(container_env, "sh", "-c", 'echo "$AIRFLOW_CONN_SPARK_DEFAULT"; echo "$AIRFLOW__CORE__PARALLELISM"')
    spark, parallelism = out.splitlines()[-2:]
    assert json.loads(spark)["host"] == "spark://spark-master"
    assert parallelism == "3", "a variable set on the container wins over the derived one"


def test_a_failing_derivation_stops_the_container(container_env: dict[str, str]) -> None:
    container_env["EVENTLAKE_KAFKA_PARTITIONS"] = "not-a-number"
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "echo", "started"], env=container_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "started" not in result.stdout
