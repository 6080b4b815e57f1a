"""The analytics questions: one SQL file in ``sql/`` each, plus how to check and chart its answer.

The SQL is Trino dialect and takes named bind parameters (``:interval_start``, ``:interval_end``,
``:first_date``, ``:last_date``, see :meth:`ReportInterval.parameters`); the engines turn them into
their own placeholders, so no value is ever formatted into the SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from eventlake.analytics.checks import Check, InRange, NotNull, RowCount
from eventlake.catalog.events import EVENT_TYPES

QUESTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,80}$")
HOURLY_AND_DAILY = frozenset({"hourly", "daily"})
DAILY = frozenset({"daily"})


@dataclass(frozen=True)
class Chart:
    """How a result is drawn: bars of ``y`` per ``x``, or lines of ``y`` over ``x`` (one per ``series``)."""

    kind: Literal["bar", "line"]
    x: str
    y: tuple[str, ...]
    series: str | None = None
    top: int = 25


@dataclass(frozen=True)
class Question:
    """One business question: its SQL file, when it runs, how its answer is checked and drawn."""

    name: str
    title: str
    cadences: frozenset[str]
    checks: tuple[Check, ...] = ()
    chart: Chart | None = None
    domain: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", self.name.split("_", 1)[0])

    def sql_path(self, sql_dir: Path) -> Path:
        return sql_dir / f"{self.name}.sql"

    def sql(self, sql_dir: Path) -> str:
        return self.sql_path(sql_dir).read_text(encoding="utf-8")


_TYPES = len(EVENT_TYPES)

QUESTIONS: tuple[Question, ...] = (
    Question(
        "game_purchases_by_item",
        "Purchases by item and kind, with revenue",
        HOURLY_AND_DAILY,
        (NotNull(("item", "item_kind", "purchases", "revenue")), InRange("purchases", 1), InRange("revenue", 0)),
        Chart("bar", "item_kind", ("revenue",), series="item"),
    ),
    Question(
        "game_item_strength",
        "Average strength of the items bought",
        DAILY,
        (NotNull(("item", "avg_strength")), InRange("avg_strength", 0, 10), InRange("min_strength", 0, 10)),
        Chart("bar", "item", ("avg_strength",)),
    ),
    Question(
        "game_guild_membership",
        "Guild joins vs quits and net membership",
        DAILY,
        (NotNull(("guild_name", "joins", "quits", "net_membership")), InRange("joins", 0), InRange("quits", 0)),
        Chart("bar", "guild_name", ("joins", "quits")),
    ),
    Question(
        "game_wars_and_peace",
        "Wars and peace declared, per kingdom",
        DAILY,
        (NotNull(("enemy", "wars_declared", "peace_declared")), InRange("wars_declared", 0)),
        Chart("bar", "enemy", ("wars_declared", "peace_declared")),
    ),
    Question(
        "game_earnings_per_user",
        "Gold earned per player",
        DAILY,
        (NotNull(("user_id", "total_earned")), InRange("total_earned", 0), InRange("payments", 1)),
        Chart("bar", "user_id", ("total_earned",)),
    ),
    Question(
        "game_active_users",
        "Daily active and new players",
        DAILY,
        (NotNull(("activity_day", "active_users", "new_users")), InRange("new_users", 0), InRange("active_users", 1)),
        Chart("bar", "activity_day", ("active_users", "new_users")),
    ),
    Question(
        "bank_deposits_vs_withdrawals",
        "Deposits vs withdrawals, count and money",
        HOURLY_AND_DAILY,
        (
            NotNull(("currency", "deposits", "withdrawals")),
            InRange("deposited_amount", 0),
            InRange("withdrawn_amount", 0),
        ),
        Chart("bar", "currency", ("deposited_amount", "withdrawn_amount")),
    ),
    Question(
        "bank_most_bought_assets",
        "Most bought assets",
        DAILY,
        (NotNull(("asset", "purchases")), InRange("units_bought", 0), InRange("money_spent", 0)),
        Chart("bar", "asset", ("purchases",)),
    ),
    Question(
        "bank_most_viewed_assets",
        "Most viewed assets",
        DAILY,
        (NotNull(("asset", "views")), InRange("views", 1)),
        Chart("bar", "asset", ("views",)),
    ),
    Question(
        "bank_account_retention",
        "Accounts opened vs closed (retention)",
        DAILY,
        (NotNull(("activity_day", "accounts_opened", "accounts_closed")), InRange("opened_then_closed", 0)),
        Chart("bar", "activity_day", ("accounts_opened", "accounts_closed", "opened_then_closed")),
    ),
    Question(
        "bank_net_flow_per_user",
        "Net money flow per customer",
        DAILY,
        (NotNull(("user_id", "currency", "net_flow")), InRange("deposited", 0), InRange("withdrawn", 0)),
        Chart("bar", "user_id", ("net_flow",)),
    ),
    Question(
        "market_coin_returns",
        "Return per coin over the interval and its last hour",
        HOURLY_AND_DAILY,
        (NotNull(("coin_id", "first_price", "last_price")), InRange("first_price", 0), InRange("interval_return", -1)),
        Chart("bar", "coin_id", ("interval_return", "last_hour_return")),
    ),
    Question(
        "market_price_series",
        "Price series per coin (closing price per minute)",
        HOURLY_AND_DAILY,
        (NotNull(("coin_id", "quote_minute", "close_price")), InRange("close_price", 0)),
        Chart("line", "quote_minute", ("close_price",), series="coin_id"),
    ),
    Question(
        "platform_events_per_type_per_hour",
        "Events per type per hour",
        HOURLY_AND_DAILY,
        (
            NotNull(("event_type", "event_date", "event_hour", "events")),
            InRange("event_hour", 0, 23),
            InRange("events", 1),
            RowCount(0, _TYPES * 24),
        ),
        Chart("line", "event_hour", ("events",), series="event_type"),
    ),
    Question(
        "platform_quarantine_rate",
        "Quarantine rate",
        DAILY,
        (NotNull(("activity_date", "quarantined", "curated")), InRange("quarantine_rate", 0, 1)),
        Chart("bar", "activity_date", ("quarantine_rate",)),
    ),
    Question(
        "platform_landing_to_curated_delay",
        "Landing-to-curated delay (seconds from acceptance to curated file)",
        HOURLY_AND_DAILY,
        (NotNull(("event_type", "event_hour", "max_delay_seconds")), InRange("event_hour", 0, 23)),
        Chart("line", "event_hour", ("max_delay_seconds",), series="event_type"),
    ),
)


def questions_for(cadence: str) -> tuple[Question, ...]:
    """Questions that run on this cadence, in registry order."""
    return tuple(q for q in QUESTIONS if cadence in q.cadences)


def question_by_name(name: str) -> Question:
    for question in QUESTIONS:
        if question.name == name:
            return question
    raise KeyError(f"unknown question {name!r}")


def sql_dir_of(repo_root: Path) -> Path:
    return repo_root / "sql"
