"""Market quotes from a CoinGecko-style price API, as published ``market.price_tick`` events.

The producer functions of the ``market_quotes`` DAGs (Kafka provider's ``ProduceToTopicOperator``):
they fetch, validate against the catalog and return ``(key, value)`` messages. Event ids are derived
from (coin, quote time), so a retried or re-run task publishes the same ids and downstream dedup
makes it idempotent.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson

log = logging.getLogger(__name__)

EVENT_TYPE = "market.price_tick"
FEED_USER_ID = "market-feed"
QUOTE_CURRENCY = "usd"
HTTP_TIMEOUT_SECONDS = 20.0
#: Ticker symbols of common coins; others fall back to a cleaned-up coin id.
KNOWN_SYMBOLS = {
    "bitcoin": "btc",
    "ethereum": "eth",
    "solana": "sol",
    "cardano": "ada",
    "dogecoin": "doge",
    "ripple": "xrp",
    "litecoin": "ltc",
    "polkadot": "dot",
    "tether": "usdt",
    "binancecoin": "bnb",
}


def symbol_for(coin_id: str) -> str:
    return KNOWN_SYMBOLS.get(coin_id) or re.sub(r"[^a-z0-9]", "", coin_id.lower())[:16] or "coin"


def quote_event_id(coin_id: str, quote_time: datetime) -> str:
    """A UUIDv7 whose time is the quote's and whose random bits are a hash of (coin, time): stable on re-runs."""
    millis = int(quote_time.timestamp() * 1000)
    digest = int.from_bytes(hashlib.sha256(f"{coin_id}|{millis}".encode()).digest()[:10], "big")
    rand_a = digest >> 68  # 12 bits
    rand_b = digest & ((1 << 62) - 1)  # 62 bits
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def price_tick(coin_id: str, price: Any, quote_time: datetime, received_at: datetime) -> dict[str, Any] | None:
    """One published price-tick event, validated against the catalog; None (logged) if the quote is unusable."""
    from pydantic import ValidationError

    from eventlake.catalog import event_model, get_event_type

    et = get_event_type(EVENT_TYPE)
    # A float from the API's JSON: its shortest repr is the decimal the API wrote.
    exact = Decimal(repr(price)) if isinstance(price, float) else Decimal(str(price))
    document = {
        "event_id": quote_event_id(coin_id, quote_time),
        "event_type": et.event_type,
        "schema_version": et.version,
        "event_time": quote_time,
        "received_at": received_at,
        "user_id": FEED_USER_ID,
        "context": {"user_agent": "eventlake-market-quotes", "client_host": None},
        "payload": {
            "coin_id": coin_id,
            "symbol": symbol_for(coin_id),
            "price": exact.quantize(Decimal("1e-8")) if exact.is_finite() else exact,
            "quote_currency": QUOTE_CURRENCY,
            "quote_time": quote_time,
        },
    }
    try:
        return event_model(et).model_validate(document).model_dump(mode="json")
    except ValidationError as exc:
        log.warning("skipping an invalid quote of %s at %s: %s", coin_id, quote_time.isoformat(), exc)
        return None


def _messages(events: Iterable[dict[str, Any] | None]) -> list[tuple[bytes, bytes]]:
    return [(event["user_id"].encode(), orjson.dumps(event)) for event in events if event is not None]


def current_quote_messages(
    base_url: str, coins: str | list[str], fallback_time: str | None = None
) -> list[tuple[bytes, bytes]]:
    """Producer function of ``market_quotes``: the current price of every coin (``/simple/price``)."""
    coin_ids = [c.strip() for c in coins.split(",")] if isinstance(coins, str) else list(coins)
    response = httpx.get(
        f"{base_url.rstrip('/')}/simple/price",
        params={"ids": ",".join(coin_ids), "vs_currencies": QUOTE_CURRENCY, "include_last_updated_at": "true"},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    response.raise_for_status()
    prices = response.json()
    received_at = datetime.now(UTC)
    # Manual runs may have no data interval: their template renders "None".
    default_time = _instant(fallback_time) if fallback_time and fallback_time != "None" else received_at
    events = []
    for coin_id in coin_ids:
        quote = prices.get(coin_id)
        if not quote or QUOTE_CURRENCY not in quote:
            log.warning("no %s price for %s", QUOTE_CURRENCY, coin_id)
            continue
        updated = quote.get("last_updated_at")
        quote_time = datetime.fromtimestamp(updated, UTC) if updated else default_time
        events.append(price_tick(coin_id, quote[QUOTE_CURRENCY], quote_time, received_at))
    messages = _messages(events)
    if not messages:
        raise RuntimeError(f"no usable quote for any of {coin_ids}")
    log.info("publishing %d quotes", len(messages))
    return messages


def historic_quote_messages(base_url: str, coins: str | list[str], start: str, end: str) -> list[tuple[bytes, bytes]]:
    """Producer function of ``market_quotes_backfill``: every price in [start, end) (``/market_chart/range``)."""
    coin_ids = [c.strip() for c in coins.split(",")] if isinstance(coins, str) else list(coins)
    start_time, end_time = _instant(start), _instant(end)
    if end_time <= start_time:
        raise ValueError(f"empty range [{start}, {end})")
    received_at = datetime.now(UTC)
    events = []
    for coin_id in coin_ids:
        response = httpx.get(
            f"{base_url.rstrip('/')}/coins/{coin_id}/market_chart/range",
            params={
                "vs_currency": QUOTE_CURRENCY,
                "from": int(start_time.timestamp()),
                "to": int(end_time.timestamp()),
            },
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        for millis, price in response.json().get("prices", []):
            quote_time = datetime.fromtimestamp(millis / 1000, UTC)
            if start_time <= quote_time < end_time:
                events.append(price_tick(coin_id, price, quote_time, received_at))
    messages = _messages(events)
    log.info("publishing %d historic quotes of %s in [%s, %s)", len(messages), coin_ids, start, end)
    return messages


def _instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def raise_on_delivery_error(err: Any, msg: Any) -> None:
    """Delivery callback: a quote the broker did not store fails the task (the provider's default only logs)."""
    if err is not None:
        raise RuntimeError(f"quote not stored on {msg.topic()}: {err}")


def price_tick_topic(settings: Any) -> str:
    """The topic price ticks go to, from the catalog and the settings."""
    from eventlake.catalog import get_event_type

    return str(settings.topic(get_event_type(EVENT_TYPE).topic_name))
