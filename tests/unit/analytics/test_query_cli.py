"""The ad-hoc query CLI on the fixture lake (DuckDB over its files): answers, formats, parameters, errors."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest

from eventlake.analytics import query
from eventlake.analytics.query import QueryError, answer, interval_of, run_statements, statements

PURCHASES = "game_item_purchased"
BY_HOUR = f"select event_date, event_hour, count(*) as n from {PURCHASES} group by 1, 2 order by 1, 2"


def expected_by_hour(lake) -> list[tuple[str, int, int]]:
    """(event_date, event_hour, rows) of the fixture's purchases: each partition holds its hour's events."""
    counted = Counter((f"{row['event_time']:%Y-%m-%d}", row["event_time"].hour) for row in lake.rows[PURCHASES])
    return [(day, hour, n) for (day, hour), n in sorted(counted.items())]


def run(engine, sqls, given=None, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run_statements(engine, sqls, given or {}, out=out, err=err, **kwargs)
    return status, out.getvalue(), err.getvalue()


def test_csv_output_holds_every_row_of_the_answer(engine, lake) -> None:
    status, out, err = run(engine, [BY_HOUR], fmt="csv")
    assert status == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["event_date", "event_hour", "n"]
    assert [(d, int(h), int(n)) for d, h, n in rows[1:]] == expected_by_hour(lake)
    assert f"({len(rows) - 1} rows in " in err


def test_json_lines_and_a_table_show_the_same_answer(engine, lake) -> None:
    _, out, _ = run(engine, [BY_HOUR], fmt="json")
    assert [tuple(json.loads(line).values()) for line in out.splitlines()] == expected_by_hour(lake)
    _, table, _ = run(engine, [BY_HOUR], fmt="table")
    assert "event_hour" in table.splitlines()[1]
    for day, hour, n in expected_by_hour(lake):
        assert any(day in line and f" {n} " in line for line in table.splitlines()), (day, hour, n)


def test_a_long_answer_is_cut_in_table_format_and_says_so(engine, lake) -> None:
    _, out, _ = run(engine, [f"select event_id from {PURCHASES}"], max_rows=3)
    assert f"({len(lake.rows[PURCHASES]) - 3:,} more rows not shown" in out


def test_parameters_come_from_the_interval_of_a_day(engine, lake) -> None:
    sql = (
        f"select count(*) as n from {PURCHASES} where event_date between :first_date and :last_date "
        "and event_time >= :interval_start and event_time < :interval_end"
    )
    table = answer(engine, sql, interval_of("2026-11-24").parameters())
    assert table.column("n")[0].as_py() == sum(
        1 for r in lake.rows[PURCHASES] if f"{r['event_time']:%Y-%m-%d}" == "2026-11-24"
    )
    assert interval_of("20261124T0000Z--20261124T0100Z").parameters()["last_date"] == "2026-11-24"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (f"select count(*) from {PURCHASES} where event_date = :day", "missing parameter(s) day"),
        ("select * from no_such_table", "unknown table 'no_such_table'"),
        ("select from where", "not one SQL statement"),
        ("select 1; select 2", "not one SQL statement"),
        (";", "empty statement"),
        (f"select no_such_column from {PURCHASES}", "BinderException"),
        (f"drop table {PURCHASES}", "only queries are answered here (select, with ... select), not drop"),
        ("copy (select 1) to '/tmp/eventlake-query-copy.csv'", "only queries are answered here"),
    ],
)
def test_a_bad_statement_is_one_clear_line(engine, sql, message) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        answer(engine, sql, {})
    status, out, err = run(engine, [sql])
    assert (status, out) == (2, "")
    assert err.startswith("error: ")
    assert err.count("\n") == 1


def test_a_console_goes_on_after_an_error_and_ends_at_quit(engine, lake) -> None:
    lines = iter(
        ["select count(*) as n", f"from {PURCHASES};", "select * from nothing_here;", f"{BY_HOUR};", "\\q", "select 1;"]
    )
    status, out, err = run(engine, statements(lines), fmt="json", keep_going=True)
    assert status == 2, "an error is reported in the exit status"
    answers = [json.loads(line) for line in out.splitlines()]
    assert answers[0] == {"n": len(lake.rows[PURCHASES])}
    assert [tuple(a.values()) for a in answers[1:]] == expected_by_hour(lake), "nothing after \\q"
    assert err.count("error: ") == 1


def test_statements_split_at_line_ends_with_a_semicolon() -> None:
    assert list(statements(iter(["select 1;", "select", "  2;", "", "select 3"]))) == [
        "select 1;",
        "select\n  2;",
        "\nselect 3",
    ]


def test_main_answers_from_the_settings_engine(monkeypatch, engine, lake, capsys) -> None:
    monkeypatch.setattr(query, "engine_from_settings", lambda settings: engine)
    assert query.main([BY_HOUR, "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(expected_by_hour(lake)) + 1
    with pytest.raises(SystemExit):
        query.main(["select 1", "--param", "no-equals-sign"])


def test_a_metastore_that_does_not_answer_is_one_line_with_a_hint(tmp_path) -> None:
    from eventlake.analytics.engines import DuckDBEngine, MetastoreLocations
    from eventlake.settings import load_settings
    from eventlake.stack.testing import free_ports

    settings = load_settings(home=tmp_path, metastore_uri=f"thrift://127.0.0.1:{free_ports(1)[0]}")
    locations = MetastoreLocations(settings)
    engine = DuckDBEngine(locations, on_close=locations.close)
    try:
        status, out, err = run(engine, [f"select count(*) from {PURCHASES}"])
    finally:
        engine.close()
    assert (status, out) == (2, "")
    assert err.startswith("error: the metastore is not answering: ")
    assert err.rstrip().endswith("(is the stack up? make up)")


def test_console_commands_list_the_tables_and_describe_one(engine) -> None:
    from eventlake.catalog.derive import lake_tables

    lines = iter(["\\dt", "\\d game_item_purchased", "\\d curated_events", "\\d nothing", "\\x", "select 1 as one;"])
    status, out, err = run(engine, statements(lines), fmt="json", keep_going=True)
    answers = [json.loads(line) for line in out.splitlines()]
    listed = {row["name"]: row["kind"] for row in answers if "kind" in row}
    assert listed == {**{t.name: "table" for t in lake_tables()}, "curated_events": "view"}
    purchased = {row["column"]: row["partition"] for row in answers if "partition" in row}
    assert purchased["event_id"] is False
    assert purchased["event_date"] is True
    assert "price" in purchased
    assert {row["column"] for row in answers if row.get("view") == "curated_events"} >= {"event_id", "user_id"}
    assert answers[-1] == {"one": 1}
    assert status == 2
    assert "error: unknown table 'nothing'" in err
    assert "error: unknown command '\\x'" in err
