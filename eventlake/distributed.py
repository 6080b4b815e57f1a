"""The distributed profile (docker-compose.yml): its settings, the settings table, and container start-up.

The distributed stack runs the same code as the embedded one; only the values of
:class:`~eventlake.settings.EventlakeSettings` differ. They live in ``docker/distributed.env``, whose
secrets are ``${NAME}`` references filled from the project's ``.env`` by docker-compose.yml.

Commands (``python -m eventlake.distributed COMMAND``):

- ``settings-table``: the Markdown table of every setting, embedded and distributed value.
- ``container-env``: shell ``export`` lines a container's entrypoint evaluates (Airflow and Spark
  configuration derived from the settings); also writes the files they point at.
- ``init``: the compose one-shot before Airflow: Airflow DB migration and the lake's bucket.
- ``secret-names``: the variables docker-compose.yml needs from ``.env`` (for ``.env.example``).
- ``bootstrap``: the compose one-shot once Airflow is up: the embedded stack's bootstrap (unpause the
  DAGs, run the topics and tables DAGs), awaited until those runs succeeded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import SecretStr

from eventlake.settings import REPO_ROOT, EventlakeSettings

DISTRIBUTED_ENV_FILE = REPO_ROOT / "docker" / "distributed.env"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCS_FILE = REPO_ROOT / "docs" / "distributed.md"
#: Every document that embeds the settings table (``settings-table --write`` updates them all).
TABLE_FILES = (REPO_ROOT / "README.md", DOCS_FILE)
TABLE_START = "<!-- settings-table:start (python -m eventlake.distributed settings-table --write) -->\n"
TABLE_END = "<!-- settings-table:end -->\n"
ENV_PREFIX = "EVENTLAKE_"

#: ``${NAME}``, ``${NAME:?message}``, ``${NAME?message}``, ``${NAME:-default}``: Compose's interpolation forms.
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<modifier>:?[?-][^}]*)?\}")

_REFERENCE_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")

_SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


# --- the profile file --------------------------------------------------------------------------------
def read_env_file(path: Path = DISTRIBUTED_ENV_FILE) -> dict[str, str]:
    """``KEY=VALUE`` lines of an env file (comments and blank lines skipped, values taken verbatim)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: not a KEY=VALUE line: {raw!r}")
        values[key.strip()] = value.strip()
    return values


def references(value: str) -> list[str]:
    """Names of the variables a value refers to with ``${...}``."""
    return [match["name"] for match in _REFERENCE.finditer(value)]


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Substitute ``${NAME...}`` references like Compose does; a missing name without default is an error."""

    def substitute(match: re.Match[str]) -> str:
        name, modifier = match["name"], match["modifier"] or ""
        if name in variables and (variables[name] or not modifier.startswith(":")):
            return variables[name]
        if modifier.lstrip(":").startswith("-"):
            return modifier.lstrip(":")[1:]
        raise KeyError(f"${{{name}}} has no value (set {name} in .env)")

    return _REFERENCE.sub(substitute, value)


def secret_names(profile: Mapping[str, str] | None = None) -> list[str]:
    """The variables the distributed profile needs from ``.env`` (sorted)."""
    profile = read_env_file() if profile is None else profile
    return sorted({name for value in profile.values() for name in references(value)})


def compose_variables(compose_file: Path = COMPOSE_FILE) -> list[str]:
    """Every variable docker-compose.yml interpolates from ``.env`` (what ``.env.example`` must list)."""
    import yaml

    text = json.dumps(yaml.safe_load(compose_file.read_text(encoding="utf-8"))).replace("$$", "")
    return sorted(set(_REFERENCE_NAME.findall(text)))


def placeholder_secrets(profile: Mapping[str, str] | None = None) -> dict[str, str]:
    """URL-safe stand-ins for every secret, for docs and static checks (never deployed)."""
    return {name: f"placeholder-{name.lower().replace('_', '-')}" for name in secret_names(profile)}


def distributed_environment(secrets: Mapping[str, str], profile: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``EVENTLAKE_*`` environment of a distributed container, with the secrets filled in."""
    profile = read_env_file() if profile is None else profile
    return {key: interpolate(value, secrets) for key, value in profile.items()}


@contextmanager
def _only_environment(environ: Mapping[str, str]) -> Iterator[None]:
    """Run with exactly ``environ`` as the ``EVENTLAKE_*`` variables of this process."""
    saved = {key: value for key, value in os.environ.items() if key.startswith(ENV_PREFIX)}
    for key in saved:
        del os.environ[key]
    os.environ.update(environ)
    try:
        yield
    finally:
        for key in [key for key in os.environ if key.startswith(ENV_PREFIX)]:
            del os.environ[key]
        os.environ.update(saved)


def load_profile(environ: Mapping[str, str]) -> EventlakeSettings:
    """Settings as a container with exactly ``environ`` reads them: the same class, from the environment."""
    with _only_environment(environ):
        return EventlakeSettings(_env_file=None)  # type: ignore[call-arg]


def load_distributed_settings(secrets: Mapping[str, str] | None = None) -> EventlakeSettings:
    """The distributed profile's settings (placeholder secrets unless given)."""
    profile = read_env_file()
    return load_profile(distributed_environment(placeholder_secrets(profile) if secrets is None else secrets, profile))


def load_embedded_defaults() -> EventlakeSettings:
    """The embedded profile: the settings class's defaults, with no environment and no ``.env``."""
    return load_profile({})


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


# --- the settings table ------------------------------------------------------------------------------
def _display(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Path):
        try:
            return f"<repo>/{value.relative_to(REPO_ROOT)}" if value != REPO_ROOT else "<repo>"
        except ValueError:
            return str(value)
    text = str(value)
    return text if text else "(empty)"


def _cell(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`" if text not in ("(empty)", "(secret)", "(unset)") else text


def settings_table() -> str:
    """Markdown table: every setting with its embedded default and its distributed value."""
    embedded = load_embedded_defaults()
    profile = read_env_file()
    lines = [
        "| Variable | Embedded | Distributed | What it is |",
        "| --- | --- | --- | --- |",
    ]
    for field, info in EventlakeSettings.model_fields.items():
        name = env_name(field)
        distributed = profile.get(name)
        distributed_text = "**missing**" if distributed is None else _cell(distributed or "(empty)")
        description = (info.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | {_cell(_display(getattr(embedded, field)))} | {distributed_text} | {description} |")
    return "\n".join(lines) + "\n"


def write_settings_table(docs: Path = DOCS_FILE) -> bool:
    """Replace the table between the markers in the docs; returns whether the file changed."""
    text = docs.read_text(encoding="utf-8")
    head, start, rest = text.partition(TABLE_START)
    _, end, tail = rest.partition(TABLE_END)
    if not (start and end):
        raise ValueError(f"{docs}: settings table markers not found")
    updated = f"{head}{TABLE_START}{settings_table()}{TABLE_END}{tail}"
    if updated != text:
        docs.write_text(updated, encoding="utf-8")
    return updated != text


# --- container start-up ------------------------------------------------------------------------------
def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def spark_defaults(settings: EventlakeSettings) -> dict[str, str]:
    """``spark-defaults.conf`` of every Spark process: the lake's S3 endpoint (credentials come from env)."""
    conf = {
        "spark.master": settings.spark_master_url,
        "spark.hadoop.hive.metastore.uris": settings.metastore_uri,
        "spark.sql.warehouse.dir": settings.curated_uri,
        "spark.executor.memory": settings.spark_executor_memory,
        "spark.driver.memory": settings.spark_driver_memory,
    }
    if settings.s3_endpoint:
        endpoint = urlparse(settings.s3_endpoint)
        conf |= {
            "spark.hadoop.fs.s3a.endpoint": settings.s3_endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.scheme == "https").lower(),
        }
    return conf


def container_environment(settings: EventlakeSettings) -> dict[str, str]:
    """Airflow, Spark and S3 variables of a distributed container, all derived from the settings."""
    airflow_home = settings.airflow_home
    env = {
        # Airflow: LocalExecutor on PostgreSQL; the tasks reach the api-server by its service name.
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.repo_root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.repo_root / "plugins"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.airflow_parallelism),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__AUTH_MANAGER": _SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": settings.simple_auth_manager_users(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.airflow_url}/execution/",
        "AIRFLOW__API__HOST": "0.0.0.0",  # noqa: S104  (inside its container, published by compose)
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__WORKERS": "2",
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.resolved_airflow_database_url,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.log_dir / "airflow-tasks"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.airflow_log_server_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.airflow_trigger_log_server_port),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"eventlake\..*",
        **settings.airflow_connection_env(),
        # Spark: the image's pyspark is SPARK_HOME; its conf dir is written from the settings.
        "SPARK_HOME": str(_spark_home()),
        "SPARK_CONF_DIR": str(settings.home / "spark-conf"),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    if settings.s3_access_key:
        # Read by s3a (EnvironmentVariableCredentialsProvider) and by pyarrow's S3 file system.
        env["AWS_ACCESS_KEY_ID"] = settings.s3_access_key
        env["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_key.get_secret_value()
        env["AWS_REGION"] = "us-east-1"
    return env


def _write_if_changed(path: Path, content: str, mode: int = 0o644) -> None:
    """Replace ``path`` atomically, and only when its content changes (containers share the volume)."""
    if path.exists() and path.read_text(encoding="utf-8") == content:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_text(content, encoding="utf-8")
    staging.chmod(mode)
    os.replace(staging, path)


def write_container_files(settings: EventlakeSettings, env: Mapping[str, str]) -> None:
    """Files the container environment points at: the Airflow password file and spark-defaults.conf."""
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    _write_if_changed(passwords, settings.simple_auth_manager_passwords(), mode=0o600)
    lines = [f"{key} {value}" for key, value in spark_defaults(settings).items()]
    _write_if_changed(Path(env["SPARK_CONF_DIR"]) / "spark-defaults.conf", "\n".join(lines) + "\n")
    settings.log_dir.mkdir(parents=True, exist_ok=True)


def export_lines(env: Mapping[str, str], already_set: Mapping[str, str]) -> str:
    """``export`` lines for a shell; a variable the container already sets explicitly wins."""
    return "".join(
        f"export {key}={shlex.quote(value)}\n" for key, value in sorted(env.items()) if key not in already_set
    )


# --- the init one-shot -------------------------------------------------------------------------------
def ensure_bucket(settings: EventlakeSettings) -> str:
    """Create the lake's bucket on the object store if it does not exist; returns its name."""
    import pyarrow.fs as pafs

    bucket = urlparse(settings.lake_uri).netloc
    endpoint = urlparse(settings.s3_endpoint)
    fs = pafs.S3FileSystem(
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme or "https",
        region="us-east-1",
        allow_bucket_creation=True,
    )
    if fs.get_file_info(bucket).type == pafs.FileType.NotFound:
        fs.create_dir(bucket)
    return bucket


def run_init(settings: EventlakeSettings) -> None:
    """The compose ``init`` one-shot, before Airflow starts: its metadata DB and the lake's bucket."""
    import subprocess

    print("airflow db migrate", flush=True)
    subprocess.run(["airflow", "db", "migrate"], check=True)
    print(f"bucket: {ensure_bucket(settings)}", flush=True)


def run_bootstrap(settings: EventlakeSettings, *, timeout: float = 1200) -> None:
    """The compose ``bootstrap`` one-shot, once Airflow is up: the embedded stack's bootstrap, awaited.

    Unpauses the platform's DAGs and runs the on-deploy ones (topics, tables) through the REST API,
    exactly as ``python -m eventlake.stack up`` does, then waits until each run has succeeded.
    """
    from eventlake.airflow_client import AirflowClient
    from eventlake.stack.cli import BOOTSTRAP_TRIGGER, BOOTSTRAP_UNPAUSE

    dags_folder = settings.repo_root / "dags"
    present = [dag_id for dag_id in BOOTSTRAP_UNPAUSE if (dags_folder / f"{dag_id}.py").exists()]
    missing = [dag_id for dag_id in BOOTSTRAP_TRIGGER if dag_id not in present]
    if missing:
        raise SystemExit(f"bootstrap DAGs not in {dags_folder}: {missing}")
    password = settings.admin_password.get_secret_value()
    with AirflowClient(settings.airflow_url, settings.admin_username, password) as client:
        client.wait_for_dags(present, timeout=300)
        for dag_id in present:
            client.set_paused(dag_id, False)
        for dag_id in BOOTSTRAP_TRIGGER:
            run_id = client.trigger(dag_id)
            state = client.wait_for_run(dag_id, run_id, timeout=timeout)
            print(f"{dag_id}: {state} ({run_id})", flush=True)
            if state != "success":
                raise SystemExit(f"{dag_id} run {run_id} ended {state}: see its task logs in the Airflow UI")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventlake.distributed", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    table = commands.add_parser("settings-table", help="print the settings table (Markdown)")
    table.add_argument("--write", action="store_true", help="update it between the markers of each --file")
    table.add_argument(
        "--file",
        type=Path,
        action="append",
        help="file to update (repeatable); default: README.md and the distributed doc",
    )
    commands.add_parser("container-env", help="print export lines for a container's entrypoint")
    commands.add_parser("init", help="the compose init one-shot (Airflow DB, bucket)")
    commands.add_parser("bootstrap", help="the compose bootstrap one-shot (unpause DAGs, topics, tables)")
    commands.add_parser("secret-names", help="print the variables docker-compose.yml needs from .env")
    args = parser.parse_args(argv)
    if args.command == "settings-table" and args.write:
        for path in args.file or TABLE_FILES:
            print("updated" if write_settings_table(path) else "up to date", path)
    elif args.command == "settings-table":
        sys.stdout.write(settings_table())
    elif args.command == "secret-names":
        sys.stdout.write("".join(f"{name}\n" for name in compose_variables()))
    else:
        from eventlake.settings import load_settings

        settings = load_settings()
        if args.command == "container-env":
            env = container_environment(settings)
            write_container_files(settings, env)
            sys.stdout.write(export_lines(env, os.environ))
        elif args.command == "init":
            run_init(settings)
        else:
            run_bootstrap(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
