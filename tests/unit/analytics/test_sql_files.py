"""Every SQL file parses as Trino, passes sqlfluff, and matches the question registry and the catalog."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlglot import exp as sqlglot_exp

from eventlake.analytics.questions import QUESTIONS, question_by_name
from eventlake.analytics.sqltext import parameter_names, parse, referenced_tables, to_duckdb, to_qmark
from eventlake.analytics.views import derived_views, input_tables
from eventlake.catalog.events import EVENT_TYPES
from eventlake.settings import REPO_ROOT

SQL_DIR = REPO_ROOT / "sql"
SQL_FILES = sorted(SQL_DIR.glob("*.sql"))
KNOWN_PARAMETERS = {"interval_start", "interval_end", "first_date", "last_date"}


def test_registry_and_files_agree() -> None:
    assert {p.stem for p in SQL_FILES} == {q.name for q in QUESTIONS}


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.stem)
def test_parses_as_trino_and_transpiles(path: Path) -> None:
    sql = path.read_text()
    tree = parse(sql)
    assert tree.key == "select"
    assert set(parameter_names(sql)) <= KNOWN_PARAMETERS
    assert "interval_start" in parameter_names(sql) or "first_date" in parameter_names(sql)
    assert "$interval_start" in to_duckdb(sql) or "$first_date" in to_duckdb(sql)
    qmark, names = to_qmark(sql)
    assert qmark.count("?") == len(names)
    assert ":interval" not in qmark


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.stem)
def test_style_lowercase_keywords_and_one_question(path: Path) -> None:
    sql = path.read_text()
    assert sql.startswith("-- "), "each file starts with the question it answers"
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    assert not re.search(r"\b(SELECT|FROM|WHERE|GROUP BY|ORDER BY|WITH)\b", code)
    assert ";" not in code


def test_sqlfluff_passes_on_every_file() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sqlfluff", "lint", str(SQL_DIR), "--config", str(REPO_ROOT / ".sqlfluff")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["platform_events_per_type_per_hour", "platform_landing_to_curated_delay"])
def test_platform_questions_cover_every_curated_table(name: str) -> None:
    tables = referenced_tables(question_by_name(name).sql(SQL_DIR))
    assert tables == {"curated_events"}, "per-type copies belong in the derived view, not in sql/"
    assert input_tables(tables) == {et.table for et in EVENT_TYPES}


def test_quarantine_rate_covers_every_table_and_the_quarantine() -> None:
    tables = referenced_tables(question_by_name("platform_quarantine_rate").sql(SQL_DIR))
    assert input_tables(tables) == {et.table for et in EVENT_TYPES} | {"landing_quarantine"}


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.stem)
def test_no_file_repeats_a_per_table_block(path: Path) -> None:
    tables = referenced_tables(path.read_text())
    assert len(tables - set(derived_views())) <= 2, "a question over many tables reads a derived view"


def test_curated_events_has_one_branch_per_event_type_with_the_same_columns() -> None:
    view = derived_views()["curated_events"]
    assert view.tables == {et.table for et in EVENT_TYPES}
    tree = parse(view.sql)
    selects = list(tree.find_all(sqlglot_exp.Select))
    assert len(selects) == len(EVENT_TYPES)
    assert {tuple(s.named_selects) for s in selects} == {view.columns}
    domains = {s.selects[view.columns.index("event_domain")].this.name for s in selects}
    assert domains == {et.domain for et in EVENT_TYPES}
    for dialect in ("trino", "duckdb", "spark"):
        assert view.create_sql(dialect).lower().startswith("create or replace view curated_events as select")


def test_qmark_keeps_order_and_repeats() -> None:
    sql = "select 1 where a >= :interval_start and b < :interval_end and c = ':not_a_param' and d >= :interval_start"
    text, names = to_qmark(sql)
    assert names == ["interval_start", "interval_end", "interval_start"]
    assert text == "select 1 where a >= ? and b < ? and c = ':not_a_param' and d >= ?"
