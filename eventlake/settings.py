"""One typed settings object for every host, port, path and credential of the platform.

Read from the environment (prefix ``EVENTLAKE_``, plus an optional ``.env`` file) once, at the edge
(a CLI, a DAG task, a Spark job's ``main()``, the producer's app factory), and passed down. The
embedded and distributed stacks differ only in these values.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, computed_field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from eventlake.streaming import READ_CONSUMERS

REPO_ROOT = Path(__file__).resolve().parent.parent


#: (workers, threads per worker) of each producer server when the settings leave them unset: the
#: figures measured best on 2 cores (see the settings' descriptions and benchmarks/bench_producer.py).
PRODUCER_SERVER_DEFAULTS: dict[str, tuple[int, int]] = {"granian": (2, 32), "gunicorn": (2, 8)}


class EventlakeSettings(BaseSettings):
    """Every setting of the platform. Field docs are the settings table in the README."""

    model_config = SettingsConfigDict(
        env_prefix="EVENTLAKE_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # --- profile and local state ---------------------------------------------------------------
    profile: Literal["embedded", "distributed"] = Field("embedded", description="Which stack these settings describe.")
    home: Path = Field(
        REPO_ROOT / "var", description="State folder of the embedded stack (data, logs, pids, Airflow home)."
    )
    repo_root: Path = Field(REPO_ROOT, description="Where dags/, plugins/, spark_jobs/ and sql/ live.")

    # --- storage ---------------------------------------------------------------------------------
    data_uri: str = Field(
        "",
        description="Root of the lake: landing zone, curated tables, checkpoints. "
        "Empty = file://HOME/data (embedded); s3a://eventlake (distributed).",
    )
    reports_uri: str = Field("", description="Where reports are stored. Empty = DATA_URI/reports.")
    s3_endpoint: str = Field("", description="S3 endpoint for the lake (distributed: MinIO). Empty = local files.")
    s3_access_key: str = Field("", description="S3 access key for the lake.")
    s3_secret_key: SecretStr = Field(SecretStr(""), description="S3 secret key for the lake.")

    # --- Kafka -----------------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    kafka_partitions: int = Field(3, ge=1, description="Partitions per event topic.")
    kafka_replication: int = Field(1, ge=1, description="Replication factor per topic.")
    kafka_retention_ms: int = Field(7 * 24 * 3600 * 1000, description="Topic retention (ms).")
    kafka_topic_prefix: str = Field("eventlake.", description="Prefix of every topic name.")
    broker_storage_port: int = Field(
        4568, description="Embedded only: port of the local disk-backed S3 server behind the broker."
    )
    broker_storage_fsync: bool = Field(
        False,
        description="Embedded only: fsync every broker write (acknowledged events then survive a power loss, "
        "not only a crash of the broker or its storage; slower).",
    )
    broker_trim_landed_after_seconds: int = Field(
        10,
        ge=0,
        description="Embedded only: the stream deletes the broker's record batches it has landed once they "
        "are this old (Tansu applies no retention on its storage and lists every stored batch of a partition "
        "on each fetch, so an untrimmed log slows every read; eventlake.broker_log). 0 = keep everything.",
    )

    # --- Hive Metastore --------------------------------------------------------------------------
    metastore_uri: str = Field("thrift://127.0.0.1:9083", description="Hive Metastore thrift URI.")
    hive_database: str = Field("eventlake", description="Metastore database of the curated tables.")

    # --- Spark -----------------------------------------------------------------------------------
    spark_master_url: str = Field("spark://127.0.0.1:7077", description="Spark master URL.")
    spark_master_webui_port: int = Field(8090, description="Spark master web UI port.")
    spark_worker_cores: int = Field(2, ge=1, description="Embedded: cores of the one Spark worker.")
    spark_worker_memory: str = Field("6g", description="Embedded: memory of the one Spark worker.")
    spark_worker_webui_port: int = Field(8091, description="Spark worker web UI port.")
    spark_stream_cores_max: int = Field(1, ge=1, description="Cores the streaming job may take.")
    spark_batch_cores_max: int = Field(1, ge=1, description="Cores a batch (compaction) job may take.")
    spark_executor_memory: str = Field("2g", description="Executor memory per Spark app.")
    spark_driver_memory: str = Field("2g", description="Driver memory per Spark app.")
    spark_driver_host: str = Field(
        "127.0.0.1",
        description="Address a Spark driver binds and advertises to executors. Empty = Spark's default "
        "(the host's own address; distributed: the driver's container, reachable from the workers).",
    )
    spark_kafka_connector: Literal["auto", "builtin", "python"] = Field(
        "auto",
        description="Kafka source of the stream: Spark's connector jar (builtin), the Python data "
        "source (python), or builtin when its jar is on the classpath (auto).",
    )

    # --- streaming -------------------------------------------------------------------------------
    stream_trigger_seconds: float = Field(2.0, description="Micro-batch trigger interval of the stream.")
    stream_max_offsets_per_trigger: int = Field(500_000, description="Upper bound of rows per micro-batch.")
    stream_read_consumers: int = Field(
        READ_CONSUMERS,
        ge=1,
        description="Broker connections each stream task reads its partitions with, side by side (Python source).",
    )
    stream_stall_seconds: int = Field(120, description="No progress this long while lag > 0 = stalled.")
    stream_restart_backoff_seconds: int = Field(30, description="First restart backoff; doubles per restart.")

    # --- compaction ------------------------------------------------------------------------------
    compaction_target_file_bytes: int = Field(128 * 1024 * 1024, description="Target size of a curated file.")
    compaction_min_input_files: int = Field(
        1, description="Rewrite a partition only if it has at least this many new landed files."
    )
    compaction_engine: Literal["auto", "duckdb", "spark"] = Field(
        "auto",
        description="What merges a partition's rows in the Spark job: DuckDB in one task per core (duckdb; "
        "local lakes), the Spark transform (spark), or duckdb on a local lake and spark on object storage (auto).",
    )
    compaction_lateness_grace_minutes: int = Field(
        10, description="An hour is compacted once it ended at least this long ago."
    )
    compaction_version_grace_minutes: int = Field(
        60, description="Superseded curated versions are deleted after this (> the longest query)."
    )
    landing_retention_hours: int = Field(48, description="Compacted landing data is deleted after this.")

    # --- query engine and reports ----------------------------------------------------------------
    query_engine: Literal["duckdb", "trino"] = Field("duckdb", description="Engine of the analytics SQL.")
    query_metastore_cache_seconds: float = Field(
        60,
        ge=0,
        description="Embedded engine: how long partition locations read from the metastore are reused while its "
        "change token (set by every publish) is unchanged; one metastore call per question instead of one per "
        "table. Below the superseded versions' grace. 0: ask every time.",
    )
    trino_host: str = Field("127.0.0.1", description="Trino coordinator host.")
    trino_port: int = Field(8085, description="Trino coordinator port.")
    trino_user: str = Field("eventlake", description="Trino user.")
    trino_catalog: str = Field("hive", description="Trino catalog of the curated tables.")

    # --- Airflow ---------------------------------------------------------------------------------
    airflow_host: str = Field("127.0.0.1", description="Airflow api-server (UI and REST API) host.")
    airflow_port: int = Field(8080, description="Airflow api-server port.")
    airflow_database_url: str = Field(
        "", description="Airflow metadata DB (SQLAlchemy URL). Empty = SQLite under HOME/airflow."
    )
    airflow_parallelism: int = Field(8, description="Airflow LocalExecutor parallelism.")
    airflow_log_server_port: int = Field(8793, description="Port of the task-log server (airflow-log-server).")
    airflow_trigger_log_server_port: int = Field(
        8794, description="Port of the trigger-log server (airflow-trigger-log-server)."
    )
    admin_username: str = Field("admin", description="Airflow admin user.")
    admin_password: SecretStr = Field(SecretStr("eventlake-admin"), description="Airflow admin password.")
    viewer_username: str = Field("viewer", description="Airflow read-only user.")
    viewer_password: SecretStr = Field(SecretStr("eventlake-viewer"), description="Airflow viewer password.")

    # --- producer API ----------------------------------------------------------------------------
    producer_host: str = Field("127.0.0.1", description="Producer API bind host.")
    producer_port: int = Field(5000, description="Producer API port.")
    producer_server: Literal["granian", "gunicorn"] = Field(
        "granian",
        description="WSGI server of the producer API: granian (Rust HTTP front, 1.6-2x the acked events/s of gunicorn "
        "on 2 cores) or gunicorn (gthread).",
    )
    producer_workers: int | None = Field(
        None,
        ge=1,
        description="Producer API worker processes. Default: 2 under granian and gunicorn (each worker's Python "
        "is CPU-bound under load, so two use both cores: 1.4-1.5x the acked batch events/s of one worker and "
        "faster single events; a killed worker leaves the other serving).",
    )
    producer_threads: int | None = Field(
        None,
        ge=1,
        description="Threads per worker serving requests. Default: 32 under granian (blocking threads), 8 under "
        "gunicorn (gthread: 8 beat 16 and 32 there, less GIL contention).",
    )
    producer_max_body_bytes: int = Field(1024 * 1024, description="Largest accepted request body.")
    producer_max_batch_events: int = Field(500, description="Largest accepted batch.")
    producer_bulk_linger_ms: float = Field(
        20,
        ge=0,
        description="How long the producer API's second Kafka producer, the one for batch requests, waits to fill "
        "a broker batch (fewer, larger batches: about a quarter of the broker's and its storage's CPU per event at "
        "100 events per request). "
        "0: batch requests share the single-event producer (linger 2 ms).",
    )
    producer_bulk_from_events: int = Field(
        20, ge=1, description="Requests with at least this many events go to the batch requests' producer."
    )
    producer_max_event_bytes: int = Field(
        64 * 1024, description="Largest accepted body of a single-event request (the batch limit is max_body_bytes)."
    )
    producer_idempotence: bool | None = Field(
        None,
        description="Idempotent Kafka producer (broker-side dedup of the client's own retries). Default: on, except "
        "against the embedded broker: Tansu 0.6 stores a producer's sequence apart from its batch, so after a kill "
        "-9 between the two it answers the retried batch as a duplicate it never stored (acknowledged, lost). Off, "
        "acks=all still means stored, one request in flight keeps order, and a retried batch is stored again with "
        "the same event_ids, which compaction drops.",
    )
    producer_ack_timeout_seconds: float = Field(
        1.5, description="How long a request waits for the broker's ack before answering 503."
    )
    producer_max_future_skew_seconds: int = Field(
        300, description="An event_time further in the future than this is rejected."
    )

    # --- market quotes ---------------------------------------------------------------------------
    market_api_base_url: str = Field(
        "https://api.coingecko.com/api/v3", description="CoinGecko-style price API base URL."
    )
    market_coins: str = Field("bitcoin,ethereum,solana", description="Comma-separated coin ids to poll.")

    # ---------------------------------------------------------------------------------------------
    @model_validator(mode="after")
    def _cache_within_version_grace(self) -> EventlakeSettings:
        # A cached location must not outlive its version's files (deleted once superseded this long).
        if self.query_metastore_cache_seconds >= self.compaction_version_grace_minutes * 60:
            raise ValueError(
                f"query_metastore_cache_seconds ({self.query_metastore_cache_seconds:g}) must be below "
                f"compaction_version_grace_minutes ({self.compaction_version_grace_minutes} min)"
            )
        return self

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def lake_uri(self) -> str:
        """Root URI of the lake, resolved."""
        if self.data_uri:
            return self.data_uri.rstrip("/")
        return (self.home / "data").resolve().as_uri()

    @property
    def landing_uri(self) -> str:
        """Landing zone of the stream (validated events, by type, date and hour)."""
        return f"{self.lake_uri}/landing/events"

    @property
    def quarantine_uri(self) -> str:
        """Quarantine of malformed, unknown or invalid messages."""
        return f"{self.lake_uri}/landing/quarantine"

    @property
    def curated_uri(self) -> str:
        """Curated, compacted Hive-partitioned tables."""
        return f"{self.lake_uri}/curated"

    @property
    def checkpoint_uri(self) -> str:
        """Checkpoints of the streaming queries."""
        return f"{self.lake_uri}/checkpoints"

    @property
    def resolved_reports_uri(self) -> str:
        """Where reports are stored."""
        return (self.reports_uri or f"{self.lake_uri}/reports").rstrip("/")

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def airflow_url(self) -> str:
        return f"http://{self.airflow_host}:{self.airflow_port}"

    @property
    def producer_url(self) -> str:
        return f"http://{self.producer_host}:{self.producer_port}"

    @property
    def producer_worker_count(self) -> int:
        """Producer worker processes: the setting, or the chosen server's measured best on 2 cores."""
        return self.producer_workers or PRODUCER_SERVER_DEFAULTS[self.producer_server][0]

    @property
    def producer_thread_count(self) -> int:
        """Threads per producer worker: the setting, or the chosen server's measured best on 2 cores."""
        return self.producer_threads or PRODUCER_SERVER_DEFAULTS[self.producer_server][1]

    @property
    def producer_idempotent(self) -> bool:
        """Whether the Kafka producers are idempotent: the setting, or on except against the embedded broker."""
        if self.producer_idempotence is not None:
            return self.producer_idempotence
        return self.profile != "embedded"

    @property
    def market_coin_ids(self) -> list[str]:
        return [coin.strip() for coin in self.market_coins.split(",") if coin.strip()]

    @property
    def resolved_airflow_database_url(self) -> str:
        return self.airflow_database_url or f"sqlite:///{(self.airflow_home / 'airflow.db').resolve()}"

    def topic(self, name: str) -> str:
        """Full topic name for a short name (``game`` -> ``eventlake.game``)."""
        return f"{self.kafka_topic_prefix}{name}"

    @property
    def dead_letter_topic(self) -> str:
        return self.topic("dead-letter")

    def as_env(self) -> dict[str, str]:
        """These settings as ``EVENTLAKE_*`` variables, so child processes read exactly the same values."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:  # unset optional setting: leave it unset, so its default (None) applies
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"EVENTLAKE_{name.upper()}"] = str(value)
        return env

    # --- Airflow connections (AIRFLOW_CONN_*), derived so they never disagree with the rest --------
    def airflow_connections(self) -> dict[str, str]:
        """Airflow connections as JSON strings, keyed by conn_id."""
        spark_host, _, spark_port = self.spark_master_url.removeprefix("spark://").partition(":")
        connections = {
            "kafka_default": {
                "conn_type": "kafka",
                "extra": {
                    "bootstrap.servers": self.kafka_bootstrap_servers,
                    "group.id": "eventlake-airflow",
                    "enable.auto.commit": False,
                    "socket.timeout.ms": 10000,
                    # A task fails within 30 s when the broker is down, rather than waiting 5 minutes.
                    "message.timeout.ms": 30000,
                },
            },
            "spark_default": {
                "conn_type": "spark",
                "host": f"spark://{spark_host}",
                "port": int(spark_port or 7077),
                "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"},
            },
            "trino_default": {
                "conn_type": "trino",
                "host": self.trino_host,
                "port": self.trino_port,
                "login": self.trino_user,
                "schema": self.hive_database,
                "extra": {"catalog": self.trino_catalog},
            },
            "eventlake_producer": {
                "conn_type": "http",
                "host": self.producer_host,
                "port": self.producer_port,
                "schema": "http",
            },
        }
        return {conn_id: json.dumps(spec) for conn_id, spec in connections.items()}

    def airflow_connection_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_<ID>`` environment variables for :meth:`airflow_connections`."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": value for conn_id, value in self.airflow_connections().items()}

    def simple_auth_manager_users(self) -> str:
        """Value of ``[core] simple_auth_manager_users``: the admin and the read-only viewer."""
        return f"{self.admin_username}:admin,{self.viewer_username}:viewer"

    def simple_auth_manager_passwords(self) -> str:
        """JSON of the simple auth manager's password file."""
        return json.dumps(
            {
                self.admin_username: self.admin_password.get_secret_value(),
                self.viewer_username: self.viewer_password.get_secret_value(),
            }
        )


def load_settings(**overrides: object) -> EventlakeSettings:
    """Read the settings from the environment (the one place that does)."""
    return EventlakeSettings(**overrides)  # type: ignore[arg-type]


def render_env_example() -> str:
    """The text of ``.env.example``: every setting, its description and its embedded default."""
    lines = [
        "# eventlake settings: every variable the platform reads, with its embedded default.",
        "# Copy to .env (read from the working directory) or export them. Generated by",
        "# `python -m eventlake.settings --write-env-example`; a test fails when it drifts.",
        "",
    ]
    for name, info in EventlakeSettings.model_fields.items():
        default = info.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        if isinstance(default, Path):
            default = "<repo>/" + str(default.relative_to(REPO_ROOT)) if default.is_relative_to(REPO_ROOT) else default
        if default is None:  # unset by default: the description says what applies then
            default = ""
        lines.append(f"# {info.description}")
        lines.append(f"#EVENTLAKE_{name.upper()}={default}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write-env-example"]:
        (REPO_ROOT / ".env.example").write_text(render_env_example())
    else:
        print(render_env_example(), end="")
