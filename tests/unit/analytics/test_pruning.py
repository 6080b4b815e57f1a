"""Partition pruning of the embedded engine: the event_date and event_hour bounds of a question, and what is listed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventlake.analytics.engines import DuckDBEngine
from eventlake.analytics.intervals import ReportInterval
from eventlake.analytics.pruning import partition_bounds
from eventlake.analytics.questions import question_by_name
from eventlake.catalog.derive import get_event_type
from eventlake.catalog.events import EVENT_TYPES
from eventlake.lake import ALL_PARTITIONS, HourPartition, PartitionBounds
from eventlake.settings import REPO_ROOT

from .conftest import FixtureLake

DAY = ReportInterval(datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
PURCHASES = get_event_type("game.item_purchased").table
HOUR = HourPartition("2026-11-24", 13)  # one of the fixture lake's hours


def bounds(sql: str, **parameters: object) -> dict[str, PartitionBounds]:
    return partition_bounds(sql, parameters)


def test_bounds_come_from_the_where_of_the_select_that_reads_the_table() -> None:
    got = bounds("select * from t where event_date between :a and :b and x = 1", a="2026-11-24", b="2026-11-25")
    assert got == {"t": PartitionBounds("2026-11-24", "2026-11-25")}
    assert bounds("select * from t where event_date = '2026-11-24'") == {
        "t": PartitionBounds("2026-11-24", "2026-11-24")
    }
    assert bounds("select * from t where :d <= event_date", d=datetime(2026, 11, 24, 5, tzinfo=UTC)) == {
        "t": PartitionBounds("2026-11-24", None)
    }
    assert bounds("select * from t where event_date in ('2026-11-26', '2026-11-24')") == {
        "t": PartitionBounds("2026-11-24", "2026-11-26")
    }
    assert bounds("select * from t where event_date >= date '2026-11-24' and event_date < '2026-11-30'") == {
        "t": PartitionBounds("2026-11-24", "2026-11-30")
    }


def test_anything_not_understood_reads_every_partition() -> None:
    assert bounds("select * from t") == {"t": ALL_PARTITIONS}
    assert bounds("select * from t where event_date = '2026-11-24' or x = 1") == {"t": ALL_PARTITIONS}
    assert bounds("select * from t where event_date = :missing") == {"t": ALL_PARTITIONS}
    assert bounds("select * from t where event_date > other_column") == {"t": ALL_PARTITIONS}
    # Unqualified in a join: whose event_date is it? Neither side is pruned.
    joined = bounds("select * from t join u on t.k = u.k where event_date = '2026-11-24'")
    assert joined == {"t": ALL_PARTITIONS, "u": ALL_PARTITIONS}
    qualified = bounds("select * from t as a join u on a.k = u.k where a.event_date = '2026-11-24'")
    assert qualified == {"t": PartitionBounds("2026-11-24", "2026-11-24"), "u": ALL_PARTITIONS}


def test_a_cte_is_bounded_by_what_reads_it_and_a_table_read_twice_by_the_union() -> None:
    sql = """
        with e as (select * from t where kind = 'game'),
             early as (select * from e where event_date <= :last),
             window as (select * from e where event_date between :first and :last)
        select * from window join early on window.k = early.k
    """
    assert bounds(sql, first="2026-11-20", last="2026-11-24") == {"t": PartitionBounds(None, "2026-11-24")}
    only_window = "with e as (select * from t) select * from e where event_date between :first and :last"
    assert bounds(only_window, first="2026-11-20", last="2026-11-24") == {
        "t": PartitionBounds("2026-11-20", "2026-11-24")
    }
    twice = "select * from t where event_date = '2026-11-20' union all select * from t where event_date = '2026-11-22'"
    assert bounds(twice) == {"t": PartitionBounds("2026-11-20", "2026-11-22")}


def test_hour_bounds_come_from_event_hour_next_to_event_date() -> None:
    one_hour = bounds("select * from t where event_date = '2026-11-24' and event_hour = 13")
    assert one_hour == {"t": PartitionBounds("2026-11-24", "2026-11-24", 13, 13)}
    assert bounds("select * from t where event_hour between :a and :b", a=6, b=9) == {
        "t": PartitionBounds(None, None, 6, 9)
    }
    assert bounds("select * from t where event_hour in (5, 3, 4)") == {"t": PartitionBounds(None, None, 3, 5)}
    assert bounds("select * from t where event_hour > 20 and 22 >= event_hour") == {
        "t": PartitionBounds(None, None, 20, 22)
    }
    assert bounds("select * from t where (event_hour >= cast(:h as integer))", h=7) == {
        "t": PartitionBounds(None, None, 7)
    }
    window = "with e as (select * from t where event_date = :day) select * from e where event_hour < 3"
    assert bounds(window, day="2026-11-24") == {"t": PartitionBounds("2026-11-24", "2026-11-24", None, 3)}


def test_an_hour_bound_not_understood_reads_every_hour() -> None:
    day = PartitionBounds("2026-11-24", "2026-11-24")
    assert bounds("select * from t where event_date = '2026-11-24' and event_hour = '13'") == {"t": day}
    assert bounds("select * from t where event_date = '2026-11-24' and event_hour = :missing") == {"t": day}
    assert bounds("select * from t where event_date = '2026-11-24' and event_hour = 1.5") == {"t": day}
    assert bounds("select * from t where event_hour = :h", h=True) == {"t": ALL_PARTITIONS}
    assert bounds("select * from t where event_hour = :h", h="13") == {"t": ALL_PARTITIONS}
    assert bounds("select * from t where event_hour in (1, other_column)") == {"t": ALL_PARTITIONS}
    assert bounds("select * from t where event_hour = 13 or event_date = '2026-11-24'") == {"t": ALL_PARTITIONS}
    assert bounds("select * from t where cast(event_hour as varchar) = '13'") == {"t": ALL_PARTITIONS}
    # A date as an hour and an hour as a date are not either.
    assert bounds("select * from t where event_hour = '2026-11-24' and event_date = 13") == {"t": ALL_PARTITIONS}


def test_two_references_with_hours_read_the_box_around_both() -> None:
    sql = """
        select * from t where event_date = '2026-11-24' and event_hour = 13
        union all
        select * from t where event_date = '2026-11-25' and event_hour in (2, 3)
    """
    assert bounds(sql) == {"t": PartitionBounds("2026-11-24", "2026-11-25", 2, 13)}
    one_without_hours = sql.replace("and event_hour in (2, 3)", "")
    assert bounds(one_without_hours) == {"t": PartitionBounds("2026-11-24", "2026-11-25")}


@pytest.mark.parametrize("name", ["game_purchases_by_item", "platform_events_per_type_per_hour"])
def test_a_daily_question_reads_only_its_day(name: str) -> None:
    got = partition_bounds(question_by_name(name).sql(REPO_ROOT / "sql"), DAY.parameters())
    assert set(got.values()) == {PartitionBounds("2026-11-24", "2026-11-24")}


def test_the_engine_never_lists_a_partition_outside_the_bounds(lake: FixtureLake) -> None:
    asked: list[tuple[str, PartitionBounds]] = []

    def provide(table: str, bounds: PartitionBounds) -> list[str]:
        asked.append((table, bounds))
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
        assert asked == [(PURCHASES, PartitionBounds("2026-11-24", "2026-11-24"))]
        # Without bounds the same provider's other-day partition is listed, and cannot be read.
        with pytest.raises(ValueError, match="local files only"):
            pruned.run(f"select count(*) from {PURCHASES}", {})
    finally:
        pruned.close()
        whole.close()


def test_a_one_hour_question_lists_only_that_hour_of_every_table(lake: FixtureLake) -> None:
    asked: list[tuple[str, PartitionBounds]] = []

    def provide(table: str, bounds: PartitionBounds) -> list[str]:
        asked.append((table, bounds))
        # Another hour of the same day on storage the embedded engine cannot read: listing it would fail.
        return [*lake.locations.get(table, []), "s3://elsewhere/curated/t/event_date=2026-11-24/event_hour=14/v=1"]

    pruned, whole = DuckDBEngine(provide), lake.engine()
    sql = (
        "select event_type, count(*) as events, count(distinct user_id) as users from curated_events "
        "where event_date = :day and event_hour = :hour group by 1 order by 1"
    )
    parameters = {"day": HOUR.event_date, "hour": HOUR.event_hour}
    try:
        got = pruned.run(sql, parameters).to_pylist()
        assert got == whole.run(sql, parameters).to_pylist()
        in_hour = [
            row for et in EVENT_TYPES for row in lake.rows[et.table] if HourPartition.of(row["event_time"]) == HOUR
        ]
        assert sum(row["events"] for row in got) == len(in_hour) > 0
        one_hour = PartitionBounds(HOUR.event_date, HOUR.event_date, HOUR.event_hour, HOUR.event_hour)
        assert sorted(asked) == sorted((et.table, one_hour) for et in EVENT_TYPES)
    finally:
        pruned.close()
        whole.close()
