"""The Trino engine: qmark bind parameters in order, every row fetched, results as Arrow."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventlake.analytics.engines import TrinoEngine, engine_from_settings
from eventlake.analytics.intervals import ReportInterval
from eventlake.analytics.questions import question_by_name
from eventlake.analytics.views import derived_views
from eventlake.settings import REPO_ROOT, load_settings

DAY = ReportInterval(datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))


class FakeCursor:
    def __init__(self, rows, description) -> None:
        self.rows, self.description, self.executed, self.fetched, self.closed = rows, description, [], False, False

    def execute(self, sql, params=None) -> None:
        self.executed.append((sql, params))

    def fetchall(self):
        self.fetched = True
        return self.rows

    def close(self) -> None:
        self.closed = True


class FakeConnection:
    def __init__(self, cursor) -> None:
        self._cursor, self.closed = cursor, False

    def cursor(self):
        return self._cursor

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_trino(monkeypatch):
    from airflow.providers.trino.hooks import trino as trino_hooks

    state = {}

    class FakeHook:
        def __init__(self, trino_conn_id: str) -> None:
            state["conn_id"] = trino_conn_id

        def get_conn(self):
            state["connection"] = FakeConnection(state["cursor"])
            return state["connection"]

    monkeypatch.setattr(trino_hooks, "TrinoHook", FakeHook)
    return state


def test_runs_the_question_with_ordered_bind_parameters_and_fetches_everything(fake_trino) -> None:
    fake_trino["cursor"] = FakeCursor(
        [("sword", "gold", 2, 50)], [("item",), ("item_kind",), ("purchases",), ("revenue",)]
    )
    sql = question_by_name("game_purchases_by_item").sql(REPO_ROOT / "sql")
    table = TrinoEngine().run(sql, DAY.parameters())
    assert table.to_pylist() == [{"item": "sword", "item_kind": "gold", "purchases": 2, "revenue": 50}]
    ((text, params),) = fake_trino["cursor"].executed
    assert ":" not in text.replace("::", "")
    assert text.count("?") == 4
    assert params == [
        "2026-11-24",
        "2026-11-24",
        datetime(2026, 11, 24),
        datetime(2026, 11, 25),
    ]
    assert fake_trino["conn_id"] == "trino_default"
    assert fake_trino["cursor"].fetched
    assert fake_trino["cursor"].closed
    assert fake_trino["connection"].closed


def test_an_empty_result_keeps_its_columns(fake_trino) -> None:
    fake_trino["cursor"] = FakeCursor([], [("item",), ("views",)])
    table = TrinoEngine().run("select item, views from t where event_date = :first_date", DAY.parameters())
    assert table.num_rows == 0
    assert table.column_names == ["item", "views"]


def test_settings_choose_the_engine(tmp_path) -> None:
    assert isinstance(engine_from_settings(load_settings(query_engine="trino", home=tmp_path)), TrinoEngine)
    duck = engine_from_settings(load_settings(query_engine="duckdb", home=tmp_path))
    assert duck.name == "duckdb"
    duck.close()


def test_a_derived_view_is_registered_once_before_the_first_question_that_reads_it(fake_trino) -> None:
    fake_trino["cursor"] = FakeCursor([("game.paid", 3)], [("event_type",), ("events",)])
    engine = TrinoEngine()
    events_sql = question_by_name("platform_events_per_type_per_hour").sql(REPO_ROOT / "sql")
    engine.run(events_sql, DAY.parameters())
    engine.run(question_by_name("platform_landing_to_curated_delay").sql(REPO_ROOT / "sql"), DAY.parameters())
    engine.run(question_by_name("game_purchases_by_item").sql(REPO_ROOT / "sql"), DAY.parameters())
    statements = [text for text, _ in fake_trino["cursor"].executed]
    assert statements[0] == derived_views()["curated_events"].create_sql("trino")
    assert statements[0].startswith("CREATE OR REPLACE VIEW curated_events AS SELECT")
    assert len(statements) == 4
    assert sum("curated_events" in text for text in statements[1:]) == 2
