"""Partition pruning for the embedded engine: which ``event_date`` and ``event_hour`` partitions a question reads.

Trino prunes a Hive table's partitions itself; the embedded engine hands DuckDB a list of files, so it
must pick the partitions before it lists their files, or every report would open the whole history.
The questions filter on the partition columns (``event_date between :first_date and :last_date``, and
``event_hour = 13`` for one hour), so the bounds come from the SQL and its parameters (sqlglot, never
string matching):

- a reference to a table gets the ``event_date`` and ``event_hour`` bounds of the ``where`` of the
  ``select`` that reads it (top-level ``and`` terms: ``=``, ``<``, ``<=``, ``>``, ``>=``, ``between``,
  ``in`` against a literal or a parameter), intersected with the bounds of whatever reads that
  ``select`` when it is the body of a CTE (the union over the CTE's references);
- a table read twice gets the union of its references; anything not understood reads everything.

Bounds are inclusive and only ever wider than the filter (``<`` counts as ``<=``; the two columns are
bounded each on its own, so a union of two references is the box around both): DuckDB still applies
the filter to the rows, so pruning can make a question cheaper, never different.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlglot import exp

from eventlake.analytics.sqltext import shared_tree
from eventlake.lake import ALL_PARTITIONS, PARTITION_DATE, PARTITION_HOUR, PartitionBounds


def partition_bounds(sql: str, parameters: Mapping[str, Any]) -> dict[str, PartitionBounds]:
    """The partition bounds of every table or view a question reads (CTE names excluded)."""
    tree = shared_tree(sql)
    ctes = {cte.alias_or_name: cte for cte in tree.find_all(exp.CTE)}
    references: dict[str, list[exp.Table]] = {}
    for table in tree.find_all(exp.Table):
        references.setdefault(table.name, []).append(table)
    resolver = _Resolver(ctes, references, parameters)
    return {
        name: PartitionBounds.union(resolver.reference(table, frozenset()) for table in tables)
        for name, tables in references.items()
        if name not in ctes
    }


class _Resolver:
    def __init__(
        self, ctes: dict[str, exp.CTE], references: dict[str, list[exp.Table]], parameters: Mapping[str, Any]
    ) -> None:
        self.ctes = ctes
        self.references = references
        self.parameters = parameters

    def reference(self, table: exp.Table, seen: frozenset[str]) -> PartitionBounds:
        """Bounds of the rows one table reference contributes."""
        holder = table.parent
        select = holder.parent if isinstance(holder, (exp.From, exp.Join)) else None
        if not isinstance(select, exp.Select):
            return ALL_PARTITIONS
        own = self._where(select, table)
        return own.intersect(self._reader_bounds(select, seen))

    def _reader_bounds(self, select: exp.Select, seen: frozenset[str]) -> PartitionBounds:
        """What reads this select's rows restricts them: the references of the CTE it is the body of."""
        node: exp.Expr = select
        while isinstance(node.parent, (exp.SetOperation, exp.Subquery)) and not isinstance(node.parent, exp.CTE):
            node = node.parent
        cte = node.parent
        if not isinstance(cte, exp.CTE):
            return ALL_PARTITIONS  # the statement's own query (or something not followed): every row counts
        name = cte.alias_or_name
        if name in seen:  # a recursive CTE: give up
            return ALL_PARTITIONS
        readers = self.references.get(name, [])
        return (
            PartitionBounds.union(self.reference(ref, seen | {name}) for ref in readers) if readers else ALL_PARTITIONS
        )

    def _where(self, select: exp.Select, table: exp.Table) -> PartitionBounds:
        where = select.args.get("where")
        if where is None:
            return ALL_PARTITIONS
        single_source = not select.args.get("joins")
        names = {table.alias_or_name, table.name}
        bounds = ALL_PARTITIONS
        for term in _conjuncts(where.this):
            bounds = bounds.intersect(self._term(term, names, single_source))
        return bounds

    def _term(self, term: exp.Expr, names: set[str], single_source: bool) -> PartitionBounds:
        def partition_column(node: exp.Expr) -> str | None:
            if not isinstance(node, exp.Column) or node.name not in (PARTITION_DATE, PARTITION_HOUR):
                return None
            ours = node.table in names if node.table else single_source
            return node.name if ours else None

        if isinstance(term, exp.Between) and (column := partition_column(term.this)):
            return self._range(column, term.args.get("low"), term.args.get("high"))
        if isinstance(term, exp.In) and (column := partition_column(term.this)) and term.expressions:
            return PartitionBounds.union(self._range(column, value, value) for value in term.expressions)
        if isinstance(term, (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
            left, right = term.this, term.expression
            op: type[exp.Expr]
            if column := partition_column(left):
                value, op = right, type(term)
            elif column := partition_column(right):
                value, op = left, _MIRROR.get(type(term), type(term))
            else:
                return ALL_PARTITIONS
            if op is exp.EQ:
                return self._range(column, value, value)
            return self._range(column, value, None) if op in (exp.GT, exp.GTE) else self._range(column, None, value)
        return ALL_PARTITIONS

    def _range(self, column: str, low: exp.Expr | None, high: exp.Expr | None) -> PartitionBounds:
        """The bounds of ``low <= column <= high``; a side that is not a known value is open."""
        if column == PARTITION_DATE:
            return PartitionBounds(first_date=_iso_date(self._value(low)), last_date=_iso_date(self._value(high)))
        return PartitionBounds(first_hour=_hour(self._value(low)), last_hour=_hour(self._value(high)))

    def _value(self, node: exp.Expr | None) -> Any:
        """The value of a literal, a parameter or a cast of one (a number literal as an int); None otherwise."""
        while isinstance(node, (exp.Cast, exp.Paren)):
            node = node.this
        if isinstance(node, exp.Placeholder):
            return self.parameters.get(str(node.name))
        if isinstance(node, exp.Literal):
            text = str(node.this)
            return text if node.is_string else int(text) if text.isdigit() else None
        return None


_MIRROR: dict[type[exp.Expr], type[exp.Expr]] = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE}


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def _iso_date(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            return None
    return None


def _hour(value: Any) -> int | None:
    """An hour from an int (a bool is not one); None if it is something else."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
