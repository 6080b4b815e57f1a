"""The Trino SQL of the questions, and what each engine needs of it (sqlglot, never string formatting)."""

from __future__ import annotations

import itertools
from functools import cache, lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

SOURCE_DIALECT = "trino"


def parse(sql: str) -> exp.Expr:
    """Parse one Trino statement; raises ``sqlglot.errors.ParseError`` if it is not one."""
    statements = [s for s in sqlglot.parse(sql, read=SOURCE_DIALECT) if s is not None]
    if len(statements) != 1:
        raise ValueError(f"expected one statement, found {len(statements)}")
    return statements[0]


@lru_cache(maxsize=256)
def shared_tree(sql: str) -> exp.Expr:
    """The statement parsed once per process (~3 ms a question here): for readers only, never to change."""
    return parse(sql)


def parameter_names(sql: str) -> list[str]:
    """Named bind parameters (``:name``) in the order they appear, repeats included."""
    return [name for _, _, name in _placeholders(sql)]


def _placeholders(sql: str) -> list[tuple[int, int, str]]:
    tokens = sqlglot.Dialect.get_or_raise(SOURCE_DIALECT).tokenize(sql)
    found = []
    for colon, name in itertools.pairwise(tokens):
        if colon.token_type == TokenType.COLON and colon.end + 1 == name.start and name.text.isidentifier():
            found.append((colon.start, name.end + 1, name.text))
    return found


def to_qmark(sql: str) -> tuple[str, list[str]]:
    """The SQL with every ``:name`` replaced by ``?`` (Trino's client), and the names in order."""
    pieces, names, position = [], [], 0
    for start, end, name in _placeholders(sql):
        pieces.append(sql[position:start])
        pieces.append("?")
        names.append(name)
        position = end
    pieces.append(sql[position:])
    return "".join(pieces), names


@cache
def to_duckdb(sql: str) -> str:
    """Trino SQL transpiled to DuckDB; named parameters become ``$name``."""
    return parse(sql).sql(dialect="duckdb")


@cache
def to_spark(sql: str) -> str:
    """Trino SQL transpiled to Spark SQL; named parameters stay ``:name`` (``spark.sql(args=...)``)."""
    return parse(sql).sql(dialect="spark")


def referenced_tables(sql: str) -> set[str]:
    """Names of the tables a statement reads (CTE names excluded)."""
    tree = shared_tree(sql)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {table.name for table in tree.find_all(exp.Table) if table.name not in ctes}


def references_column(sql: str, column: str) -> bool:
    return any(c.name == column for c in shared_tree(sql).find_all(exp.Column))
