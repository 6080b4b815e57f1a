"""Every five minutes, the current price of each configured coin as ``market.price_tick`` events.

Polls the CoinGecko-style API (settings ``market_api_base_url``, ``market_coins``) and publishes with
the Kafka provider's ``ProduceToTopicOperator`` (connection ``kafka_default``). Event ids derive from
(coin, quote time): a retried run republishes the same ids, which downstream dedup absorbs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.apache.kafka.operators.produce import ProduceToTopicOperator
from airflow.sdk import CronDataIntervalTimetable, dag


def eventlake_settings() -> Any:
    """The platform settings, read when the task renders its templates (never at parse time)."""
    from eventlake.settings import load_settings

    return load_settings()


def price_tick_topic() -> str:
    from eventlake.market_quotes import price_tick_topic as topic

    return topic(eventlake_settings())


@dag(
    dag_id="market_quotes",
    schedule=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=4),
    default_args={"owner": "eventlake", "retries": 2, "retry_delay": timedelta(seconds=20)},
    tags=["eventlake", "market", "ingestion"],
    user_defined_macros={"eventlake_settings": eventlake_settings, "price_tick_topic": price_tick_topic},
    doc_md=__doc__,
)
def market_quotes() -> None:
    ProduceToTopicOperator(
        task_id="publish_current_quotes",
        kafka_config_id="kafka_default",
        topic="{{ price_tick_topic() }}",
        producer_function="eventlake.market_quotes.current_quote_messages",
        producer_function_kwargs={
            "base_url": "{{ eventlake_settings().market_api_base_url }}",
            "coins": "{{ eventlake_settings().market_coins }}",
            "fallback_time": "{{ data_interval_end }}",
        },
        delivery_callback="eventlake.market_quotes.raise_on_delivery_error",
        synchronous=False,
        execution_timeout=timedelta(minutes=2),
    )


market_quotes()
