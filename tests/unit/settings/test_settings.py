"""The one settings object: read from the environment, documented, and the source of every connection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from eventlake.settings import REPO_ROOT, EventlakeSettings, render_env_example


def test_env_example_lists_every_setting_and_is_up_to_date() -> None:
    committed = (REPO_ROOT / ".env.example").read_text()
    assert committed == render_env_example(), "run `make docs` (python -m eventlake.settings --write-env-example)"
    for name in EventlakeSettings.model_fields:
        assert f"EVENTLAKE_{name.upper()}=" in committed


def test_every_setting_has_a_description() -> None:
    undocumented = [name for name, info in EventlakeSettings.model_fields.items() if not info.description]
    assert not undocumented


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVENTLAKE_KAFKA_BOOTSTRAP_SERVERS", "broker-a:9093")
    monkeypatch.setenv("EVENTLAKE_HOME", str(tmp_path))
    monkeypatch.setenv("EVENTLAKE_KAFKA_PARTITIONS", "6")
    settings = EventlakeSettings()
    assert settings.kafka_bootstrap_servers == "broker-a:9093"
    assert settings.kafka_partitions == 6
    assert settings.lake_uri == (tmp_path / "data").resolve().as_uri()


def test_bad_values_are_rejected_with_the_setting_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLAKE_KAFKA_PARTITIONS", "zero")
    with pytest.raises(ValidationError, match="kafka_partitions"):
        EventlakeSettings()


def test_as_env_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    original = EventlakeSettings(kafka_partitions=5, admin_password="s3cret", producer_port=5055)  # type: ignore[arg-type]
    for key, value in original.as_env().items():
        monkeypatch.setenv(key, value)
    assert EventlakeSettings() == original


def test_airflow_connections_parse_as_airflow_connections() -> None:
    from airflow.models.connection import Connection

    settings = EventlakeSettings(kafka_bootstrap_servers="127.0.0.1:19092", spark_master_url="spark://127.0.0.1:17077")
    connections = {
        conn_id: Connection.from_json(value, conn_id=conn_id)
        for conn_id, value in settings.airflow_connections().items()
    }
    assert connections["kafka_default"].extra_dejson["bootstrap.servers"] == "127.0.0.1:19092"
    assert connections["spark_default"].host == "spark://127.0.0.1"
    assert connections["spark_default"].port == 17077
    assert connections["trino_default"].port == settings.trino_port
    assert json.loads(settings.simple_auth_manager_passwords()) == {
        "admin": "eventlake-admin",
        "viewer": "eventlake-viewer",
    }


@pytest.mark.parametrize(
    ("profile", "setting", "expected"),
    [("embedded", None, False), ("distributed", None, True), ("embedded", True, True), ("distributed", False, False)],
)
def test_producers_are_idempotent_except_against_the_embedded_broker(
    profile: str, setting: bool | None, expected: bool
) -> None:
    # Tansu 0.6 answers a retried batch as a duplicate after a kill -9 it never stored (eventlake.stack.kill_drill).
    settings = EventlakeSettings(profile=profile, producer_idempotence=setting)
    assert settings.producer_idempotent is expected
