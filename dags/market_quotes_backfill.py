"""Historic prices of each configured coin for a date range, as ``market.price_tick`` events.

Each run publishes the quotes of its day ``[data_interval_start, data_interval_end)`` from the API's
``/coins/{id}/market_chart/range``; a range of days is ``airflow backfill create --dag-id
market_quotes_backfill --from-date ... --to-date ...``, and a manual run may give ``start``/``end``.
Event ids derive from (coin, quote time), so overlapping or repeated runs publish the same ids.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.apache.kafka.operators.produce import ProduceToTopicOperator
from airflow.sdk import CronDataIntervalTimetable, Param, dag


def eventlake_settings() -> Any:
    """The platform settings, read when the task renders its templates (never at parse time)."""
    from eventlake.settings import load_settings

    return load_settings()


def price_tick_topic() -> str:
    from eventlake.market_quotes import price_tick_topic as topic

    return topic(eventlake_settings())


@dag(
    dag_id="market_quotes_backfill",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    default_args={"owner": "eventlake", "retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["eventlake", "market", "ingestion", "backfill"],
    params={
        "start": Param(None, type=["null", "string"], description="ISO start (inclusive); default: the run's."),
        "end": Param(None, type=["null", "string"], description="ISO end (exclusive); default: the run's."),
    },
    user_defined_macros={"eventlake_settings": eventlake_settings, "price_tick_topic": price_tick_topic},
    doc_md=__doc__,
)
def market_quotes_backfill() -> None:
    ProduceToTopicOperator(
        task_id="publish_historic_quotes",
        kafka_config_id="kafka_default",
        topic="{{ price_tick_topic() }}",
        producer_function="eventlake.market_quotes.historic_quote_messages",
        producer_function_kwargs={
            "base_url": "{{ eventlake_settings().market_api_base_url }}",
            "coins": "{{ eventlake_settings().market_coins }}",
            "start": "{{ params.start or data_interval_start }}",
            "end": "{{ params.end or data_interval_end }}",
        },
        delivery_callback="eventlake.market_quotes.raise_on_delivery_error",
        synchronous=False,
        execution_timeout=timedelta(minutes=20),
    )


market_quotes_backfill()
