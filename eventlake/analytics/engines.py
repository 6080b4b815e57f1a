"""Engines that answer the questions: Trino (distributed stack) and DuckDB (embedded), same SQL.

DuckDB reads the lake tables' Parquet files itself, typed as the catalog declares them
(:func:`eventlake.catalog.derive.lake_tables`). Where each table's partitions live comes from the
metastore (:class:`MetastoreLocations`), so it sees exactly the ``v=<version>``
directories the metastore publishes, never a half-written or superseded version.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack, closing
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
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

_Key = TypeVar("_Key")
_Item = TypeVar("_Item")


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


class _LocationCache:
    """Partition locations this process read from one metastore database, under one change token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.entries: dict[tuple[str, PartitionBounds], tuple[float, list[str]]] = {}


#: (metastore URI, database) -> the locations read under its latest change token seen.
_LOCATION_CACHES: dict[tuple[str, str], _LocationCache] = {}
_LOCATION_CACHES_LOCK = threading.Lock()


def clear_location_cache() -> None:
    """Forget every partition location this process has cached."""
    with _LOCATION_CACHES_LOCK:
        _LOCATION_CACHES.clear()


class MetastoreLocations:
    """Partition locations from the metastore (only the partitions within the bounds are fetched).

    One thrift connection serves every table an engine reads: taken from the process's pool (or opened)
    on first use, given back when the engine closes; a failed call closes it, and the next opens a new
    one. (Lookups of several tables at once, each on its own connection, were slower: a new connection's
    first call costs the metastore more, which is also why connections are pooled.)

    The locations are kept for the process, per metastore and database, for up to ``cache_seconds``
    (``query_metastore_cache_seconds``) while the database's change token
    (:data:`eventlake.metastore.PARTITIONS_CHANGED`, set anew after every publish) is unchanged: each
    question (:meth:`begin_query`) reads the token once, one ``get_database`` call, and a table's hour is
    looked up again only if the token moved or its entry is older than that. A partition changed by a
    writer that does not set the token (DDL typed into Spark or Trino) is seen at the latest after
    ``cache_seconds``, which the settings keep below the superseded versions' grace, so a cached
    location's files are still there. 0 turns the cache off.
    """

    def __init__(self, settings: EventlakeSettings, *, cache_seconds: float | None = None) -> None:
        self.settings = settings
        self.cache_seconds = settings.query_metastore_cache_seconds if cache_seconds is None else cache_seconds
        self.lookups = 0  # partition lookups sent to the metastore (the cache's misses)
        self._connection: ExitStack | None = None
        self._client: MetastoreClient | None = None
        self._cache: _LocationCache | None = None  # validated for the current question
        self._reused = False  # the connection came from the pool and has not answered since

    def begin_query(self) -> None:
        """A new question: its first lookup reads the metastore's change token again."""
        self._cache = None

    def __call__(self, table: str, bounds: PartitionBounds) -> list[str]:
        from pymetastore.hive_metastore.ttypes import NoSuchObjectException
        from thrift.transport.TTransport import TTransportException

        try:
            try:
                found = self._locations(self._connected(), table, bounds)
            except (TTransportException, OSError, EOFError):
                if not self._reused:
                    raise
                # An idle connection the metastore dropped meanwhile (a restart): once more on a new one.
                log.info("metastore connection from the pool was closed; reconnecting")
                self.close(discard=True)
                found = self._locations(self._connected(reuse=False), table, bounds)
            self._reused = False  # the connection answered
            return found
        except NoSuchObjectException:
            log.warning("table %s is not in the metastore yet: read as empty", table)
            return []
        except Exception:
            self.close(discard=True)
            raise

    def _locations(self, client: MetastoreClient, table: str, bounds: PartitionBounds) -> list[str]:
        if self.cache_seconds <= 0:
            return self._lookup(client, table, bounds)
        cache = self._cache or self._validated(client)
        asked_at = time.monotonic()
        hit = cache.entries.get((table, bounds))
        if hit is not None and asked_at - hit[0] <= self.cache_seconds:
            return list(hit[1])
        found = self._lookup(client, table, bounds)
        cache.entries[(table, bounds)] = (asked_at, found)
        return list(found)

    def _connected(self, *, reuse: bool = True) -> MetastoreClient:
        if self._client is None:
            pooled = _CONNECTIONS.take(self._pool_key) if reuse else None
            self._reused = pooled is not None
            self._connection, self._client = pooled or _open_connection(self.settings)
        return self._client

    def _lookup(self, client: MetastoreClient, table: str, bounds: PartitionBounds) -> list[str]:
        self.lookups += 1
        return sorted(client.partitions_within(table, bounds).values())

    def _validated(self, client: MetastoreClient) -> _LocationCache:
        """The process's cache for this metastore and database, emptied if the change token moved."""
        token = client.partitions_token()
        with _LOCATION_CACHES_LOCK:
            cache = _LOCATION_CACHES.get(self._pool_key)
            if cache is None or cache.token != token:
                # A new object: a question still running under the old token keeps (and fills) its own.
                cache = _LOCATION_CACHES[self._pool_key] = _LocationCache(token)
        self._cache = cache
        return cache

    @property
    def _pool_key(self) -> tuple[str, str]:
        return (self.settings.metastore_uri, self.settings.hive_database)

    def close(self, *, discard: bool = False) -> None:
        """Give the connection back to the process's pool (``discard``: close it, after a failure)."""
        if self._connection is not None and self._client is not None:
            if discard:
                self._connection.close()
            else:
                _CONNECTIONS.give_back(self._pool_key, (self._connection, self._client))
        self._connection = self._client = None
        self._cache = None


class _IdlePool(Generic[_Key, _Item]):
    """What engines leave behind for the next one in this process (metastore connections, DuckDB sessions).

    At most ``keep`` idle items per key; the rest are closed. A forked child starts with an empty pool
    (what the parent holds is not the child's to use).
    """

    def __init__(self, close: Callable[[_Item], None], *, keep: int) -> None:
        self._close = close
        self.keep = keep
        self._idle: dict[_Key, list[_Item]] = {}
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)
        atexit.register(self.close_all)

    def take(self, key: _Key) -> _Item | None:
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def give_back(self, key: _Key, item: _Item) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.keep:
                idle.append(item)
                return
        self._close(item)

    def close_all(self) -> None:
        with self._lock:
            idle = [item for items in self._idle.values() for item in items]
            self._idle.clear()
        for item in idle:
            self._close(item)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._idle = {}


#: Metastore connections per (URI, database). The first call on a new connection costs the embedded
#: metastore 40-140 ms (its per-connection set-up; measured 2026-12-03), one on a connection that has
#: answered before 4-8 ms.
_CONNECTIONS: _IdlePool[tuple[str, str], tuple[ExitStack, MetastoreClient]] = _IdlePool(
    lambda connection: connection[0].close(), keep=2
)


def _open_connection(settings: EventlakeSettings) -> tuple[ExitStack, MetastoreClient]:
    from eventlake.metastore import connect

    stack = ExitStack()
    return stack, stack.enter_context(connect(settings))


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


class _Session:
    """A connection to the process's DuckDB database, and the temporary views it holds (name -> what over)."""

    def __init__(self) -> None:
        self.con = _database().cursor()
        self.con.execute("set TimeZone = 'UTC'")
        self.views: dict[str, tuple[Any, ...]] = {}


#: Idle DuckDB sessions, for the next engine: a question asked again finds its views made. Creating a
#: table's view binds its files (~2 ms a table), so a question over all 16 event tables spends ~40 ms on
#: views before it runs; an engine whose session has views over the same files skips that.
_SESSIONS: _IdlePool[None, _Session] = _IdlePool(lambda session: session.con.close(), keep=4)


class DuckDBEngine:
    """Embedded engine: DuckDB over the lake's Parquet, one connection per engine with its own (temporary) views.

    The connections share the process's in-memory database, and so its settings (``threads``). A closed
    engine's connection, with its views, goes back to a pool for the next engine (``_SESSIONS``);
    a view is used only if it reads exactly the files the new engine's partitions hold.
    """

    name = "duckdb"

    def __init__(
        self, locations: LocationsProvider, *, threads: int | None = None, on_close: Callable[[], None] | None = None
    ) -> None:
        """``on_close`` releases what the provider holds (the metastore connection), when the engine closes."""
        self._locations = locations
        self._on_close = on_close
        self._session: _Session | None = _SESSIONS.take(None) or _Session()
        self._con = self._session.con
        if threads:
            self._con.execute(f"set threads = {int(threads)}")
        self._views = self._session.views
        self._table_files: dict[tuple[str, PartitionBounds], list[Path]] = {}
        self._lock = threading.Lock()
        self._tables = {table.name: table for table in lake_tables()}

    @classmethod
    def from_settings(cls, settings: EventlakeSettings) -> DuckDBEngine:
        locations = metastore_locations(settings)
        return cls(locations, on_close=locations.close)

    def run(self, sql: str, parameters: Mapping[str, Any]) -> pa.Table:
        with self._lock:
            begin_query = getattr(self._locations, "begin_query", None)  # a caching provider's per-question check
            if begin_query is not None:
                begin_query()
            needs_mtime = needs_file_time(sql)
            views = derived_views()
            # Tables before the views over them (DuckDB binds a view's query when it is created).
            for table, bounds in sorted(_table_bounds(sql, parameters).items(), key=lambda i: (i[0] in views, i[0])):
                self._register(table, needs_mtime, bounds)
            text = to_duckdb(sql)
            used = {name: parameters[name] for name in parameters if f"${name}" in text}
            return _trino_like(self._con.sql(text, params=used).to_arrow_table())

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                _SESSIONS.give_back(None, self._session)
                self._session = None
        if self._on_close is not None:
            self._on_close()

    def _register(self, table: str, with_mtime: bool, bounds: PartitionBounds) -> None:
        """(Re)create a table's view over the files of its partitions within the bounds, unless it is that already."""
        view = derived_views().get(table)
        if view is not None:
            # Its SQL names its tables, whose views are registered first (see _table_bounds); DuckDB binds
            # a view's query again each time it is read, so it follows theirs.
            state: tuple[Any, ...] = ("derived",)
            statement = lambda: _create_view_sql(view.name)  # noqa: E731
        elif table in self._tables:
            lake_table = self._tables[table]
            files = self._files(table, _pruned(lake_table, bounds))
            state = (with_mtime, tuple(files))
            statement = lambda: self._table_view(lake_table, with_mtime, files)  # noqa: E731
        else:
            raise KeyError(f"unknown table {table!r}")
        if self._views.get(table) == state:
            return
        self._views.pop(table, None)
        self._con.execute(statement())
        self._views[table] = state

    def _table_view(self, table: LakeTable, with_mtime: bool, files: list[Path]) -> str:
        """A view with the table's columns and types (as the metastore declares them) over the files."""
        name = quote_identifier(table.name)
        columns = [*table.columns, *table.partitions]
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
