"""Static checks of docker-compose.yml (no Docker engine here): schema, images, health, wiring, ports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from eventlake.distributed import COMPOSE_FILE, compose_variables, references, secret_names

SCHEMA = Path(__file__).with_name("compose-spec.schema.json")
#: A tag that names a version (a digit in it), or a digest; never `latest` or no tag at all.
PINNED_IMAGE = re.compile(r"^[a-z0-9./_-]+(:(?!latest$)[A-Za-z0-9._-]*\d[A-Za-z0-9._-]*)?(@sha256:[0-9a-f]{64})?$")


def one_shots(services: dict[str, dict[str, Any]]) -> set[str]:
    """Services others wait for with service_completed_successfully (the init job)."""
    return {
        name
        for service in services.values()
        for name, condition in (service.get("depends_on") or {}).items()
        if condition.get("condition") == "service_completed_successfully"
    }


def test_compose_file_validates_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(compose)


def test_schema_rejects_a_broken_compose_file(compose: dict[str, Any]) -> None:
    """The schema check can fail: an unknown service key and a malformed depends_on are caught."""
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    broken = json.loads(json.dumps(compose))
    broken["services"]["kafka"]["healtcheck"] = {"test": ["CMD", "true"]}
    assert not validator.is_valid(broken)
    broken = json.loads(json.dumps(compose))
    broken["services"]["init"]["depends_on"] = {"kafka": {"condition": 42}}
    assert not validator.is_valid(broken)


def test_every_service_the_issue_asks_for_exists(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "postgres", "minio", "hive-metastore", "kafka", "kafka-2", "kafka-3", "spark-master", "spark-worker",
        "spark-worker-extra", "trino", "trino-worker", "init", "bootstrap", "airflow-apiserver", "airflow-scheduler",
        "airflow-dag-processor", "airflow-triggerer", "producer", "loadgen",
    }  # fmt: skip
    assert expected <= set(services)


def test_optional_parts_are_behind_profiles(services: dict[str, dict[str, Any]]) -> None:
    profiles = {name: set(service.get("profiles", [])) for name, service in services.items()}
    assert profiles["kafka-2"] == profiles["kafka-3"] == {"kafka-ha"}
    assert profiles["spark-worker-extra"] == {"spark-workers"}
    assert profiles["trino-worker"] == {"trino-workers"}
    assert profiles["loadgen"] == {"loadgen"}
    core = {
        "kafka",
        "spark-master",
        "spark-worker",
        "trino",
        "hive-metastore",
        "minio",
        "postgres",
        "init",
        "bootstrap",
    }
    assert all(not profiles[name] for name in core | {n for n in services if n.startswith("airflow-")})


def test_every_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name}: no image name (a built image must be tagged too)"
        assert (PINNED_IMAGE.match(image) and ":" in image) or "@" in image, f"{name}: unpinned image {image!r}"
        assert not image.endswith(":latest"), name


@pytest.mark.parametrize("image", ["kafka", "apache/kafka:latest", "minio/minio:", "trino:edge"])
def test_the_pin_rule_rejects_unpinned_images(image: str) -> None:
    assert not (PINNED_IMAGE.match(image) and ":" in image and not image.endswith(":latest"))


def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    shots = one_shots(services)
    for name, service in services.items():
        healthcheck = service.get("healthcheck")
        assert healthcheck, f"{name}: no healthcheck"
        if healthcheck.get("disable"):
            assert name in shots, f"{name}: healthcheck disabled but it is not a one-shot"
            assert service.get("restart") == "no", f"{name}: a one-shot must not restart"
        else:
            assert healthcheck["test"][0] in ("CMD", "CMD-SHELL"), name


def test_depends_on_names_existing_services_and_waits_for_health(services: dict[str, dict[str, Any]]) -> None:
    shots = one_shots(services)
    assert shots == {"init", "bootstrap"}
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on must use the long form with a condition"
        for dependency, spec in depends_on.items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            expected = "service_completed_successfully" if dependency in shots else "service_healthy"
            assert spec.get("condition") == expected, f"{name} -> {dependency}: {spec}"
            # A service never waits for an optional one it cannot start without.
            if not service.get("profiles"):
                assert not services[dependency].get("profiles"), f"{name} waits for optional {dependency}"


def test_depends_on_has_no_cycle(services: dict[str, dict[str, Any]]) -> None:
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert state.get(name) != "open", f"cycle: {' -> '.join((*path, name))}"
        if state.get(name) == "done":
            return
        state[name] = "open"
        for dependency in services[name].get("depends_on") or {}:
            visit(dependency, (*path, name))
        state[name] = "done"

    for name in services:
        visit(name, ())


def test_start_order_init_airflow_bootstrap_producer(services: dict[str, dict[str, Any]]) -> None:
    """init (DB, bucket) -> Airflow -> bootstrap (topics, tables) -> producer -> loadgen."""
    assert {"postgres", "minio"} <= set(services["init"]["depends_on"])
    assert "init" in services["hive-metastore"]["depends_on"], "the metastore's warehouse is in the bucket"
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert "init" in services[name]["depends_on"], name
        assert name in services["bootstrap"]["depends_on"]
    # Tasks run in the scheduler: the engines they use are up before it.
    assert {"kafka", "hive-metastore", "trino", "spark-worker"} <= set(services["airflow-scheduler"]["depends_on"])
    assert "bootstrap" in services["producer"]["depends_on"]
    assert "producer" in services["loadgen"]["depends_on"]


def _host_ports(service: dict[str, Any]) -> list[str]:
    published = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            if port.get("published"):
                published.append(str(port["published"]))
            continue
        parts = str(port).split(":")
        if len(parts) >= 2:
            published.append(parts[-2])
    return published


def test_no_two_services_publish_the_same_host_port(services: dict[str, dict[str, Any]]) -> None:
    owner: dict[str, str] = {}
    for name, service in services.items():
        replicas = (service.get("deploy") or {}).get("replicas", 1)
        ports = _host_ports(service)
        assert not (ports and replicas > 1), f"{name}: {replicas} replicas cannot share host ports {ports}"
        for port in ports:
            assert port not in owner, f"host port {port}: {owner[port]} and {name}"
            owner[port] = name
    # The scheduler's log server (8793) stays free on the host, too.
    assert "8793" not in owner


def test_no_secret_is_written_in_the_compose_file(compose_raw: dict[str, Any]) -> None:
    """Every password/secret/key value is a ${...} reference to .env, never a literal."""
    secretish = re.compile(r"(PASSWORD|SECRET|FERNET|ACCESS_KEY)", re.IGNORECASE)

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for child_key, value in node.items():
                walk(value, str(child_key))
        elif isinstance(node, list):
            for value in node:
                walk(value, key)
        elif isinstance(node, str) and secretish.search(key):
            assert references(node), f"{key} has a literal value"
        elif isinstance(node, str) and "ConnectionPassword=" in node:
            assert "ConnectionPassword=${" in node

    walk(compose_raw)


def test_every_variable_compose_needs_is_written_by_make_env(dotenv: dict[str, str]) -> None:
    needed = set(compose_variables())
    assert needed, "the compose file interpolates the secrets from .env"
    assert needed <= set(dotenv), f"not written by docker/make-env.sh: {sorted(needed - set(dotenv))}"
    # The profile's own secret references are among them.
    assert set(secret_names()) <= needed


def test_eventlake_containers_share_one_settings_file_and_secrets(compose_raw: dict[str, Any]) -> None:
    services = compose_raw["services"]
    secrets = compose_raw["x-eventlake-secrets"]
    for name, service in services.items():
        if service["image"].split(":")[0] in ("eventlake", "eventlake-spark"):
            assert service["env_file"] == ["docker/distributed.env"], name
            assert secrets.items() <= service["environment"].items(), name


def test_kafka_has_separate_in_network_and_host_listeners(services: dict[str, dict[str, Any]]) -> None:
    brokers = [services[name] for name in ("kafka", "kafka-2", "kafka-3")]
    node_ids = [broker["environment"]["KAFKA_NODE_ID"] for broker in brokers]
    assert len(set(node_ids)) == 3
    assert len({broker["environment"]["CLUSTER_ID"] for broker in brokers}) == 1
    for name, broker in zip(("kafka", "kafka-2", "kafka-3"), brokers, strict=True):
        env = broker["environment"]
        assert broker["image"].startswith("apache/kafka:")
        assert "controller" in env["KAFKA_PROCESS_ROLES"] or name != "kafka"
        advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
        assert advertised["INTERNAL"] == f"{name}:9092"
        host_port = advertised["EXTERNAL"].rsplit(":", 1)[1]
        assert advertised["EXTERNAL"].startswith("localhost:")
        assert _host_ports(broker) == [host_port]


def test_spark_workers_and_master_use_the_settings(services: dict[str, dict[str, Any]]) -> None:
    worker = " ".join(services["spark-worker"]["command"])
    for variable in ("EVENTLAKE_SPARK_MASTER_URL", "EVENTLAKE_SPARK_WORKER_CORES", "EVENTLAKE_SPARK_WORKER_MEMORY"):
        assert f"${variable}" in worker
    assert services["spark-worker-extra"]["command"] == services["spark-worker"]["command"]


def test_yaml_has_no_duplicate_keys() -> None:
    """PyYAML keeps the last of two equal keys silently; Compose rejects them. Check the raw text."""

    class StrictLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = [
            loader.construct_object(key, deep=deep) for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"
        ]
        duplicates = {key for key in keys if keys.count(key) > 1}
        assert not duplicates, f"duplicate keys {duplicates} at line {node.start_mark.line + 1}"
        return loader.construct_mapping(node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    yaml.load(COMPOSE_FILE.read_text(), Loader=StrictLoader)


def test_healthchecks_that_need_the_derived_configuration_run_through_the_entrypoint(
    services: dict[str, dict[str, Any]],
) -> None:
    """A healthcheck is exec'd directly: it does not inherit what the entrypoint exported."""
    for name, service in services.items():
        test = (service.get("healthcheck") or {}).get("test") or []
        if not test or test[:2] == ["CMD", "/opt/eventlake/docker/entrypoint.sh"]:
            continue
        program = (test[1:] if test[0] == "CMD" else str(test[1]).split())[0]
        assert program not in ("airflow", "python", "spark-submit"), f"{name}: {test}"
