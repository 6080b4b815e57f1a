"""Services of the compaction tests, started here on ports 23000-23999: a Hive Metastore, a Spark
standalone master + worker, and a Spark session (driver) connected to both.

Each test gets its own lake (a tmp home) and its own metastore database, so tests do not share data.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlake.compaction import local_services
from eventlake.settings import REPO_ROOT, EventlakeSettings

PORTS = range(23000, 24000)
_DATABASES = itertools.count()


def free_port() -> int:
    return local_services.free_port(PORTS)


@pytest.fixture(scope="session")
def metastore_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A thrift Hive Metastore (Hive 2.3 from pyspark's jars) on embedded Derby."""
    with local_services.hive_metastore(tmp_path_factory.mktemp("metastore"), free_port()) as uri:
        yield uri


@pytest.fixture(scope="session")
def spark_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark standalone master with one 2-core worker."""
    home = tmp_path_factory.mktemp("spark")
    ports: list[int] = []
    for _ in range(3):
        ports.append(local_services.free_port(p for p in PORTS if p not in ports))
    with local_services.spark_cluster(home, (ports[0], ports[1], ports[2])) as master_url:
        yield master_url


@pytest.fixture(scope="session")
def spark(spark_master: str, metastore_uri: str) -> Iterator[object]:
    """The test process's Spark driver, on the standalone cluster, with the metastore as catalog."""
    from eventlake.compaction.runner import build_spark

    os.environ["PYSPARK_PYTHON"] = sys.executable
    settings = EventlakeSettings(metastore_uri=metastore_uri)
    conf = {"spark.cores.max": "1", "spark.ui.enabled": "false", "spark.executor.memory": "1g"}
    session = build_spark(settings, "eventlake-compaction-it", master=spark_master, extra_conf=conf)
    yield session
    session.stop()


@pytest.fixture
def lake_settings(tmp_path: Path, metastore_uri: str, spark: object) -> EventlakeSettings:
    """Settings of a fresh lake with its own metastore database holding every curated table."""
    from eventlake.metastore import create_tables

    settings = EventlakeSettings(
        home=tmp_path / "home",
        metastore_uri=metastore_uri,
        hive_database=f"eventlake_it_{os.getpid()}_{next(_DATABASES)}",
        compaction_lateness_grace_minutes=10,
        compaction_version_grace_minutes=60,
        landing_retention_hours=48,
    )
    create_tables(spark, settings)  # type: ignore[arg-type]
    return settings


def settings_env(settings: EventlakeSettings) -> dict[str, str]:
    """The EVENTLAKE_* variables that make a child process load these settings."""
    return {
        "EVENTLAKE_HOME": str(settings.home),
        "EVENTLAKE_METASTORE_URI": settings.metastore_uri,
        "EVENTLAKE_HIVE_DATABASE": settings.hive_database,
        "EVENTLAKE_COMPACTION_LATENESS_GRACE_MINUTES": str(settings.compaction_lateness_grace_minutes),
    }


def spark_submit_command(master: str, script: str, *args: str) -> list[str]:
    binary = shutil.which("spark-submit", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    assert binary, "spark-submit not found next to the interpreter"
    return [
        binary,
        "--master",
        master,
        "--conf",
        "spark.cores.max=1",
        "--conf",
        "spark.executor.memory=1g",
        "--conf",
        f"spark.pyspark.python={sys.executable}",
        "--conf",
        f"spark.pyspark.driver.python={sys.executable}",
        str(REPO_ROOT / script),
        *args,
    ]
