"""Partition pruning of the embedded engine: the event_date bounds of a question, and what is listed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventlake.analytics.engines import DuckDBEngine
from eventlake.analytics.intervals import ReportInterval
from eventlake.analytics.pruning import ALL_DATES, DateBounds, event_date_bounds
from eventlake.analytics.questions import question_by_name
from eventlake.catalog.derive import get_event_type
from eventlake.settings import REPO_ROOT

from .conftest import FixtureLake

DAY = ReportInterval(datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
PURCHASES = get_event_type("game.item_purchased").table


def bounds(sql: str, **parameters: object) -> dict[str, DateBounds]:
    return event_date_bounds(sql, parameters)


def test_bounds_come_from_the_where_of_the_select_that_reads_the_table() -> None:
    got = bounds("select * from t where event_date between :a and :b and x = 1", a="2026-11-24", b="2026-11-25")
    assert got == {"t": DateBounds("2026-11-24", "2026-11-25")}
    assert bounds("select * from t where event_date = '2026-11-24'") == {"t": DateBounds("2026-11-24", "2026-11-24")}
    assert bounds("select * from t where :d <= event_date", d=datetime(2026, 11, 24, 5, tzinfo=UTC)) == {
        "t": DateBounds("2026-11-24", None)
    }
    assert bounds("select * from t where event_date in ('2026-11-26', '2026-11-24')") == {
        "t": DateBounds("2026-11-24", "2026-11-26")
    }
    assert bounds("select * from t where event_date >= date '2026-11-24' and event_date < '2026-11-30'") == {
        "t": DateBounds("2026-11-24", "2026-11-30")
    }


def test_anything_not_understood_reads_every_partition() -> None:
    assert bounds("select * from t") == {"t": ALL_DATES}
    assert bounds("select * from t where event_date = '2026-11-24' or x = 1") == {"t": ALL_DATES}
    assert bounds("select * from t where event_date = :missing") == {"t": ALL_DATES}
    assert bounds("select * from t where event_date > other_column") == {"t": ALL_DATES}
    # Unqualified in a join: whose event_date is it? Neither side is pruned.
    joined = bounds("select * from t join u on t.k = u.k where event_date = '2026-11-24'")
    assert joined == {"t": ALL_DATES, "u": ALL_DATES}
    qualified = bounds("select * from t as a join u on a.k = u.k where a.event_date = '2026-11-24'")
    assert qualified == {"t": DateBounds("2026-11-24", "2026-11-24"), "u": ALL_DATES}


def test_a_cte_is_bounded_by_what_reads_it_and_a_table_read_twice_by_the_union() -> None:
    sql = """
        with e as (select * from t where kind = 'game'),
             early as (select * from e where event_date <= :last),
             window as (select * from e where event_date between :first and :last)
        select * from window join early on window.k = early.k
    """
    assert bounds(sql, first="2026-11-20", last="2026-11-24") == {"t": DateBounds(None, "2026-11-24")}
    only_window = "with e as (select * from t) select * from e where event_date between :first and :last"
    assert bounds(only_window, first="2026-11-20", last="2026-11-24") == {"t": DateBounds("2026-11-20", "2026-11-24")}
    twice = "select * from t where event_date = '2026-11-20' union all select * from t where event_date = '2026-11-22'"
    assert bounds(twice) == {"t": DateBounds("2026-11-20", "2026-11-22")}


@pytest.mark.parametrize("name", ["game_purchases_by_item", "platform_events_per_type_per_hour"])
def test_a_daily_question_reads_only_its_day(name: str) -> None:
    got = event_date_bounds(question_by_name(name).sql(REPO_ROOT / "sql"), DAY.parameters())
    assert set(got.values()) == {DateBounds("2026-11-24", "2026-11-24")}


def test_the_engine_never_lists_a_partition_outside_the_bounds(lake: FixtureLake) -> None:
    asked: list[tuple[str, DateBounds]] = []

    def provide(table: str, dates: DateBounds) -> list[str]:
        asked.append((table, dates))
        # A partition of another day on storage the embedded engine cannot read: listing it would fail.
        return [
            *lake.locations.get(table, []),
            "s3://elsewhere/curated/t/event_date=2026-11-01/event_hour=0/v=1",
            "s3://elsewhere/curated/t/event_date%3D2026-11-02/event_hour%3D0/v%3D1",  # as the metastore has it
        ]

    pruned, whole = DuckDBEngine(provide), lake.engine()
    sql = question_by_name("game_purchases_by_item").sql(REPO_ROOT / "sql")
    try:
        assert pruned.run(sql, DAY.parameters()).to_pylist() == whole.run(sql, DAY.parameters()).to_pylist()
        assert asked == [(PURCHASES, DateBounds("2026-11-24", "2026-11-24"))]
        # Without bounds the same provider's other-day partition is listed, and cannot be read.
        with pytest.raises(ValueError, match="local files only"):
            pruned.run(f"select count(*) from {PURCHASES}", {})
    finally:
        pruned.close()
        whole.close()
