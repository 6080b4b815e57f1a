"""Engines that answer the questions: Trino (distributed stack) and DuckDB (embedded), same SQL.

DuckDB reads the lake tables' Parquet files itself, typed as the catalog declares them
(:func:`eventlake.catalog.derive.lake_tables`). Where each table's partitions live comes from the
metastore (:class:`MetastoreLocations`), so it sees exactly the ``v=<version>``
directories the metastore publishes, never a half-written or superseded version.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack, closing
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

import pyarrow as pa

from eventlake.analytics.pruning import partition_bounds
from eventlake.analytics.sqltext import referenced_tables, references_column, to_duckdb, to_qmark
from eventlake.analytics.views import CURATED_AT, FILE_MODIFIED_TIME, DerivedView, derived_views
from eventlake.catalog.derive import LakeTable, lake_tables
from eventlake.duckdb_sql import duckdb_type, quote_identifier, sql_string
from eventlake.lake import PartitionBounds, is_hidden

if TYPE_CHECKING:
    import duckdb

    from eventlake.metastore import MetastoreClient
    from eventlake.settings import EventlakeSettings

log = logging.getLogger(__name__)


#: (table name, partition bounds) -> locations of its partitions (a curated ``v=<version>`` or a
#: quarantine_date directory URI). A provider may return partitions outside the bounds (they are dropped).
LocationsProvider = Callable[[str, PartitionBounds], Iterable[str]]


class QueryEngine(Protocol):
    """Runs one Trino-dialect question with named parameters and returns the whole result."""

    name: str

    def run(self, sql: str, parameters: Mapping[str, Any]) -> pa.Table: ...

    def close(self) -> None: ...


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    raise ValueError(f"the embedded engine reads local files only, not {uri!r}")


def _visible_parquet_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == ".parquet" and not is_hidden(p.name) and p.is_file())


class MetastoreLocations:
    """Partition locations from the metastore (only the partitions within the bounds are fetched).

    One thrift connection serves every table an engine reads (opened on first use, closed with the
    engine); a failed call drops it, and the next opens a new one. (Lookups of several tables at once,
    each on its own connection, were slower: a new connection's first call costs the metastore more.)
    """

    def __init__(self, settings: EventlakeSettings) -> None:
        self.settings = settings
        self._connection: ExitStack | None = None
        self._client: MetastoreClient | None = None

    def __call__(self, table: str, bounds: PartitionBounds) -> list[str]:
        from pymetastore.hive_metastore.ttypes import NoSuchObjectException

        from eventlake.metastore import connect

        if self._client is None:
            self._connection = ExitStack()
            self._client = self._connection.enter_context(connect(self.settings))
        try:
            partitions = self._client.partitions_within(table, bounds)
        except NoSuchObjectException:
            log.warning("table %s is not in the metastore yet: read as empty", table)
            return []
        except Exception:
            self.close()
            raise
        return sorted(partitions.values())

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = self._client = None


def metastore_locations(settings: EventlakeSettings) -> MetastoreLocations:
    """Partition locations from the metastore (see :class:`MetastoreLocations`)."""
    return MetastoreLocations(settings)


@cache
def _database() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB database; each engine is a connection to it (opening a database costs ~40 ms)."""
    import duckdb

    return duckdb.connect(":memory:")


@cache
def _create_view_sql(name: str) -> str:
    """A derived view's DuckDB statement (a temporary view: each engine's own)."""
    return derived_views()[name].create_sql("duckdb", temporary=True)


class DuckDBEngine:
    """Embedded engine: DuckDB over the lake's Parquet, one connection per engine with its own (temporary) views.

    The connections share the process's in-memory database, and so its settings (``threads``).
    """

    name = "duckdb"

    def __init__(
        self, locations: LocationsProvider, *, threads: int | None = None, on_close: Callable[[], None] | None = None
    ) -> None:
        """``on_close`` releases what the provider holds (the metastore connection), when the engine closes."""
        self._locations = locations
        self._on_close = on_close
        self._con = _database().cursor()
        self._con.execute("set TimeZone = 'UTC'")
        if threads:
            self._con.execute(f"set threads = {int(threads)}")
        self._views: dict[str, tuple[bool, PartitionBounds]] = {}
        self._table_files: dict[tuple[str, PartitionBounds], list[Path]] = {}
        self._lock = threading.Lock()
        self._tables = {table.name: table for table in lake_tables()}

    @classmethod
    def from_settings(cls, settings: EventlakeSettings) -> DuckDBEngine:
        locations = metastore_locations(settings)
        return cls(locations, on_close=locations.close)

    def run(self, sql: str, parameters: Mapping[str, Any]) -> pa.Table:
        with self._lock:
            needs_mtime = needs_file_time(sql)
            views = derived_views()
            # Tables before the views over them (DuckDB binds a view's query when it is created).
            for table, bounds in sorted(_table_bounds(sql, parameters).items(), key=lambda i: (i[0] in views, i[0])):
                self._register(table, needs_mtime, bounds)
            text = to_duckdb(sql)
            used = {name: parameters[name] for name in parameters if f"${name}" in text}
            return _trino_like(self._con.sql(text, params=used).to_arrow_table())

    def close(self) -> None:
        self._con.close()
        if self._on_close is not None:
            self._on_close()

    def _register(self, table: str, with_mtime: bool, bounds: PartitionBounds) -> None:
        """(Re)create a table's view over the files of its partitions within the bounds."""
        if self._views.get(table) == (with_mtime, bounds):
            return
        view = derived_views().get(table)
        if view is not None:  # its tables are registered by name (see _table_bounds); views bind late
            self._con.execute(_create_view_sql(view.name))
        elif table in self._tables:
            self._con.execute(self._table_view(self._tables[table], with_mtime, bounds))
        else:
            raise KeyError(f"unknown table {table!r}")
        self._views[table] = (with_mtime, bounds)

    def _table_view(self, table: LakeTable, with_mtime: bool, bounds: PartitionBounds) -> str:
        """A view with the table's columns and types (as the metastore declares them) over its files."""
        name = quote_identifier(table.name)
        columns = [*table.columns, *table.partitions]
        files = self._files(table.name, _pruned(table, bounds))
        casts = [
            f"cast({quote_identifier(column)} as {duckdb_type(kind)}) as {quote_identifier(column)}"
            for column, kind, _ in columns
        ]
        mtime = f"cast(null as timestamptz) as {quote_identifier(FILE_MODIFIED_TIME)}"
        if not files:
            select = ", ".join(
                [*(f"cast(null as {duckdb_type(k)}) as {quote_identifier(c)}" for c, k, _ in columns), mtime]
            )
            return f"create or replace temporary view {name} as select {select} limit 0"
        file_list = "[" + ", ".join(sql_string(str(f)) for f in files) + "]"
        hive_types = ", ".join(f"{sql_string(column)}: {duckdb_type(kind)}" for column, kind, _ in table.partitions)
        source = f"read_parquet({file_list}, hive_partitioning = true, filename = true, hive_types = {{{hive_types}}})"
        if not with_mtime:
            return f"create or replace temporary view {name} as select {', '.join([*casts, mtime])} from {source}"
        # Trino's Hive connector exposes each file's modification time; here it comes from the file system.
        mtimes = ", ".join(f"({sql_string(str(f))}, to_timestamp({os.stat(f).st_mtime!r}))" for f in files)
        return (
            f"create or replace temporary view {name} as select {', '.join(casts)}, m.modified as "
            f"{quote_identifier(FILE_MODIFIED_TIME)} from {source} as t "
            f"join (values {mtimes}) as m(file, modified) on t.filename = m.file"
        )

    def _files(self, table: str, bounds: PartitionBounds) -> list[Path]:
        key = (table, bounds)
        if key not in self._table_files:
            files: list[Path] = []
            locations = [loc for loc in self._locations(table, bounds) if bounds.accepts(loc)]
            for location in locations:
                files.extend(_visible_parquet_files(_local_path(location)))
            log.info("%s: %d files in %d partitions%s", table, len(files), len(locations), _window(bounds))
            self._table_files[key] = files
        return self._table_files[key]


def _table_bounds(sql: str, parameters: Mapping[str, Any]) -> dict[str, PartitionBounds]:
    """Every table and derived view a question reads, with the partition bounds of the rows it needs.

    A derived view passes event_date and event_hour through from each table it reads, so a reference
    to the view bounds those tables; a table read both directly and through a view gets the union of both.
    """
    views = derived_views()
    wanted: dict[str, list[PartitionBounds]] = {}
    for name, bounds in partition_bounds(sql, parameters).items():
        wanted.setdefault(name, []).append(bounds)
        for base in views[name].tables if name in views else ():
            wanted.setdefault(base, []).append(bounds)
    return {name: PartitionBounds.union(bounds) for name, bounds in wanted.items()}


def _pruned(table: LakeTable, bounds: PartitionBounds) -> PartitionBounds:
    """The bounds of the partition columns the table has (the others cannot prune it)."""
    return bounds.restricted_to([column for column, _, _ in table.partitions])


def _window(bounds: PartitionBounds) -> str:
    """The bounds for a log line (empty when unbounded)."""
    if bounds.unbounded:
        return ""
    sides = ["..." if side is None else str(side) for side in dataclasses.astuple(bounds)]
    return " (event_date {} to {}, event_hour {} to {})".format(*sides)


def needs_file_time(sql: str) -> bool:
    """Whether a question reads when its rows' files were written (directly, or through a derived view)."""
    if references_column(sql, FILE_MODIFIED_TIME):
        return True
    views = [derived_views()[name] for name in referenced_tables(sql) if name in derived_views()]
    return any(CURATED_AT in view.columns for view in views) and references_column(sql, CURATED_AT)


def _trino_like(table: pa.Table) -> pa.Table:
    """DuckDB sums and counts integers into HUGEINT (decimal(38,0) in Arrow); Trino gives bigint."""
    huge = pa.decimal128(38, 0)
    if not any(f.type == huge for f in table.schema):
        return table
    schema = pa.schema([f.with_type(pa.int64()) if f.type == huge else f for f in table.schema])
    return table.cast(schema)


class TrinoEngine:
    """Distributed engine: Trino through ``TrinoHook`` on ``trino_default``, every row fetched.

    Fetching matters: a Trino query whose results are never read is cancelled by the coordinator
    while the client reports success.
    """

    name = "trino"

    def __init__(self, conn_id: str = "trino_default") -> None:
        self.conn_id = conn_id
        self._registered: set[str] = set()

    def run(self, sql: str, parameters: Mapping[str, Any]) -> pa.Table:
        from airflow.providers.trino.hooks.trino import TrinoHook

        text, names = to_qmark(sql)
        values = [parameters[name] for name in names]
        hook = TrinoHook(trino_conn_id=self.conn_id)
        with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cursor:
            for view in self._unregistered_views(sql):
                # Replaced once per engine (so per task): the view follows the catalog it was derived from.
                log.info("registering view %s in the metastore (%d tables)", view.name, len(view.tables))
                cursor.execute(view.create_sql("trino"))
                cursor.fetchall()
                self._registered.add(view.name)
            cursor.execute(text, values)
            rows = cursor.fetchall()
            columns = [d[0] for d in cursor.description or ()]
        if not rows:
            return pa.table({c: pa.array([], pa.null()) for c in columns})
        return pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in rows])

    def close(self) -> None:
        """Nothing to release: each question opens and closes its own connection."""

    def _unregistered_views(self, sql: str) -> list[DerivedView]:
        views = derived_views()
        names = sorted(referenced_tables(sql) & set(views) - self._registered)
        return [views[name] for name in names]


def engine_from_settings(settings: EventlakeSettings) -> QueryEngine:
    """The engine the settings choose (``query_engine``)."""
    if settings.query_engine == "trino":
        return TrinoEngine()
    return DuckDBEngine.from_settings(settings)
