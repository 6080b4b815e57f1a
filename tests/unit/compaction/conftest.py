"""A local Spark session for the compaction transform tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


# Package scope: stopped before the integration tests build their Hive-enabled session in the same run.
@pytest.fixture(scope="package")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    from eventlake.compaction.runner import SPARK_CONF

    builder = SparkSession.builder.master("local[2]").appName("eventlake-compaction-unit")
    for key, value in {**SPARK_CONF, "spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    yield session
    session.stop()
