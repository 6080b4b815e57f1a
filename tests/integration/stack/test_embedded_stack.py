"""The embedded stack, checked for real: every service does its job, the broker is durable."""

from __future__ import annotations

import os
import signal
import time
import uuid

import httpx
import psutil
import pytest

from eventlake.airflow_client import AirflowClient, AirflowError
from eventlake.settings import EventlakeSettings
from eventlake.stack.cli import status, up
from eventlake.stack.health import check
from eventlake.stack.supervisor import Supervisor

pytestmark = pytest.mark.integration


def _produce(settings: EventlakeSettings, topic: str, count: int, prefix: str = "message") -> list[int]:
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True, "acks": "all"}
    )
    acked: list[int] = []

    def on_delivery(error: object, message: object) -> None:
        if error is None:
            acked.append(message.offset())  # type: ignore[attr-defined]

    for n in range(count):
        producer.produce(topic, key=f"k{n % 7}", value=f"{prefix}-{n}", on_delivery=on_delivery)
    assert producer.flush(30) == 0
    return acked


def _consume_all(settings: EventlakeSettings, topic: str, partitions: int, expected: int) -> list[bytes]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "stack-test", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(values) < expected and time.monotonic() < deadline:
        values += [m.value() for m in consumer.consume(1000, 1.0) if m.error() is None]
    consumer.close()
    return values


def _create_topic(settings: EventlakeSettings, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(15)


def test_every_service_is_up_and_healthy(embedded_stack: EventlakeSettings) -> None:
    assert status(embedded_stack)
    states = Supervisor(embedded_stack).processes()
    assert {info["statename"] for info in states.values()} == {"RUNNING"}


def test_broker_creates_topics_and_round_trips_messages(embedded_stack: EventlakeSettings) -> None:
    topic = f"stack-test-{uuid.uuid4().hex[:8]}"
    _create_topic(embedded_stack, topic, 3)
    acked = _produce(embedded_stack, topic, 500)
    assert len(acked) == 500
    values = _consume_all(embedded_stack, topic, 3, 500)
    assert sorted(values) == sorted(f"message-{n}".encode() for n in range(500))


def test_killed_broker_is_restarted_and_keeps_its_messages(embedded_stack: EventlakeSettings) -> None:
    supervisor = Supervisor(embedded_stack)
    topic = f"durable-{uuid.uuid4().hex[:8]}"
    _create_topic(embedded_stack, topic, 1)
    assert len(_produce(embedded_stack, topic, 2_000)) == 2_000
    old_pid = supervisor.processes()["broker"]["pid"]
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = supervisor.processes()["broker"]
        if info["statename"] == "RUNNING" and info["pid"] not in (0, old_pid):
            break
        time.sleep(0.5)
    else:
        pytest.fail("supervisord did not restart the broker within 30 s")
    values = _consume_all(embedded_stack, topic, 1, 2_000)
    assert len(values) == 2_000
    assert set(values) == {f"message-{n}".encode() for n in range(2_000)}


def _log_servers(settings: EventlakeSettings) -> set[int]:
    """Pids of the Airflow log servers running in this stack's home (they retitle themselves)."""
    found = set()
    home = str(settings.home.resolve())
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if " ".join(process.info["cmdline"] or []).startswith("airflow serve-logs") and process.cwd() == home:
                found.add(process.pid)
        except psutil.Error:
            continue
    return found


def test_killed_scheduler_is_restarted_and_leaves_no_log_server_behind(embedded_stack: EventlakeSettings) -> None:
    supervisor = Supervisor(embedded_stack)
    states = supervisor.processes()
    programs = {states[name]["pid"] for name in ("airflow-log-server", "airflow-trigger-log-server")}
    assert _log_servers(embedded_stack) == programs
    old_pid = states["airflow-scheduler"]["pid"]
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = supervisor.processes()["airflow-scheduler"]
        if (
            info["statename"] == "RUNNING"
            and info["pid"] not in (0, old_pid)
            and check(embedded_stack, info["name"])[0]
        ):
            break
        time.sleep(1)
    else:
        pytest.fail("supervisord did not bring the scheduler back (healthy) within 120 s")
    # The log servers are supervisord's programs, untouched; the killed scheduler had none of its own.
    assert _log_servers(embedded_stack) == programs
    assert {
        supervisor.processes()[name]["pid"] for name in ("airflow-log-server", "airflow-trigger-log-server")
    } == programs


def pyspark_file() -> str:
    import pyspark

    return str(pyspark.__file__)


def test_spark_runs_a_job_on_the_standalone_master_and_uses_the_metastore(embedded_stack: EventlakeSettings) -> None:
    from pyspark.sql import SparkSession

    from eventlake.spark import spark_session

    # Another test module may have left a session on another master: this one must be ours.
    if (active := SparkSession.getActiveSession()) is not None:
        active.stop()
    spark = spark_session(embedded_stack, "stack-test", cores_max=1)
    try:
        assert spark.sparkContext.master == embedded_stack.spark_master_url
        assert spark.range(10_000).selectExpr("sum(id) as total").first()["total"] == sum(range(10_000))
        # Executors' Python workers import the venv's compiled pyspark, not the zip Spark puts first on the path.
        imported = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("pyspark").__file__).collect()
        assert imported == [pyspark_file()], imported
        table = f"stack_test_{uuid.uuid4().hex[:8]}"
        location = f"{embedded_stack.lake_uri}/stack-test/{table}"
        spark.sql("create database if not exists stack_test")
        spark.sql(
            f"create external table stack_test.{table} (id bigint) partitioned by (day string) "
            f"stored as parquet location '{location}'"
        )
        assert table in [row.tableName for row in spark.sql("show tables in stack_test").collect()]
        spark.sql(f"drop table stack_test.{table}")
        assert table not in [row.tableName for row in spark.sql("show tables in stack_test").collect()]
    finally:
        spark.stop()


def test_airflow_login_works_for_both_users_and_lists_dags(embedded_stack: EventlakeSettings) -> None:
    settings = embedded_stack
    for user, password in (
        (settings.admin_username, settings.admin_password),
        (settings.viewer_username, settings.viewer_password),
    ):
        with AirflowClient(settings.airflow_url, user, password.get_secret_value()) as client:
            client.login()
            assert isinstance(client.dag_ids(), list)
    with (
        AirflowClient(settings.airflow_url, settings.admin_username, "not-the-password") as client,
        pytest.raises(AirflowError, match="401"),
    ):
        client.login()


def test_viewer_cannot_change_dags(embedded_stack: EventlakeSettings) -> None:
    settings = embedded_stack
    with AirflowClient(
        settings.airflow_url, settings.viewer_username, settings.viewer_password.get_secret_value()
    ) as c:
        dag_ids = c.dag_ids()
        assert dag_ids, "no DAG parsed"
        with pytest.raises(AirflowError, match="403"):
            c.set_paused(dag_ids[0], False)


def test_producer_health(embedded_stack: EventlakeSettings) -> None:
    response = httpx.get(f"{embedded_stack.producer_url}/health", timeout=5)
    assert response.status_code == 200


def test_up_twice_is_harmless(embedded_stack: EventlakeSettings) -> None:
    before = {name: info["pid"] for name, info in Supervisor(embedded_stack).processes().items()}
    started = time.monotonic()
    up(embedded_stack, bootstrap=False)
    assert time.monotonic() - started < 30
    after = {name: info["pid"] for name, info in Supervisor(embedded_stack).processes().items()}
    assert after == before


def test_messages_written_before_a_broker_kill_survive_writes_after_it(embedded_stack: EventlakeSettings) -> None:
    supervisor = Supervisor(embedded_stack)
    topic = f"durable-writes-{uuid.uuid4().hex[:8]}"
    _create_topic(embedded_stack, topic, 1)
    before = _produce(embedded_stack, topic, 1_000, prefix="before")
    old_pid = supervisor.processes()["broker"]["pid"]
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while supervisor.processes()["broker"]["pid"] in (0, old_pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)
    after = _produce(embedded_stack, topic, 1_000, prefix="after")
    assert min(after) > max(before), f"offsets restarted at {min(after)} after the restart"
    values = _consume_all(embedded_stack, topic, 1, 2_000)
    assert len(set(values)) == 2_000
