"""Settings for an isolated embedded stack (tests, drills, benchmarks): own home, free ports."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from pathlib import Path

from eventlake.settings import EventlakeSettings


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    return ports


def isolated_settings(home: Path, **overrides: object) -> EventlakeSettings:
    """Settings of a stack living in ``home`` on free ports, so it never meets a user's stack."""
    (
        kafka,
        storage,
        metastore,
        spark,
        spark_ui,
        worker_ui,
        airflow,
        log_server,
        trigger_log,
        producer,
    ) = free_ports(10)
    values: dict[str, object] = {
        "home": home,
        "kafka_bootstrap_servers": f"127.0.0.1:{kafka}",
        "broker_storage_port": storage,
        "metastore_uri": f"thrift://127.0.0.1:{metastore}",
        "spark_master_url": f"spark://127.0.0.1:{spark}",
        "spark_master_webui_port": spark_ui,
        "spark_worker_webui_port": worker_ui,
        "airflow_port": airflow,
        "airflow_log_server_port": log_server,
        "airflow_trigger_log_server_port": trigger_log,
        "producer_port": producer,
    }
    values.update(overrides)
    return EventlakeSettings(**values)  # type: ignore[arg-type]
