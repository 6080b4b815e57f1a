"""Views the questions read, derived from the event catalog: no per-table copies in ``sql/``.

``curated_events`` is every curated table's envelope in one relation (a ``union all`` with one
branch per event type), so a question over all event types names one view and picks up a new event
type by itself. Each engine registers the same Trino-dialect definition: DuckDB in its in-memory
database, Trino in the metastore (``create or replace view``, stored by its Hive connector), Spark
SQL as a temporary view. Engines push the questions' filters on ``event_date`` (partition pruning)
and ``event_domain`` (a constant per branch, so whole branches drop out) into every branch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from sqlglot import exp

from eventlake.catalog.derive import PARTITION_COLUMNS
from eventlake.catalog.events import EVENT_TYPES

#: Hidden column of Trino's Hive connector: when the row's file was written (= when it was curated).
FILE_MODIFIED_TIME = "$file_modified_time"
#: The view's name for :data:`FILE_MODIFIED_TIME`.
CURATED_AT = "curated_at"
#: Envelope columns ``curated_events`` carries from every curated table (see ``ENVELOPE_COLUMNS``).
CURATED_EVENT_COLUMNS = ("event_id", "event_type", "event_time", "received_at", "user_id")


@dataclass(frozen=True)
class DerivedView:
    """A view over catalog tables: its name, what it is, and its Trino-dialect query."""

    name: str
    description: str
    query: exp.Query

    @property
    def sql(self) -> str:
        """The query in Trino dialect."""
        return self.query.sql(dialect="trino")

    @property
    def tables(self) -> frozenset[str]:
        """The tables the view reads."""
        return frozenset(table.name for table in self.query.find_all(exp.Table))

    @property
    def columns(self) -> tuple[str, ...]:
        first = self.query
        while isinstance(first, exp.SetOperation):
            first = first.this
        return tuple(first.named_selects)

    def create_sql(self, dialect: str, *, temporary: bool = False) -> str:
        """``create or replace [temporary] view <name> as <query>`` in an engine's dialect."""
        statement = exp.Create(
            this=exp.to_table(self.name),
            kind="VIEW",
            replace=True,
            expression=self.query.copy(),
            properties=exp.Properties(expressions=[exp.TemporaryProperty()]) if temporary else None,
        )
        return statement.sql(dialect=dialect)


def _curated_events() -> DerivedView:
    branches = [
        exp.select(
            *CURATED_EVENT_COLUMNS,
            *(name for name, _, _ in PARTITION_COLUMNS),
            exp.alias_(exp.Literal.string(et.domain), "event_domain"),
            exp.alias_(exp.column(FILE_MODIFIED_TIME, quoted=True), CURATED_AT),
        ).from_(et.table)
        for et in EVENT_TYPES
    ]
    query: exp.Query = branches[0]
    for branch in branches[1:]:
        query = exp.union(query, branch, distinct=False)
    return DerivedView(
        "curated_events",
        "Every curated event's envelope, partition and curated file time, with its domain (one branch per type).",
        query,
    )


@cache
def derived_views() -> dict[str, DerivedView]:
    """Every derived view by name."""
    views = (_curated_events(),)
    return {view.name: view for view in views}


def input_tables(tables: Iterable[str]) -> set[str]:
    """The tables behind these names: each derived view replaced by the tables it reads."""
    views = derived_views()
    out: set[str] = set()
    for name in tables:
        out |= views[name].tables if name in views else {name}
    return out
