"""Every question runs on the embedded engine over the fixture lake; answers computed in plain Python."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from eventlake.analytics.engines import DuckDBEngine
from eventlake.analytics.intervals import ReportInterval
from eventlake.analytics.questions import question_by_name
from eventlake.analytics.synthetic import synthetic_events, write_curated_partition
from eventlake.catalog.derive import get_event_type
from eventlake.catalog.events import EVENT_TYPES
from eventlake.lake import HourPartition
from eventlake.settings import REPO_ROOT

from .conftest import QUARANTINED, FixtureLake

SQL_DIR = REPO_ROOT / "sql"
DAY = ReportInterval(datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
HOUR = ReportInterval(datetime(2026, 11, 24, 1, tzinfo=UTC), datetime(2026, 11, 24, 2, tzinfo=UTC))


def run(engine, name: str, interval: ReportInterval = DAY) -> list[dict]:
    return engine.run(question_by_name(name).sql(SQL_DIR), interval.parameters()).to_pylist()


def within(lake: FixtureLake, table: str, interval: ReportInterval = DAY) -> list[dict]:
    return [r for r in lake.rows[table] if interval.start <= r["event_time"] < interval.end]


@pytest.mark.parametrize("interval", [DAY, HOUR], ids=["day", "hour"])
def test_purchases_by_item(lake, engine, interval) -> None:
    expected: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    for r in within(lake, "game_item_purchased", interval):
        expected[(r["item"], r["item_kind"])][0] += 1
        expected[(r["item"], r["item_kind"])][1] += r["price"]
    got = run(engine, "game_purchases_by_item", interval)
    assert {(g["item"], g["item_kind"]): [g["purchases"], g["revenue"]] for g in got} == dict(expected)
    assert [g["revenue"] for g in got] == sorted((g["revenue"] for g in got), reverse=True)


def test_item_strength(lake, engine) -> None:
    by_item = defaultdict(list)
    for r in within(lake, "game_item_purchased"):
        by_item[r["item"]].append(r["strength"])
    got = {g["item"]: g for g in run(engine, "game_item_strength")}
    assert set(got) == set(by_item)
    for item, strengths in by_item.items():
        assert got[item]["purchases"] == len(strengths)
        assert got[item]["avg_strength"] == pytest.approx(sum(strengths) / len(strengths), abs=1e-3)
        assert (got[item]["min_strength"], got[item]["max_strength"]) == (min(strengths), max(strengths))


def test_guild_membership(lake, engine) -> None:
    joins = Counter(r["guild_name"] for r in within(lake, "game_guild_joined"))
    quits = Counter(r["guild_name"] for r in within(lake, "game_guild_quit"))
    fees = defaultdict(Decimal)
    for r in within(lake, "game_guild_joined") + within(lake, "game_guild_quit"):
        fees[r["guild_name"]] += r["fee"]
    got = {g["guild_name"]: g for g in run(engine, "game_guild_membership")}
    assert set(got) == set(joins) | set(quits)
    for guild, row in got.items():
        assert (row["joins"], row["quits"]) == (joins[guild], quits[guild])
        assert row["net_membership"] == joins[guild] - quits[guild]
        assert row["fees_collected"] == fees[guild]


def test_wars_and_peace(lake, engine) -> None:
    wars = Counter(r["enemy"] for r in within(lake, "game_war_declared"))
    peace = Counter(r["enemy"] for r in within(lake, "game_peace_declared"))
    got = {
        g["enemy"]: (g["wars_declared"], g["peace_declared"], g["net_hostility"])
        for g in run(engine, "game_wars_and_peace")
    }
    assert got == {e: (wars[e], peace[e], wars[e] - peace[e]) for e in set(wars) | set(peace)}


def test_earnings_per_user(lake, engine) -> None:
    earned = defaultdict(list)
    for r in within(lake, "game_paid"):
        earned[r["user_id"]].append(r["amount"])
    got = {g["user_id"]: g for g in run(engine, "game_earnings_per_user")}
    assert {u: (g["payments"], g["total_earned"], g["largest_payment"]) for u, g in got.items()} == {
        u: (len(a), sum(a), max(a)) for u, a in earned.items()
    }


GAME_TABLES = [
    "game_item_purchased",
    "game_guild_joined",
    "game_guild_quit",
    "game_war_declared",
    "game_peace_declared",
    "game_paid",
    "game_page_viewed",
]


@pytest.mark.parametrize("interval", [DAY, HOUR], ids=["day", "hour"])
def test_active_and_new_users(lake, engine, interval) -> None:
    everything = [r for t in GAME_TABLES for r in lake.rows[t]]
    first_seen: dict[str, datetime] = {}
    for r in everything:
        first_seen[r["user_id"]] = min(first_seen.get(r["user_id"], r["event_time"]), r["event_time"])
    active = {r["user_id"] for r in everything if interval.start <= r["event_time"] < interval.end}
    day = interval.start.date()
    new = {u for u in active if first_seen[u].date() == day}
    got = run(engine, "game_active_users", interval)
    assert got == [{"activity_day": day, "active_users": len(active), "new_users": len(new)}]
    # The fixture's users were all seen the day before: nobody is new on the 24th.
    assert len(new) < len(active)


def test_active_users_counts_new_players_on_their_first_day(lake, engine) -> None:
    day_before = ReportInterval(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC))
    got = run(engine, "game_active_users", day_before)
    assert got[0]["new_users"] == got[0]["active_users"] > 0


def test_deposits_vs_withdrawals(lake, engine) -> None:
    expected: dict[str, list] = defaultdict(lambda: [0, Decimal(0), 0, Decimal(0)])
    for r in within(lake, "bank_deposited"):
        expected[r["currency"]][0] += 1
        expected[r["currency"]][1] += r["amount"]
    for r in within(lake, "bank_withdrawn"):
        expected[r["currency"]][2] += 1
        expected[r["currency"]][3] += r["amount"]
    got = run(engine, "bank_deposits_vs_withdrawals")
    assert [g["currency"] for g in got] == sorted(expected)
    for g in got:
        d, da, w, wa = expected[g["currency"]]
        assert (g["deposits"], g["deposited_amount"], g["withdrawals"], g["withdrawn_amount"]) == (d, da, w, wa)
        assert g["net_amount"] == da - wa


def test_most_bought_assets(lake, engine) -> None:
    rows = within(lake, "bank_asset_bought")
    got = run(engine, "bank_most_bought_assets")
    counts = Counter(r["asset"] for r in rows)
    assert {g["asset"]: g["purchases"] for g in got} == dict(counts)
    assert got[0]["purchases"] == max(counts.values())
    for g in got:
        mine = [r for r in rows if r["asset"] == g["asset"]]
        assert g["buyers"] == len({r["user_id"] for r in mine})
        assert g["units_bought"] == sum(r["quantity"] for r in mine)
        assert g["money_spent"] == sum(r["quantity"] * r["unit_price"] for r in mine).quantize(Decimal("0.01"))


def test_most_viewed_assets(lake, engine) -> None:
    rows = within(lake, "bank_asset_prices_viewed")
    got = run(engine, "bank_most_viewed_assets")
    assert {g["asset"]: (g["views"], g["viewers"]) for g in got} == {
        a: (n, len({r["user_id"] for r in rows if r["asset"] == a}))
        for a, n in Counter(r["asset"] for r in rows).items()
    }
    assert [g["views"] for g in got] == sorted((g["views"] for g in got), reverse=True)


def test_account_retention(lake, engine) -> None:
    opened = within(lake, "bank_account_opened")
    closed = within(lake, "bank_account_closed")
    again = {
        o["account_id"]
        for o in opened
        if any(c["account_id"] == o["account_id"] and o["event_time"] <= c["event_time"] for c in closed)
    }
    got = run(engine, "bank_account_retention")
    assert got == [
        {
            "activity_day": DAY.start.date(),
            "accounts_opened": len(opened),
            "accounts_closed": len(closed),
            "net_accounts": len(opened) - len(closed),
            "opened_then_closed": len(again),
        }
    ]
    assert len(again) > 0, "the fixture should exercise the opened-then-closed path"


def test_net_flow_per_user(lake, engine) -> None:
    flows: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    for r in within(lake, "bank_deposited"):
        flows[(r["user_id"], r["currency"])][0] += 1
        flows[(r["user_id"], r["currency"])][1] += r["amount"]
    for r in within(lake, "bank_withdrawn"):
        flows[(r["user_id"], r["currency"])][0] += 1
        flows[(r["user_id"], r["currency"])][2] += r["amount"]
    got = run(engine, "bank_net_flow_per_user")
    assert {
        (g["user_id"], g["currency"]): (g["movements"], g["deposited"], g["withdrawn"], g["net_flow"]) for g in got
    } == {k: (n, d, w, d - w) for k, (n, d, w) in flows.items()}
    assert [g["net_flow"] for g in got] == sorted((g["net_flow"] for g in got), reverse=True)


@pytest.mark.parametrize("interval", [DAY, HOUR], ids=["day", "hour"])
def test_coin_returns(lake, engine, interval) -> None:
    ticks = defaultdict(list)
    for r in within(lake, "market_price_tick", interval):
        ticks[(r["coin_id"], r["quote_currency"])].append(r)
    got = {(g["coin_id"], g["quote_currency"]): g for g in run(engine, "market_coin_returns", interval)}
    assert set(got) == set(ticks)
    last_hour_start = interval.end - timedelta(hours=1)
    for key, rows in ticks.items():
        rows.sort(key=lambda r: r["quote_time"])
        first, last = rows[0]["price"], rows[-1]["price"]
        assert (got[key]["ticks"], got[key]["first_price"], got[key]["last_price"]) == (len(rows), first, last)
        assert got[key]["interval_return"] == pytest.approx(float(last) / float(first) - 1, abs=1e-6)
        recent = [r for r in rows if r["quote_time"] >= last_hour_start]
        if recent:
            expected = float(recent[-1]["price"]) / float(recent[0]["price"]) - 1
            assert got[key]["last_hour_return"] == pytest.approx(expected, abs=1e-6)
        else:
            assert got[key]["last_hour_return"] is None


def test_price_series(lake, engine) -> None:
    minutes = defaultdict(list)
    for r in within(lake, "market_price_tick"):
        minute = r["quote_time"].replace(second=0, microsecond=0, tzinfo=None)
        minutes[(r["coin_id"], r["quote_currency"], minute)].append(r)
    got = run(engine, "market_price_series")
    assert len(got) == len(minutes)
    for g in got:
        rows = sorted(minutes[(g["coin_id"], g["quote_currency"], g["quote_minute"])], key=lambda r: r["quote_time"])
        assert g["close_price"] == rows[-1]["price"]
        assert (g["low_price"], g["high_price"], g["ticks"]) == (
            min(r["price"] for r in rows),
            max(r["price"] for r in rows),
            len(rows),
        )


@pytest.mark.parametrize("interval", [DAY, HOUR], ids=["day", "hour"])
def test_events_per_type_per_hour(lake, engine, interval) -> None:
    expected = Counter()
    users = defaultdict(set)
    for _table, rows in lake.rows.items():
        for r in rows:
            if interval.start <= r["event_time"] < interval.end:
                key = (r["event_type"], r["event_time"].strftime("%Y-%m-%d"), r["event_time"].hour)
                expected[key] += 1
                users[key].add(r["user_id"])
    got = run(engine, "platform_events_per_type_per_hour", interval)
    assert {(g["event_type"], g["event_date"], g["event_hour"]): g["events"] for g in got} == dict(expected)
    assert all(g["users"] == len(users[(g["event_type"], g["event_date"], g["event_hour"])]) for g in got)
    # Superseded versions and hidden files are not read: counts are exactly the published rows.
    assert sum(expected.values()) == sum(g["events"] for g in got)


def test_quarantine_rate(lake, engine) -> None:
    curated = sum(1 for rows in lake.rows.values() for r in rows if r["event_time"].date() == DAY.start.date())
    quarantined = QUARANTINED["2026-11-24"]
    got = run(engine, "platform_quarantine_rate")
    assert got == [
        {
            "activity_date": "2026-11-24",
            "quarantined": quarantined,
            "curated": curated,
            "quarantine_rate": round(quarantined / (quarantined + curated), 6),
        }
    ]


def test_landing_to_curated_delay(lake, engine) -> None:
    by_partition = defaultdict(list)
    for _table, locations in lake.locations.items():
        for location in locations:
            directory = Path(location.removeprefix("file://").replace("%3D", "="))
            for part in sorted(directory.glob("part-*.parquet")):
                import pyarrow.parquet as pq

                modified = datetime.fromtimestamp(os.stat(part).st_mtime, UTC)
                for r in pq.read_table(part).to_pylist():
                    if DAY.start <= r["event_time"] < DAY.end:
                        key = (r["event_type"], r["event_time"].strftime("%Y-%m-%d"), r["event_time"].hour)
                        by_partition[key].append((modified - r["received_at"]).total_seconds())
    got = {
        (g["event_type"], g["event_date"], g["event_hour"]): g for g in run(engine, "platform_landing_to_curated_delay")
    }
    assert set(got) == set(by_partition)
    for key, delays in by_partition.items():
        assert got[key]["events"] == len(delays)
        assert got[key]["max_delay_seconds"] == pytest.approx(max(delays), abs=2e-3)
        assert got[key]["min_delay_seconds"] == pytest.approx(min(delays), abs=2e-3)
        assert got[key]["avg_delay_seconds"] == pytest.approx(sum(delays) / len(delays), abs=2e-3)


def test_an_interval_without_data_gives_empty_results(engine) -> None:
    empty = ReportInterval(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC))
    for name in ("game_purchases_by_item", "platform_events_per_type_per_hour", "bank_account_retention"):
        assert run(engine, name, empty) == []


def test_tables_without_partitions_read_as_empty(tmp_path) -> None:
    engine = DuckDBEngine(lambda table, dates: [])
    assert run(engine, "platform_events_per_type_per_hour") == []
    assert run(engine, "platform_quarantine_rate") == []


def test_closing_the_engine_releases_what_its_locations_hold() -> None:
    closed: list[bool] = []
    engine = DuckDBEngine(lambda table, dates: [], on_close=lambda: closed.append(True))
    assert run(engine, "platform_events_per_type_per_hour") == []
    assert closed == []
    engine.close()
    assert closed == [True]


def test_engines_open_at_once_read_their_own_lakes(lake: FixtureLake) -> None:
    """Engines share the process's database, each with its own views: one's tables never show in another's."""
    sql = "select count(*) as n from curated_events"
    every = [{"n": sum(len(lake.rows[et.table]) for et in EVENT_TYPES)}]
    full, empty = lake.engine(), DuckDBEngine(lambda table, dates: [])
    try:
        assert full.run(sql, {}).to_pylist() == every
        assert empty.run(sql, {}).to_pylist() == [{"n": 0}]
        assert full.run(sql, {}).to_pylist() == every
    finally:
        empty.close()
    try:
        assert full.run(sql, {}).to_pylist() == every, "closing one engine leaves the others' views"
    finally:
        full.close()


def _accounts(et_name: str, events: list[tuple[str, datetime]]) -> pa.Table:
    """Synthetic rows of a bank account event type with the given (account_id, event_time) pairs."""
    et = get_event_type(et_name)
    hour = HourPartition(events[0][1].strftime("%Y-%m-%d"), events[0][1].hour)
    table = synthetic_events(et, hour, len(events), np.random.default_rng(1))
    table = table.set_column(table.schema.get_field_index("account_id"), "account_id", pa.array([a for a, _ in events]))
    times = pa.array([t for _, t in events], pa.timestamp("us", tz="UTC"))
    return table.set_column(table.schema.get_field_index("event_time"), "event_time", times)


def test_account_retention_counts_an_opening_only_if_a_closing_follows_it(tmp_path) -> None:
    at = lambda hour, minute: datetime(2026, 11, 24, hour, minute, tzinfo=UTC)  # noqa: E731
    opened = [("a", at(1, 0)), ("b", at(1, 10)), ("c", at(1, 20)), ("d", at(1, 30)), ("d", at(1, 50)), ("e", at(1, 5))]
    closed = [("a", at(1, 40)), ("b", at(1, 1)), ("c", at(1, 21)), ("c", at(1, 59)), ("d", at(1, 40))]
    locations = {}
    for name, events in (("bank.account_opened", opened), ("bank.account_closed", closed)):
        et = get_event_type(name)
        hour = HourPartition("2026-11-24", 1)
        locations[et.table] = [write_curated_partition(tmp_path, et, hour, _accounts(name, events)).location]
    engine = DuckDBEngine(lambda table, dates: locations.get(table, []))
    try:
        got = run(engine, "bank_account_retention")
    finally:
        engine.close()
    # a: closed after; b: closed only before it opened; c: closed twice after; d: its first opening precedes
    # the closing (the second does not); e: never closed.
    assert got == [
        {
            "activity_day": DAY.start.date(),
            "accounts_opened": 6,
            "accounts_closed": 5,
            "net_accounts": 1,
            "opened_then_closed": 3,
        }
    ]


def test_an_engine_after_a_closed_one_reuses_its_views_only_over_the_same_files(lake: FixtureLake) -> None:
    """A closed engine's DuckDB session goes back to a pool with its views; the next engine must still read
    exactly the files its own locations give: a view over other files (another version) is made anew."""
    from eventlake.analytics import engines

    table = "game_item_purchased"
    sql = f"select count(*) as n from {table}"
    published = lake.locations[table]
    # The superseded version "0" of every hour (5 rows each), next to the published "1".
    superseded = [location.replace("/v=1", "/v=0") for location in published]
    assert superseded != published
    answers = []
    for locations in (published, published, superseded, published):
        engine = DuckDBEngine(lambda name, bounds, chosen=locations: chosen if name == table else [])
        try:
            answers.append(engine.run(sql, {}).column("n")[0].as_py())
            session = engine._session
        finally:
            engine.close()
        assert engines._SESSIONS.take(None) is session, "the closed engine's session is the idle one"
        engines._SESSIONS.give_back(None, session)
    assert answers == [len(lake.rows[table]), len(lake.rows[table]), 5 * len(published), len(lake.rows[table])]
