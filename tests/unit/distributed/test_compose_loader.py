"""docker/make-env.sh run for real, and the compose file loaded by a Compose implementation (v1, Python)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from eventlake.distributed import COMPOSE_FILE, compose_variables
from eventlake.settings import REPO_ROOT

MAKE_ENV = REPO_ROOT / "docker" / "make-env.sh"


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_make_env_writes_every_variable_compose_needs_and_keeps_existing_ones(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("EVENTLAKE_ADMIN_PASSWORD=chosen-by-me\nOTHER=kept\n")
    subprocess.run(["sh", str(MAKE_ENV), str(env_file)], check=True, capture_output=True)
    first = read_env(env_file)
    assert set(compose_variables()) <= set(first)
    assert first["EVENTLAKE_ADMIN_PASSWORD"] == "chosen-by-me"
    assert first["OTHER"] == "kept"
    assert all(first[name] for name in compose_variables()), "no empty secret"
    assert len(first["POSTGRES_PASSWORD"]) >= 32
    assert first["POSTGRES_PASSWORD"].isalnum(), "it goes into a database URL unquoted"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    # Fernet keys are 32 url-safe base64 bytes (Airflow refuses anything else).
    import base64

    assert len(base64.urlsafe_b64decode(first["AIRFLOW_FERNET_KEY"])) == 32
    # A second run changes nothing.
    subprocess.run(["sh", str(MAKE_ENV), str(env_file)], check=True, capture_output=True)
    assert read_env(env_file) == first


@pytest.fixture
def compose_v1(tmp_path: Path) -> tuple[list[str], Path]:
    """`docker-compose` (Compose v1, Debian's docker-compose package), which knows no top-level `name`."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose (Compose v1, Debian package docker-compose) is not installed")
    copy = tmp_path / "docker-compose.yml"
    copy.write_text("".join(line for line in COMPOSE_FILE.read_text().splitlines(True) if not line.startswith("name:")))
    env_file = tmp_path / ".env"
    subprocess.run(["sh", str(MAKE_ENV), str(env_file)], check=True, capture_output=True)
    return [binary, "--project-directory", str(REPO_ROOT), "-f", str(copy)], env_file


def test_compose_v1_loads_the_file_with_settings_and_secrets(compose_v1: tuple[list[str], Path]) -> None:
    command, env_file = compose_v1
    result = subprocess.run([*command, "--env-file", str(env_file), "config"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    secrets = read_env(env_file)
    scheduler = services["airflow-scheduler"]["environment"]
    assert scheduler["EVENTLAKE_PROFILE"] == "distributed", "docker/distributed.env reaches the containers"
    assert scheduler["EVENTLAKE_S3_SECRET_KEY"] == secrets["MINIO_ROOT_PASSWORD"]
    assert scheduler["AIRFLOW__CORE__FERNET_KEY"] == secrets["AIRFLOW_FERNET_KEY"]
    assert secrets["POSTGRES_PASSWORD"] in scheduler["EVENTLAKE_AIRFLOW_DATABASE_URL"]
    assert services["trino"]["environment"]["EVENTLAKE_S3_ACCESS_KEY"] == secrets["MINIO_ROOT_USER"]


def test_compose_v1_refuses_to_start_without_a_secret(compose_v1: tuple[list[str], Path], tmp_path: Path) -> None:
    command, env_file = compose_v1
    partial = tmp_path / "partial.env"
    partial.write_text("".join(f"{k}={v}\n" for k, v in read_env(env_file).items() if k != "POSTGRES_PASSWORD"))
    result = subprocess.run([*command, "--env-file", str(partial), "config"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr
