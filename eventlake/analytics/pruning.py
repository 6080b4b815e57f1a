"""Partition pruning for the embedded engine: which ``event_date`` partitions a question can read.

Trino prunes a Hive table's partitions itself; the embedded engine hands DuckDB a list of files, so it
must pick the partitions before it lists their files, or every report would open the whole history.
The questions filter on the partition column (``event_date between :first_date and :last_date``), so
the bounds come from the SQL and its parameters (sqlglot, never string matching):

- a reference to a table gets the ``event_date`` bounds of the ``where`` of the ``select`` that reads
  it (top-level ``and`` terms: ``=``, ``<``, ``<=``, ``>``, ``>=``, ``between``, ``in`` against a literal
  or a parameter), intersected with the bounds of whatever reads that ``select`` when it is the body
  of a CTE (the union over the CTE's references);
- a table read twice gets the union of its references; anything not understood reads everything.

Bounds are inclusive and only ever wider than the filter (``<`` counts as ``<=``): DuckDB still applies
the filter to the rows, so pruning can make a question cheaper, never different.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlglot import exp

from eventlake.analytics.sqltext import parse

PARTITION_DATE = "event_date"


@dataclass(frozen=True)
class DateBounds:
    """Inclusive ``event_date`` bounds (ISO dates); None is open on that side."""

    first: str | None = None
    last: str | None = None

    @property
    def unbounded(self) -> bool:
        return self.first is None and self.last is None

    def contains(self, day: str) -> bool:
        return (self.first is None or day >= self.first) and (self.last is None or day <= self.last)

    def intersect(self, other: DateBounds) -> DateBounds:
        firsts = [d for d in (self.first, other.first) if d is not None]
        lasts = [d for d in (self.last, other.last) if d is not None]
        return DateBounds(max(firsts) if firsts else None, min(lasts) if lasts else None)

    @staticmethod
    def union(bounds: Iterable[DateBounds]) -> DateBounds:
        items = list(bounds)
        if not items or any(b.first is None for b in items):
            first = None
        else:
            first = min(b.first for b in items if b.first is not None)
        if not items or any(b.last is None for b in items):
            last = None
        else:
            last = max(b.last for b in items if b.last is not None)
        return DateBounds(first, last)


ALL_DATES = DateBounds()


def event_date_bounds(sql: str, parameters: Mapping[str, Any]) -> dict[str, DateBounds]:
    """The ``event_date`` bounds of every table or view a question reads (CTE names excluded)."""
    tree = parse(sql)
    ctes = {cte.alias_or_name: cte for cte in tree.find_all(exp.CTE)}
    references: dict[str, list[exp.Table]] = {}
    for table in tree.find_all(exp.Table):
        references.setdefault(table.name, []).append(table)
    resolver = _Resolver(ctes, references, parameters)
    return {
        name: DateBounds.union(resolver.reference(table, frozenset()) for table in tables)
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

    def reference(self, table: exp.Table, seen: frozenset[str]) -> DateBounds:
        """Bounds of the rows one table reference contributes."""
        holder = table.parent
        select = holder.parent if isinstance(holder, (exp.From, exp.Join)) else None
        if not isinstance(select, exp.Select):
            return ALL_DATES
        own = self._where(select, table)
        return own.intersect(self._reader_bounds(select, seen))

    def _reader_bounds(self, select: exp.Select, seen: frozenset[str]) -> DateBounds:
        """What reads this select's rows restricts them: the references of the CTE it is the body of."""
        node: exp.Expr = select
        while isinstance(node.parent, (exp.SetOperation, exp.Subquery)) and not isinstance(node.parent, exp.CTE):
            node = node.parent
        cte = node.parent
        if not isinstance(cte, exp.CTE):
            return ALL_DATES  # the statement's own query (or something not followed): every row counts
        name = cte.alias_or_name
        if name in seen:  # a recursive CTE: give up
            return ALL_DATES
        readers = self.references.get(name, [])
        return DateBounds.union(self.reference(ref, seen | {name}) for ref in readers) if readers else ALL_DATES

    def _where(self, select: exp.Select, table: exp.Table) -> DateBounds:
        where = select.args.get("where")
        if where is None:
            return ALL_DATES
        single_source = not select.args.get("joins")
        names = {table.alias_or_name, table.name}
        bounds = ALL_DATES
        for term in _conjuncts(where.this):
            bounds = bounds.intersect(self._term(term, names, single_source))
        return bounds

    def _term(self, term: exp.Expr, names: set[str], single_source: bool) -> DateBounds:
        def is_partition(node: exp.Expr) -> bool:
            if not isinstance(node, exp.Column) or node.name != PARTITION_DATE:
                return False
            return node.table in names if node.table else single_source

        if isinstance(term, exp.Between) and is_partition(term.this):
            return DateBounds(self._value(term.args.get("low")), self._value(term.args.get("high")))
        if isinstance(term, exp.In) and is_partition(term.this) and term.expressions:
            values = [self._value(e) for e in term.expressions]
            if all(v is not None for v in values):
                return DateBounds(min(v for v in values if v), max(v for v in values if v))
            return ALL_DATES
        if isinstance(term, (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
            left, right = term.this, term.expression
            op: type[exp.Expr]
            if is_partition(left):
                value, op = self._value(right), type(term)
            elif is_partition(right):
                value, op = self._value(left), _MIRROR.get(type(term), type(term))
            else:
                return ALL_DATES
            if value is None:
                return ALL_DATES
            if op is exp.EQ:
                return DateBounds(value, value)
            return DateBounds(value, None) if op in (exp.GT, exp.GTE) else DateBounds(None, value)
        return ALL_DATES

    def _value(self, node: exp.Expr | None) -> str | None:
        """An ISO date from a literal, a parameter or a cast of one; None if it is something else."""
        while isinstance(node, (exp.Cast, exp.Paren)):
            node = node.this
        if isinstance(node, exp.Placeholder):
            return _iso_date(self.parameters.get(str(node.name)))
        if isinstance(node, exp.Literal) and node.is_string:
            return _iso_date(node.this)
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
