"""SparkSession for a job or a test, configured from the settings (master, metastore, core limits)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from eventlake.settings import EventlakeSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


#: JVM options of the compaction job's driver. On the embedded stack the driver plans, schedules tasks and
#: talks to the metastore while DuckDB in the Python workers does the work, so its JIT need not compile
#: for peak speed. With the C1 compiler only, a cold driver spent 3.8-4.1 s of CPU over the benchmark's day
#: where it spent 7.4-8.0 s, and the compaction took 18.0 s instead of 19.8 s (medians of 3 alternating
#: runs, 2026-12-02, local[2]).
#: Not used where the driver is also the executor of the Spark transform (``local`` master, spark engine).
COMPACTION_DRIVER_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1"


def spark_conf(settings: EventlakeSettings, *, cores_max: int) -> dict[str, str]:
    """Spark configuration every eventlake app shares."""
    conf = {
        "spark.cores.max": str(cores_max),
        "spark.executor.cores": str(cores_max),
        "spark.executor.memory": settings.spark_executor_memory,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.hadoop.hive.metastore.uris": settings.metastore_uri,
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": settings.curated_uri,
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
    }
    if settings.s3_endpoint:
        conf.update(
            {
                "spark.hadoop.fs.s3a.endpoint": settings.s3_endpoint,
                "spark.hadoop.fs.s3a.access.key": settings.s3_access_key,
                "spark.hadoop.fs.s3a.secret.key": settings.s3_secret_key.get_secret_value(),
                "spark.hadoop.fs.s3a.path.style.access": "true",
            }
        )
    return conf


def spark_session(
    settings: EventlakeSettings, app_name: str, *, cores_max: int | None = None, master: str | None = None
) -> SparkSession:
    """A Hive-enabled session on the settings' Spark master (or ``master``, e.g. ``local[2]``)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).master(master or settings.spark_master_url)
    for key, value in spark_conf(settings, cores_max=cores_max or settings.spark_batch_cores_max).items():
        builder = builder.config(key, value)
    return builder.enableHiveSupport().getOrCreate()
