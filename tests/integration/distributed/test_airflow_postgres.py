"""Airflow's metadata DB as the distributed profile configures it: PostgreSQL through the entrypoint.

Needs a PostgreSQL server (Debian: postgresql) and the image's extra drivers
(docker/requirements-distributed.txt) in this environment; skipped, and reported so, without them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlake.distributed import distributed_environment, placeholder_secrets
from eventlake.settings import REPO_ROOT

pytestmark = pytest.mark.integration

PG_BIN = Path("/usr/lib/postgresql")


def pg_bin() -> Path | None:
    versions = sorted(PG_BIN.glob("*/bin/initdb")) if PG_BIN.exists() else []
    return versions[-1].parent if versions else None


def as_postgres(command: str) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user when we are root."""
    return ["su", "postgres", "-c", command] if os.geteuid() == 0 else ["sh", "-c", command]


@pytest.fixture(scope="module")
def postgres() -> Iterator[int]:
    binaries = pg_bin()
    missing = [name for name in ("psycopg2", "asyncpg") if importlib.util.find_spec(name) is None]
    if binaries is None or missing or (os.geteuid() == 0 and shutil.which("su") is None):
        pytest.skip(f"needs a PostgreSQL server and the drivers {missing or ''} (docker/requirements-distributed.txt)")
    # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="eventlake-pg-"))
    os.chmod(root, 0o777)  # the postgres user writes its data folder here
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = root / "data"
    subprocess.run(
        as_postgres(f"{binaries}/initdb -D {data} -U eventlake --auth=trust > {root}/initdb.log"), check=True
    )
    start = f"{binaries}/pg_ctl -D {data} -o '-p {port} -k {root} -h 127.0.0.1' -l {root}/log -w start"
    subprocess.run(as_postgres(start), check=True)
    try:
        subprocess.run([f"{binaries}/psql", "-h", "127.0.0.1", "-p", str(port), "-U", "eventlake", "-d", "postgres",
                        "-c", "create database airflow"], check=True, capture_output=True)  # fmt: skip
        yield port
    finally:
        subprocess.run(as_postgres(f"{binaries}/pg_ctl -D {data} -m fast -w stop"), check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_airflow_migrates_and_reaches_postgres_with_the_distributed_url(postgres: int, tmp_path: Path) -> None:
    environ = distributed_environment(placeholder_secrets())
    url = environ["EVENTLAKE_AIRFLOW_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg2://eventlake:placeholder-postgres-password@postgres:5432/")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("EVENTLAKE_", "AIRFLOW"))}
    env |= environ
    # Only the host differs from a container: no `postgres` name to resolve here.
    env["EVENTLAKE_AIRFLOW_DATABASE_URL"] = url.replace("@postgres:5432/", f"@127.0.0.1:{postgres}/")
    env["EVENTLAKE_HOME"] = str(tmp_path)
    env["EVENTLAKE_REPO_ROOT"] = str(REPO_ROOT)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    script = "airflow db migrate && airflow db check"
    result = subprocess.run(
        ["sh", str(REPO_ROOT / "docker" / "entrypoint.sh"), "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Database migration done" in output
    assert "Connection successful" in output
