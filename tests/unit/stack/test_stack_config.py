"""The embedded stack's configuration and preflight, without starting anything."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from eventlake.stack import cli
from eventlake.stack.health import CHECKS
from eventlake.stack.services import STACK_MARKER, build_services
from eventlake.stack.supervisor import launch_spec_path, render_config
from eventlake.stack.testing import isolated_settings


def test_every_service_is_a_supervised_program(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    config = render_config(settings)
    for service in build_services(settings):
        assert f"[program:{service.name}]" in config
        spec = json.loads(launch_spec_path(settings, service.name).read_text())
        assert spec["env"][STACK_MARKER] == str(tmp_path.resolve())
        assert spec["env"]["EVENTLAKE_HOME"] == str(tmp_path)
    assert config.count("autorestart=true") == len(build_services(settings))
    assert "killasgroup=true" in config


def test_airflow_log_servers_are_programs_of_their_own_not_children(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    services = {service.name: service for service in build_services(settings)}
    # A scheduler or triggerer killed -9 would orphan a log server it started itself.
    for parent in ("airflow-scheduler", "airflow-triggerer"):
        assert "--skip-serve-logs" in services[parent].command
    for name, port in (
        ("airflow-log-server", settings.airflow_log_server_port),
        ("airflow-trigger-log-server", settings.airflow_trigger_log_server_port),
    ):
        assert services[name].ports == (port,)
        assert services[name].env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == str(port)
    assert set(services) <= set(CHECKS), "every service has a health check"


def test_airflow_gets_connections_and_users_from_the_settings(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, admin_username="boss", viewer_username="reader")
    render_config(settings)
    env = json.loads(launch_spec_path(settings, "airflow-scheduler").read_text())["env"]
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "boss:admin,reader:viewer"
    assert (
        json.loads(env["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]["bootstrap.servers"] == settings.kafka_bootstrap_servers
    )
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(settings.airflow_url)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"


def test_isolated_settings_use_distinct_ports(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    ports = [port for service in build_services(settings) for port in service.ports]
    assert len(ports) == len(set(ports))


def test_a_taken_port_fails_fast_naming_the_service(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", settings.producer_port))
        blocker.listen()
        with pytest.raises(cli.StackError, match=r"(?s)producer: port \d+ is already taken.*fix:"):
            cli.preflight(settings, build_services(settings))


def test_missing_java_fails_fast_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "java_binary", lambda: None)
    with pytest.raises(cli.StackError, match=r"(?s)java: no Java runtime found.*fix: install"):
        cli.preflight(isolated_settings(tmp_path), [])


def test_a_service_that_keeps_dying_fails_fast_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = isolated_settings(tmp_path)
    settings.log_dir.mkdir(parents=True)
    (settings.log_dir / "metastore.log").write_text("boot\nException: port in use\n")
    service = next(s for s in build_services(settings) if s.name == "metastore")

    class DeadSupervisor:
        def processes(self) -> dict:
            return {"metastore": {"statename": "BACKOFF", "spawnerr": "Exited too quickly"}}

    monkeypatch.setattr(cli.health, "check", lambda _settings, _name: (False, "not listening"))
    clock = iter(range(0, 10_000, 10))
    monkeypatch.setattr(cli.time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setattr(cli.time, "sleep", lambda _seconds: None)
    with pytest.raises(cli.StackError, match=r"(?s)metastore: the process keeps exiting.*port in use"):
        cli.wait_healthy(settings, DeadSupervisor(), [service])  # type: ignore[arg-type]


def test_spark_home_links_pyspark_without_its_source_zip(tmp_path: Path) -> None:
    from eventlake.stack.services import prepare_spark_home, pyspark_home, spark_env

    settings = isolated_settings(tmp_path)
    home = prepare_spark_home(settings)
    assert prepare_spark_home(settings) == home  # repeatable
    assert spark_env(settings)["SPARK_HOME"] == str(home)
    for name in ("bin", "sbin", "jars"):
        assert (home / name).resolve() == (pyspark_home() / name).resolve()
    assert (home / "bin" / "spark-submit").exists()
    assert (pyspark_home() / "python" / "lib" / "pyspark.zip").exists()
    assert not (home / "python" / "lib" / "pyspark.zip").exists()
    spark_services = [s for s in build_services(settings) if s.name.startswith("spark-")]
    assert {s.command[0] for s in spark_services} == {str(home / "bin" / "spark-class")}


def test_tests_and_benchmarks_start_the_metastore_as_the_stack_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import xml.etree.ElementTree as ET

    from eventlake.compaction import local_services

    settings = isolated_settings(tmp_path / "stack")
    stack_metastore = {service.name: service for service in build_services(settings)}["metastore"]
    started: list[list[str]] = []

    class StartedError(Exception):
        pass

    def popen(command: list[str], **_: object) -> None:
        started.append(command)
        raise StartedError

    monkeypatch.setattr(subprocess, "Popen", popen)
    home = tmp_path / "throwaway"
    with pytest.raises(StartedError), local_services.hive_metastore(home, 19999):
        pass
    (throwaway,) = started
    # The same JVM options and main class; only the folders and the port differ.
    stack_paths = {str(cli.hive_conf_dir(settings)): "CONF", str(settings.home / "metastore"): "HOME"}
    throwaway_paths = {str(home / "conf"): "CONF", str(home): "HOME"}

    def shape(command: list[str], paths: dict[str, str], port: int) -> list[str]:
        text = " ".join(command).replace(str(port), "PORT")
        for path, name in sorted(paths.items(), key=lambda item: -len(item[0])):
            text = text.replace(path, name)
        return text.split(" ")

    (port,) = stack_metastore.ports
    assert shape(throwaway, throwaway_paths, 19999) == shape(stack_metastore.command, stack_paths, port)

    site = {p.findtext("name"): p.findtext("value") for p in ET.parse(home / "conf" / "hive-site.xml").iter("property")}
    assert site["javax.jdo.option.ConnectionURL"] == f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true"
    assert site["hive.metastore.warehouse.dir"] == (home / "warehouse").as_uri()
    assert site["datanucleus.schema.autoCreateAll"] == "true"
