"""Spark job: the exactly-once stream from the event topics to the landing zone and the quarantine.

``main()``: settings -> Kafka source (Spark's connector if its jar is on the classpath, else the Python
data source) -> :func:`eventlake.streaming.transform.route_events` -> the landing writer's commit
protocol, publishing progress after every micro-batch; on the embedded stack the broker's batches it has
landed are deleted behind it (:mod:`eventlake.broker_log`). Submitted by the stream supervisor.
"""

from __future__ import annotations

import logging
import os

from eventlake.broker_log import background_trimmer_for
from eventlake.settings import load_settings
from eventlake.streaming.control import FENCING_TOKEN_ENV
from eventlake.streaming.job import StreamRunner, build_session


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    token = os.environ.get(FENCING_TOKEN_ENV)
    spark = build_session(settings)
    trimmer = background_trimmer_for(settings)
    runner = StreamRunner(spark, settings, fencing_token=int(token) if token else None, trimmer=trimmer)
    runner.start()
    try:
        runner.run_until_stopped()
    finally:
        if trimmer is not None:
            trimmer.close()
        spark.stop()


if __name__ == "__main__":
    main()
