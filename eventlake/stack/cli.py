"""`python -m eventlake.stack up|down|status|logs|restart`: the embedded stack's commands.

``make up``, ``make down``, ``make status`` and ``make logs`` call these.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import psutil

from eventlake.settings import EventlakeSettings, load_settings
from eventlake.stack import health
from eventlake.stack.launch import kill_processes
from eventlake.stack.services import (
    STACK_MARKER,
    Service,
    base_env,
    build_services,
    hive_conf_dir,
    hive_site_xml,
    java_binary,
    prepare_spark_home,
    venv_bin,
)
from eventlake.stack.supervisor import Supervisor, config_path, render_config

#: DAGs the bootstrap unpauses (when they exist) and the ones it triggers once, in order.
BOOTSTRAP_TRIGGER = ("kafka_topics", "bootstrap_tables")
BOOTSTRAP_UNPAUSE = (
    "kafka_topics",
    "bootstrap_tables",
    "stream_supervisor",
    "compact_events",
    "run_analytics_hourly",
    "run_analytics_daily",
    "market_quotes",
)


class StackError(RuntimeError):
    """`up` cannot go on: the message names the service, the cause and the fix."""


def say(message: str) -> None:
    print(message, flush=True)


def tail(path: Path, lines: int = 25) -> str:
    try:
        with path.open(errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except FileNotFoundError:
        return f"(no log yet at {path})"


# --- preflight -------------------------------------------------------------------------------------
def preflight(settings: EventlakeSettings, services: list[Service]) -> None:
    """Fail fast, before anything starts, on what would make a service fail later."""
    if java_binary() is None:
        raise StackError(
            "java: no Java runtime found (the metastore and Spark need Java 17).\n"
            "  fix: install it (Debian: `apt-get install -y openjdk-17-jre-headless`) or set JAVA_HOME."
        )
    for service in services:
        for port in service.ports:
            if health.port_free("127.0.0.1", port):
                continue
            owner = port_owner(port)
            raise StackError(
                f"{service.name}: port {port} is already taken{f' by {owner}' if owner else ''}.\n"
                f"  fix: stop that process (a leftover stack? `make down`), or move {service.name} to another "
                f"port with its EVENTLAKE_* setting (see .env.example)."
            )


def port_owner(port: int) -> str | None:
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                process = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({' '.join(process.cmdline())[:120]})"
    except (psutil.Error, OSError):
        return None
    return None


# --- preparation -----------------------------------------------------------------------------------
def prepare(settings: EventlakeSettings) -> None:
    """Folders, generated configs, tools and the Airflow database (each only when needed)."""
    for folder in (
        settings.log_dir,
        settings.run_dir,
        settings.home / "conf",
        hive_conf_dir(settings),
        settings.home / "broker-storage",
        settings.home / "metastore",
        settings.home / "spark" / "work",
        settings.home / "spark" / "tmp",
        settings.log_dir / "spark",
        settings.airflow_home,
    ):
        folder.mkdir(parents=True, exist_ok=True)
    if settings.lake_uri.startswith("file:"):
        Path(settings.lake_uri.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    warehouse = settings.curated_uri
    (hive_conf_dir(settings) / "hive-site.xml").write_text(
        hive_site_xml(settings.home / "metastore" / "metastore_db", warehouse)
    )
    passwords = settings.airflow_home / "passwords.json"
    passwords.write_text(settings.simple_auth_manager_passwords())
    passwords.chmod(0o600)
    prepare_spark_home(settings)
    migrate_airflow_db(settings)


def migrate_airflow_db(settings: EventlakeSettings) -> None:
    import airflow

    from eventlake.stack.services import airflow_env

    database = hashlib.sha256(settings.resolved_airflow_database_url.encode()).hexdigest()[:12]
    marker = settings.airflow_home / f".migrated-{airflow.__version__}-{database}"
    if marker.exists():
        return
    say("  migrating the Airflow metadata database (first start only)...")
    env = {**os.environ, **base_env(settings), **airflow_env(settings)}
    result = subprocess.run(
        [str(venv_bin() / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    (settings.log_dir / "airflow-db-migrate.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise StackError(
            f"airflow: `airflow db migrate` failed (exit {result.returncode}).\n"
            f"  log: {settings.log_dir / 'airflow-db-migrate.log'}\n{result.stderr[-2000:]}"
        )
    marker.write_text("ok\n")


# --- up ----------------------------------------------------------------------------------------------
def wait_healthy(settings: EventlakeSettings, supervisor: Supervisor, services: list[Service]) -> None:
    """Wait for every service's health check, in priority order; fail fast on one that keeps dying."""
    started = time.monotonic()
    pending = {service.name: service for service in services}
    deadlines = {service.name: started + service.start_timeout for service in services}
    not_running_since: dict[str, float] = {}
    last_detail: dict[str, str] = {}
    while pending:
        states = supervisor.processes()
        for name in list(pending):
            state = states.get(name, {})
            statename = state.get("statename", "UNKNOWN")
            if statename in ("BACKOFF", "EXITED", "FATAL"):
                not_running_since.setdefault(name, time.monotonic())
            else:
                not_running_since.pop(name, None)
            ok, detail = health.check(settings, name)
            last_detail[name] = detail
            if ok:
                say(f"  ok   {name:<22} {detail}  ({time.monotonic() - started:.0f}s)")
                del pending[name]
                continue
            keeps_dying = name in not_running_since and time.monotonic() - not_running_since[name] > 15
            if keeps_dying or time.monotonic() > deadlines[name]:
                cause = (
                    f"the process keeps exiting ({statename}: {state.get('spawnerr') or state.get('description')})"
                    if keeps_dying
                    else f"not healthy after {pending[name].start_timeout:.0f}s ({detail})"
                )
                log = settings.log_dir / f"{name}.log"
                raise StackError(
                    f"{name}: {cause}.\n"
                    f"  fix: read its log below ({log}); `make down` then `make up` to retry.\n"
                    f"--- last lines of {log} ---\n{tail(log)}"
                )
        if pending:
            time.sleep(1)


def up(settings: EventlakeSettings, *, bootstrap: bool = True, only: list[str] | None = None) -> None:
    services = [s for s in build_services(settings) if not only or s.name in only]
    supervisor = Supervisor(settings)
    say(f"eventlake: starting the embedded stack in {settings.home}")
    if supervisor.pid() is not None:
        say("  already running: making sure every service is up")
        (config_path(settings)).write_text(render_config(settings, services))
        supervisor.reload()
        for name, info in supervisor.processes().items():
            if info["statename"] not in ("RUNNING", "STARTING", "BACKOFF"):
                supervisor.start(name)
    else:
        leftovers = stack_processes(settings)
        if leftovers:
            say(f"  found {len(leftovers)} process(es) of a previous, broken stack: stopping them")
            kill_processes(leftovers)
        preflight(settings, services)
        prepare(settings)
        config = config_path(settings)
        config.write_text(render_config(settings, services))
        supervisor.start_daemon(config)
    try:
        wait_healthy(settings, supervisor, services)
    except StackError:
        say("  the stack is NOT healthy; stopping what was started")
        down(settings, quiet=True)
        raise
    if bootstrap:
        run_bootstrap(settings)
    print_summary(settings)


def run_bootstrap(settings: EventlakeSettings) -> None:
    """Unpause the platform's DAGs and trigger the on-deploy ones (topics, tables) via the REST API."""
    from eventlake.airflow_client import AirflowClient, AirflowError

    with AirflowClient(
        settings.airflow_url, settings.admin_username, settings.admin_password.get_secret_value()
    ) as client:
        dags_folder = settings.repo_root / "dags"
        present = [name for name in BOOTSTRAP_UNPAUSE if (dags_folder / f"{name}.py").exists()]
        try:
            client.wait_for_dags(present, timeout=90)
        except AirflowError as error:
            raise StackError(f"airflow-dag-processor: {error}") from error
        for dag_id in present:
            client.set_paused(dag_id, False)
        for dag_id in BOOTSTRAP_TRIGGER:
            if dag_id in present:
                run_id = client.trigger(dag_id)
                say(f"  bootstrap: triggered {dag_id} ({run_id})")


def print_summary(settings: EventlakeSettings) -> None:
    say("")
    say("eventlake is up.")
    say(f"  Airflow UI:     {settings.airflow_url}")
    say(f"    admin login:  {settings.admin_username} / {settings.admin_password.get_secret_value()}")
    say(f"    viewer login: {settings.viewer_username} / {settings.viewer_password.get_secret_value()}")
    say(f"  Producer API:   {settings.producer_url}  (OpenAPI: {settings.producer_url}/openapi.json)")
    say(f"  Spark master:   http://127.0.0.1:{settings.spark_master_webui_port}")
    say(f"  Kafka:          {settings.kafka_bootstrap_servers}")
    say(f"  Metastore:      {settings.metastore_uri}")
    say(f"  Lake:           {settings.lake_uri}")
    say(f"  Logs:           {settings.log_dir}   (`make logs`)")
    say("  Stop:           make down")


# --- down --------------------------------------------------------------------------------------------
def stack_processes(settings: EventlakeSettings) -> list[psutil.Process]:
    """Processes this stack started: supervisord marks them (and so their children) with STACK_MARKER."""
    home = str(settings.home.resolve())
    me = os.getpid()
    found = []
    for process in psutil.process_iter(["pid"]):
        if process.pid == me:
            continue
        try:
            if process.environ().get(STACK_MARKER) == home and not _is_ancestor(process, me):
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def _is_ancestor(process: psutil.Process, pid: int) -> bool:
    try:
        return any(parent.pid == process.pid for parent in psutil.Process(pid).parents())
    except psutil.Error:
        return False


def down(settings: EventlakeSettings, *, quiet: bool = False) -> None:
    supervisor = Supervisor(settings)
    if not quiet:
        say(f"eventlake: stopping the embedded stack in {settings.home}")
    supervisor.shutdown()
    # Detached children (the streaming driver the supervisor DAG started, Spark executors).
    leftovers = stack_processes(settings)
    if leftovers:
        kill_processes(leftovers)
    for stale in (settings.run_dir / "supervisor.sock", settings.run_dir / "supervisord.pid"):
        stale.unlink(missing_ok=True)
    if not quiet:
        remaining = stack_processes(settings)
        say("  stopped" if not remaining else f"  WARNING: {len(remaining)} process(es) still running")


# --- status and logs ---------------------------------------------------------------------------------
def status(settings: EventlakeSettings, as_json: bool = False) -> bool:
    supervisor = Supervisor(settings)
    rows = []
    running = supervisor.pid() is not None
    states = supervisor.processes() if running else {}
    for service in build_services(settings):
        info = states.get(service.name, {})
        ok, detail = health.check(settings, service.name) if running else (False, "stack not running")
        rows.append(
            {
                "service": service.name,
                "state": info.get("statename", "STOPPED"),
                "pid": info.get("pid") or None,
                "healthy": ok,
                "detail": detail,
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        say(f"{'service':<22} {'state':<9} {'pid':>7}  health")
        for row in rows:
            mark = "healthy" if row["healthy"] else "DOWN"
            say(f"{row['service']:<22} {row['state']:<9} {row['pid'] or '-':>7}  {mark}: {row['detail']}")
    return all(row["healthy"] for row in rows)


def logs(settings: EventlakeSettings, service: str | None, lines: int, follow: bool) -> None:
    if service:
        path = settings.log_dir / f"{service}.log"
        if follow:
            os.execvp("tail", ["tail", "-n", str(lines), "-F", str(path)])
        say(tail(path, lines))
        return
    say(f"logs are in {settings.log_dir}:")
    for path in sorted(settings.log_dir.glob("*.log")):
        say(f"\n===== {path.name} =====")
        say(tail(path, lines).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventlake.stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start (or repair) the stack and wait until every service is healthy")
    up_parser.add_argument("--no-bootstrap", action="store_true", help="do not unpause/trigger the platform DAGs")
    up_parser.add_argument("--only", help="comma-separated services to run (default: all)")
    commands.add_parser("down", help="stop every process the stack started")
    status_parser = commands.add_parser("status", help="state and health of every service")
    status_parser.add_argument("--json", action="store_true")
    logs_parser = commands.add_parser("logs", help="the last lines of every log (or one service's)")
    logs_parser.add_argument("service", nargs="?")
    logs_parser.add_argument("-n", "--lines", type=int, default=30)
    logs_parser.add_argument("-f", "--follow", action="store_true")
    restart_parser = commands.add_parser("restart", help="restart one service")
    restart_parser.add_argument("service")
    commands.add_parser("config", help="print the generated supervisord.conf")
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        if args.command == "up":
            up(settings, bootstrap=not args.no_bootstrap, only=args.only.split(",") if args.only else None)
        elif args.command == "down":
            down(settings)
        elif args.command == "status":
            return 0 if status(settings, as_json=args.json) else 1
        elif args.command == "logs":
            logs(settings, args.service, args.lines, args.follow)
        elif args.command == "restart":
            Supervisor(settings).restart(args.service)
        elif args.command == "config":
            print(render_config(settings))
    except StackError as error:
        print(f"\neventlake: {error}", file=sys.stderr)
        return 1
    return 0
