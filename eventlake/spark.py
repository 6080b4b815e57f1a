"""SparkSession for a job or a test, configured from the settings (master, metastore, core limits)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from eventlake.settings import EventlakeSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


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
