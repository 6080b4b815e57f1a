"""Health checks of the embedded stack's services: each answers (healthy, detail)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx

from eventlake.settings import EventlakeSettings
from eventlake.stack.services import host_port

Check = Callable[[EventlakeSettings], tuple[bool, str]]


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port (so a service of ours can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_broker_storage(settings: EventlakeSettings) -> tuple[bool, str]:
    """The broker's bucket answers a HEAD (the server is up and has loaded its index)."""
    from eventlake.stack.services import BROKER_BUCKET

    url = f"http://127.0.0.1:{settings.broker_storage_port}/{BROKER_BUCKET}"
    try:
        response = httpx.head(url, timeout=2)
    except httpx.HTTPError as error:
        return False, f"{url}: {error}"
    return response.status_code == 200, f"{url} -> HTTP {response.status_code}"


def check_broker(settings: EventlakeSettings) -> tuple[bool, str]:
    from confluent_kafka.admin import AdminClient

    # log_level 0: a refused connection while the broker starts is expected, not worth a log line.
    admin = AdminClient(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "socket.timeout.ms": 2000, "log_level": 0}
    )
    try:
        metadata = admin.list_topics(timeout=3)
    except Exception as error:  # confluent_kafka raises KafkaException; any failure means unhealthy
        return False, f"{settings.kafka_bootstrap_servers}: {error}"
    return (
        True,
        f"{settings.kafka_bootstrap_servers}: {len(metadata.brokers)} broker(s), {len(metadata.topics)} topic(s)",
    )


def listening(host: str, port: int, name: str) -> tuple[bool, str]:
    """Healthy when something accepts connections on host:port (``name`` says what, in the detail)."""
    if not port_open(host, port):
        return False, f"{name}: not listening"
    return True, f"{name}: listening"


def check_metastore(settings: EventlakeSettings) -> tuple[bool, str]:
    host, port = host_port(settings.metastore_uri, 9083)
    return listening(host, port, settings.metastore_uri)


def _spark_master_state(settings: EventlakeSettings) -> dict[str, object]:
    host, _ = host_port(settings.spark_master_url, 7077)
    return httpx.get(f"http://{host}:{settings.spark_master_webui_port}/json/", timeout=2).json()  # type: ignore[no-any-return]


def check_spark_master(settings: EventlakeSettings) -> tuple[bool, str]:
    try:
        state = _spark_master_state(settings)
    except (httpx.HTTPError, ValueError) as error:
        return False, f"{settings.spark_master_url}: {error}"
    return state.get("status") == "ALIVE", f"{settings.spark_master_url}: {state.get('status')}"


def check_spark_worker(settings: EventlakeSettings) -> tuple[bool, str]:
    try:
        state = _spark_master_state(settings)
    except (httpx.HTTPError, ValueError) as error:
        return False, f"master unreachable: {error}"
    listed = state.get("workers")
    listed = listed if isinstance(listed, list) else []
    workers = [w for w in listed if isinstance(w, dict) and w.get("state") == "ALIVE"]
    cores = sum(int(w.get("cores", 0)) for w in workers)
    return bool(workers), f"{len(workers)} worker(s) alive, {cores} core(s)"


def airflow_health(settings: EventlakeSettings) -> dict[str, dict[str, object]]:
    return httpx.get(f"{settings.airflow_url}/api/v2/monitor/health", timeout=3).json()  # type: ignore[no-any-return]


def _airflow_component(component: str) -> Check:
    def check(settings: EventlakeSettings) -> tuple[bool, str]:
        try:
            health = airflow_health(settings)
        except (httpx.HTTPError, ValueError) as error:
            return False, f"{settings.airflow_url}: {error}"
        status = (health.get(component) or {}).get("status")
        return status == "healthy", f"{component}: {status}"

    return check


def check_airflow_api(settings: EventlakeSettings) -> tuple[bool, str]:
    try:
        health = airflow_health(settings)
    except (httpx.HTTPError, ValueError) as error:
        return False, f"{settings.airflow_url}: {error}"
    status = (health.get("metadatabase") or {}).get("status")
    return status == "healthy", f"{settings.airflow_url} (metadatabase: {status})"


def check_producer(settings: EventlakeSettings) -> tuple[bool, str]:
    url = f"{settings.producer_url}/health"
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError as error:
        return False, f"{url}: {error}"
    return response.status_code == 200, f"{url} -> HTTP {response.status_code}"


CHECKS: dict[str, Check] = {
    "broker-storage": check_broker_storage,
    "broker": check_broker,
    "metastore": check_metastore,
    "spark-master": check_spark_master,
    "spark-worker": check_spark_worker,
    "airflow-api-server": check_airflow_api,
    "airflow-scheduler": _airflow_component("scheduler"),
    "airflow-dag-processor": _airflow_component("dag_processor"),
    "airflow-triggerer": _airflow_component("triggerer"),
    "airflow-log-server": lambda s: listening("127.0.0.1", s.airflow_log_server_port, "airflow log server"),
    "airflow-trigger-log-server": lambda s: listening(
        "127.0.0.1", s.airflow_trigger_log_server_port, "airflow trigger log server"
    ),
    "producer": check_producer,
}


def check(settings: EventlakeSettings, service: str) -> tuple[bool, str]:
    return CHECKS[service](settings)
