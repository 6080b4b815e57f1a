"""The distributed profile: complete, loadable by the same settings class, consistent with compose and configs."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from eventlake import distributed
from eventlake.distributed import (
    DISTRIBUTED_ENV_FILE,
    TABLE_END,
    TABLE_FILES,
    TABLE_START,
    container_environment,
    distributed_environment,
    env_name,
    export_lines,
    interpolate,
    load_distributed_settings,
    placeholder_secrets,
    read_env_file,
    references,
    settings_table,
    spark_defaults,
)
from eventlake.settings import REPO_ROOT, EventlakeSettings

TRINO_CATALOG = REPO_ROOT / "docker" / "trino" / "catalog" / "hive.properties"
HIVE_SITE = REPO_ROOT / "docker" / "hive-metastore" / "conf" / "hive-site.xml"


@pytest.fixture(scope="module")
def profile() -> dict[str, str]:
    return read_env_file()


@pytest.fixture(scope="module")
def settings() -> EventlakeSettings:
    return load_distributed_settings()


def _as_env_string(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)


def test_every_setting_has_a_distributed_value(profile: dict[str, str]) -> None:
    """Iterates the settings class, so fields added later must be added to docker/distributed.env too."""
    missing = [env_name(field) for field in EventlakeSettings.model_fields if env_name(field) not in profile]
    assert not missing, f"add to {DISTRIBUTED_ENV_FILE.relative_to(REPO_ROOT)}: {missing}"


def test_the_profile_names_no_unknown_setting(profile: dict[str, str]) -> None:
    known = {env_name(field) for field in EventlakeSettings.model_fields}
    assert set(profile) <= known, f"not settings (typo or removed field): {sorted(set(profile) - known)}"


def test_the_issue_s_distributed_values(settings: EventlakeSettings) -> None:
    assert settings.profile == "distributed"
    assert settings.lake_uri == "s3a://eventlake"
    assert settings.query_engine == "trino"
    assert settings.spark_kafka_connector == "builtin"
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.metastore_uri == "thrift://hive-metastore:9083"
    assert settings.spark_master_url == "spark://spark-master:7077"
    assert settings.resolved_airflow_database_url.startswith("postgresql+psycopg2://eventlake:placeholder-")
    assert settings.producer_idempotent is True


def test_every_value_is_read_back_exactly(profile: dict[str, str], settings: EventlakeSettings) -> None:
    """The class reads each line as written (no value silently ignored, coerced or defaulted)."""
    environ = distributed_environment(placeholder_secrets(profile), profile)
    for field in EventlakeSettings.model_fields:
        written = environ[env_name(field)]
        value = getattr(settings, field)
        read = _as_env_string(value)
        if isinstance(value, bool):
            assert value is (written.lower() in ("1", "true", "yes", "on")), field
        elif isinstance(value, float):
            assert float(read) == float(written), field
        else:
            assert read == written, field


def test_loading_ignores_the_caller_s_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLAKE_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("EVENTLAKE_NOT_A_PROFILE_VALUE", "x")
    assert load_distributed_settings().kafka_bootstrap_servers == "kafka:9092"
    import os

    assert os.environ["EVENTLAKE_KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:1"


def test_secrets_come_from_dotenv_through_compose(profile: dict[str, str], compose_raw: dict[str, Any]) -> None:
    """Lines written ${NAME} in the profile are exactly the ones compose fills from .env, with the same names."""
    secret_lines = {key: value for key, value in profile.items() if references(value)}
    compose_secrets = compose_raw["x-eventlake-secrets"]
    assert set(secret_lines) == set(compose_secrets)
    for key, value in secret_lines.items():
        assert references(value) == references(compose_secrets[key]), key
        assert interpolate(value, dict.fromkeys(references(value), "v")) == interpolate(
            compose_secrets[key], dict.fromkeys(references(value), "v")
        ), key
    secret_fields = {env_name(f) for f, info in EventlakeSettings.model_fields.items() if info.annotation is SecretStr}
    assert secret_fields <= set(secret_lines), "every SecretStr setting is filled from .env"


def test_a_missing_secret_is_an_error(profile: dict[str, str]) -> None:
    secrets = placeholder_secrets(profile)
    del secrets["POSTGRES_PASSWORD"]
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        distributed_environment(secrets, profile)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("${A}", "1"), ("x${A:?msg}y", "x1y"), ("${B:-d}", "d"), ("${A}-${A}", "1-1"), ("plain", "plain")],
)
def test_interpolation_follows_compose(value: str, expected: str) -> None:
    assert interpolate(value, {"A": "1"}) == expected


def test_distributed_settings_give_valid_airflow_connections(
    settings: EventlakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsed by Airflow's own Connection model; each round-trips through its URI form."""
    from airflow.models.connection import Connection

    parsed = {}
    for conn_id, value in settings.airflow_connections().items():
        connection = Connection.from_json(value, conn_id=conn_id)
        again = Connection(conn_id=conn_id, uri=connection.get_uri())
        assert (again.conn_type, again.host or None, again.port, again.extra_dejson) == (
            connection.conn_type,
            connection.host or None,
            connection.port,
            connection.extra_dejson,
        ), conn_id
        parsed[conn_id] = connection
    assert parsed["kafka_default"].conn_type == "kafka"
    assert parsed["kafka_default"].extra_dejson["bootstrap.servers"] == "kafka:9092"
    assert (parsed["trino_default"].conn_type, parsed["trino_default"].host, parsed["trino_default"].port) == (
        "trino",
        "trino",
        8080,
    )
    assert parsed["trino_default"].extra_dejson["catalog"] == settings.trino_catalog
    assert parsed["trino_default"].schema == settings.hive_database

    # The Spark provider turns the connection into the master URL of the cluster.
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    for key, value in settings.airflow_connection_env().items():
        monkeypatch.setenv(key, value)
    hook = SparkSubmitHook(conn_id="spark_default")
    assert hook._connection["master"] == settings.spark_master_url
    assert hook._connection["deploy_mode"] == "client"

    # The Trino provider builds the client connection the analytics engine queries through (lazy: no I/O).
    from airflow.providers.trino.hooks.trino import TrinoHook

    trino = TrinoHook(trino_conn_id="trino_default").get_conn()
    assert (trino.host, trino.port, trino.http_scheme) == ("trino", 8080, "http")
    assert (trino.user, trino.catalog, trino.schema) == ("eventlake", "hive", "eventlake")

    # The Kafka provider's hooks read the librdkafka configuration from the connection's extra.
    from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

    kafka = KafkaAdminClientHook(kafka_config_id="kafka_default").get_connection("kafka_default")
    assert kafka.extra_dejson["bootstrap.servers"] == settings.kafka_bootstrap_servers


def _properties(path: Path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_trino_catalog_points_at_the_metastore_and_the_lake_storage(
    settings: EventlakeSettings, compose_raw: dict[str, Any]
) -> None:
    catalog = _properties(TRINO_CATALOG)
    assert TRINO_CATALOG.stem == settings.trino_catalog
    assert catalog["connector.name"] == "hive"
    assert catalog["hive.metastore.uri"] == settings.metastore_uri
    assert catalog["s3.endpoint"] == settings.s3_endpoint
    assert catalog["s3.path-style-access"] == "true"
    # The keys are the lake's: the variables Trino's container gets from the same .env entries.
    trino_env = compose_raw["services"]["trino"]["environment"]
    secrets = compose_raw["x-eventlake-secrets"]
    for prop, setting in (
        ("s3.aws-access-key", "EVENTLAKE_S3_ACCESS_KEY"),
        ("s3.aws-secret-key", "EVENTLAKE_S3_SECRET_KEY"),
    ):
        variable = catalog[prop].removeprefix("${ENV:").removesuffix("}")
        assert references(trino_env[variable]) == references(secrets[setting]), prop
    # Every Trino service mounts this catalog file.
    for name in ("trino", "trino-worker"):
        mounts = compose_raw["services"][name]["volumes"]
        assert f"./{TRINO_CATALOG.relative_to(REPO_ROOT)}:/etc/trino/catalog/hive.properties:ro" in mounts


def test_metastore_uses_the_same_storage_and_database(settings: EventlakeSettings, compose_raw: dict[str, Any]) -> None:
    site = {prop.findtext("name"): prop.findtext("value") for prop in ET.parse(HIVE_SITE).getroot().iter("property")}
    assert site["fs.s3a.endpoint"] == settings.s3_endpoint
    assert site["hive.metastore.warehouse.dir"].startswith(settings.lake_uri + "/")
    assert settings.metastore_uri.endswith(":" + site["metastore.thrift.port"])
    metastore = compose_raw["services"]["hive-metastore"]
    assert "jdbc:postgresql://postgres:5432/metastore" in metastore["environment"]["SERVICE_OPTS"]
    assert references(metastore["environment"]["AWS_ACCESS_KEY_ID"]) == ["MINIO_ROOT_USER"]
    init_sql = (REPO_ROOT / "docker" / "postgres" / "init-databases.sql").read_text().lower()
    assert "create database metastore" in init_sql


def test_service_names_in_the_profile_exist_in_compose(
    settings: EventlakeSettings, compose_raw: dict[str, Any]
) -> None:
    from urllib.parse import urlparse

    services = compose_raw["services"]
    hosts = {
        "kafka": settings.kafka_bootstrap_servers.split(":")[0],
        "metastore": urlparse(settings.metastore_uri).hostname,
        "spark": urlparse(settings.spark_master_url).hostname,
        "s3": urlparse(settings.s3_endpoint).hostname,
        "trino": settings.trino_host,
        "airflow": settings.airflow_host,
        "producer": settings.producer_host,
    }
    for what, host in hosts.items():
        assert host in services, f"{what}: {host} is not a compose service"


def test_container_environment_is_derived_from_the_settings(settings: EventlakeSettings) -> None:
    env = container_environment(settings)
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == settings.airflow_database_url
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/eventlake/dags"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin,viewer:viewer"
    assert json.loads(env["AIRFLOW_CONN_TRINO_DEFAULT"])["host"] == "trino"
    assert env["AWS_ACCESS_KEY_ID"] == settings.s3_access_key
    # Spark must not be pinned to loopback in a container: executors connect back to the driver.
    assert "SPARK_LOCAL_IP" not in env
    conf = spark_defaults(settings)
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://minio:9000"
    assert conf["spark.master"] == settings.spark_master_url
    assert not any("secret" in key.lower() or "access.key" in key for key in conf), "keys come from AWS_* env"


def test_explicit_container_variables_win_over_derived_ones() -> None:
    lines = export_lines({"A": "derived", "B": "it's"}, {"A": "explicit"})
    assert lines == "export B='it'\"'\"'s'\n"


def test_write_container_files(tmp_path: Path, settings: EventlakeSettings) -> None:
    local = settings.model_copy(update={"home": tmp_path})
    env = container_environment(local)
    distributed.write_container_files(local, env)
    passwords = json.loads((tmp_path / "airflow" / "passwords.json").read_text())
    assert passwords["admin"] == local.admin_password.get_secret_value()
    assert oct((tmp_path / "airflow" / "passwords.json").stat().st_mode & 0o777) == "0o600"
    assert (
        "spark.hadoop.fs.s3a.endpoint http://minio:9000"
        in (tmp_path / "spark-conf" / "spark-defaults.conf").read_text()
    )


@pytest.mark.parametrize("document", TABLE_FILES, ids=lambda path: path.name)
def test_docs_settings_table_is_current(document: Path) -> None:
    """README.md and docs/distributed.md embed the generated table (`settings-table --write` writes both)."""
    assert f"{TABLE_START}{settings_table()}{TABLE_END}" in document.read_text(), (
        "run `make docs` (python -m eventlake.distributed settings-table --write)"
    )


def test_write_settings_table_replaces_only_the_table(tmp_path: Path) -> None:
    docs = tmp_path / "doc.md"
    docs.write_text(f"# head\n{TABLE_START}| old |\n{TABLE_END}tail\n")
    assert distributed.write_settings_table(docs)
    assert docs.read_text() == f"# head\n{TABLE_START}{settings_table()}{TABLE_END}tail\n"
    assert not distributed.write_settings_table(docs)


def test_settings_table_lists_every_setting() -> None:
    table = settings_table()
    for field in EventlakeSettings.model_fields:
        assert f"| `{env_name(field)}` |" in table
    assert "**missing**" not in table
    assert "placeholder" not in table


def test_spark_drivers_of_the_platform_advertise_a_routable_address(settings: EventlakeSettings) -> None:
    """Drivers run in the scheduler container: pinning them to loopback would strand the executors."""
    from eventlake.compaction.runner import SPARK_CONF
    from eventlake.streaming.supervisor import spark_submit_command

    pinned = ("spark.driver.host", "spark.driver.bindAddress")
    stream = " ".join(spark_submit_command(settings))
    assert not any(key in stream for key in pinned)
    assert not any(key in SPARK_CONF for key in pinned)
    assert not any(key in spark_defaults(settings) for key in pinned)
    assert "SPARK_LOCAL_IP" not in container_environment(settings)
    assert settings.spark_driver_host == ""


def test_container_files_are_rewritten_only_when_they_change(tmp_path: Path, settings: EventlakeSettings) -> None:
    local = settings.model_copy(update={"home": tmp_path})
    env = container_environment(local)
    distributed.write_container_files(local, env)
    passwords = tmp_path / "airflow" / "passwords.json"
    before = passwords.stat().st_mtime_ns
    time.sleep(0.01)
    distributed.write_container_files(local, env)
    assert passwords.stat().st_mtime_ns == before
    changed = local.model_copy(update={"admin_password": SecretStr("rotated-password")})
    distributed.write_container_files(changed, env)
    assert json.loads(passwords.read_text())["admin"] == "rotated-password"
    assert not list(passwords.parent.glob(".*.tmp"))
