"""The curated tables in the Hive Metastore: DDL from the catalog, partition locations, publishing.

Reads and publishing talk thrift to the metastore directly (``pymetastore``'s generated Hive
client), so readers such as the analytics need no JVM; creating tables runs the catalog's DDL
through Spark SQL (``spark_jobs/create_tables.py``), which is what Trino and Spark read back.
Publishing a curated version is ONE metastore call: ``alter_partition`` (new location of an
existing partition) or ``add_partition`` (a new one); ``publish_all`` publishes the partitions of a
compaction run with one ``alter_partitions`` and one ``add_partitions`` call per table.

Every change of partitions made here (publish, add, drop) then sets the database parameter
:data:`PARTITIONS_CHANGED` anew, so a reader that keeps the locations it read (the embedded engine,
:class:`eventlake.analytics.engines.MetastoreLocations`) learns whether they still hold with one
``get_database`` call instead of one lookup per table.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from eventlake.catalog import QUARANTINE_TABLE, LakeTable, hive_ddl, lake_tables
from eventlake.lake import PARTITION_DATE, PARTITION_HOUR, HourPartition, PartitionBounds, partition_event_date

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from eventlake.settings import EventlakeSettings

log = logging.getLogger(__name__)

#: Database parameter set to a new value (``<UTC time> <random>``) after every change of partitions this
#: client makes; readers that cache partition locations compare it (see the module docstring).
PARTITIONS_CHANGED = "eventlake.partitions_changed"

_MAX_PARTITIONS = -1  # thrift's "all"
_NAMES_PER_CALL = 500  # partitions fetched by name per call
# Up to this many partitions within bounds are fetched one by one by their values (see partitions_within).
_PARTITIONS_BY_VALUES = 4


def lake_table_location(settings: EventlakeSettings, table: LakeTable) -> str:
    """Where a lake table's files live: the quarantine's folder, or the table's folder in the curated zone."""
    return settings.quarantine_uri if table.name == QUARANTINE_TABLE else f"{settings.curated_uri}/{table.name}"


def create_tables(spark: SparkSession, settings: EventlakeSettings) -> list[str]:
    """Create the database and every lake table (curated, quarantine) that does not exist yet; returns their names."""
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{settings.hive_database}` LOCATION '{settings.curated_uri}'")
    tables = lake_tables()
    for table in tables:
        spark.sql(hive_ddl(table, database=settings.hive_database, location=lake_table_location(settings, table)))
    return [table.name for table in tables]


class MetastoreClient:
    """A thin wrapper of the thrift client with the few calls the platform needs."""

    def __init__(self, client: Any, database: str) -> None:
        self._client = client
        self.database = database

    def tables(self) -> list[str]:
        return list(self._client.get_all_tables(self.database))

    def table_location(self, table: str) -> str:
        return str(self._client.get_table(self.database, table).sd.location)

    def partitions_token(self) -> str:
        """The database's :data:`PARTITIONS_CHANGED` value ("" before the first change): one metastore call."""
        parameters = self._client.get_database(self.database).parameters or {}
        return str(parameters.get(PARTITIONS_CHANGED, ""))

    def _partitions_changed(self) -> None:
        """Give :data:`PARTITIONS_CHANGED` a new value, after partitions changed.

        A failure is logged, not raised: the change itself is done, and readers' cached locations expire
        on their own (``query_metastore_cache_seconds``, below the superseded versions' grace).
        """
        from thrift.Thrift import TException

        token = f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {uuid.uuid4().hex[:12]}"
        try:
            database = self._client.get_database(self.database)
            database.parameters = {**(database.parameters or {}), PARTITIONS_CHANGED: token}
            self._client.alter_database(self.database, database)
        except TException as error:
            log.warning("could not set %s on database %s: %s", PARTITIONS_CHANGED, self.database, error)

    def partition_locations(
        self, table: str, *, event_dates: Callable[[str], bool] | None = None
    ) -> dict[HourPartition, str]:
        """Every partition of a table (or those ``event_dates`` accepts) with the location it points at."""
        partitions = self.partitions(table, event_dates=event_dates)
        return {_hour(list(values)): location for values, location in partitions.items()}

    def partitions(self, table: str, *, event_dates: Callable[[str], bool] | None = None) -> dict[tuple[str, ...], str]:
        """Every partition of any lake table (its values, in partition-column order) with its location.

        With ``event_dates``, only partitions whose ``event_date`` it accepts (tables partitioned by
        something else are returned whole): their names are listed, then only those partitions fetched.
        """
        if event_dates is None:
            return _locations(self._client.get_partitions(self.database, table, _MAX_PARTITIONS))
        return _locations(self._named(table, lambda name: _accepts(name, event_dates)))

    def partitions_within(self, table: str, bounds: PartitionBounds) -> dict[tuple[str, ...], str]:
        """The partitions of a table within the bounds (values, in partition-column order, and location).

        A few partitions (one hour of one day) are fetched by their values, as every writer spells them
        (ISO date, hour without leading zero): ``get_partition`` runs the metastore's prepared queries,
        about 6 ms a table here, where a filter or a list of names goes through its direct SQL, which
        inlines the partition ids and so is compiled anew each time (about 25 ms on Derby). More are
        fetched in one call where the metastore can filter on ``event_hour`` (an int; it can with direct
        SQL, Hive's default), otherwise their names are listed and only those within the bounds fetched.
        The table must have every partition column the bounds bound.
        """
        from pymetastore.hive_metastore.ttypes import MetaException

        if bounds.unbounded:
            return self.partitions(table)
        hours = bounds.hours(_PARTITIONS_BY_VALUES)
        if hours is not None:
            located = {hour: self.partition_location(table, hour) for hour in hours}
            return {tuple(_values(hour)): location for hour, location in located.items() if location is not None}
        try:
            found = self._client.get_partitions_by_filter(self.database, table, _filter(bounds), _MAX_PARTITIONS)
        except MetaException:
            # Without direct SQL, Hive filters on string partition keys only ("Filtering is supported only
            # on partition keys of type string").
            found = self._named(table, bounds.accepts)
        return _locations(found)

    def _named(self, table: str, accepts: Callable[[str], bool]) -> list[Any]:
        """The partitions whose names ``accepts`` takes: the names are listed, then only those fetched."""
        names = [
            name for name in self._client.get_partition_names(self.database, table, _MAX_PARTITIONS) if accepts(name)
        ]
        return [
            partition
            for start in range(0, len(names), _NAMES_PER_CALL)
            for partition in self._client.get_partitions_by_names(
                self.database, table, names[start : start + _NAMES_PER_CALL]
            )
        ]

    def add_partitions(self, table: str, locations: dict[tuple[str, ...], str]) -> list[tuple[str, ...]]:
        """Register the partitions that are not registered yet (existing ones keep their location)."""
        from pymetastore.hive_metastore.ttypes import AlreadyExistsException

        registered = self.partitions(table)
        missing = {values: location for values, location in locations.items() if values not in registered}
        if not missing:
            return []
        table_sd = self._client.get_table(self.database, table).sd
        added = []
        for values, location in sorted(missing.items()):
            try:
                self._client.add_partition(self._new_partition(table, table_sd, list(values), location))
                added.append(values)
            except AlreadyExistsException:
                continue  # registered by a concurrent run in between: same directory, nothing to do
        if added:
            self._partitions_changed()
        return added

    def partition_location(self, table: str, hour: HourPartition) -> str | None:
        from pymetastore.hive_metastore.ttypes import NoSuchObjectException

        try:
            return str(self._client.get_partition(self.database, table, _values(hour)).sd.location)
        except NoSuchObjectException:
            return None

    def publish(self, table: str, hour: HourPartition, location: str) -> None:
        """Point a partition at ``location`` in one metastore call (alter, or add when new), then mark the change."""
        from pymetastore.hive_metastore.ttypes import AlreadyExistsException, NoSuchObjectException

        try:
            partition = self._client.get_partition(self.database, table, _values(hour))
        except NoSuchObjectException:
            table_sd = self._client.get_table(self.database, table).sd
            new_partition = self._new_partition(table, table_sd, _values(hour), location)
            try:
                self._client.add_partition(new_partition)
                self._partitions_changed()
                return
            except AlreadyExistsException:
                # Added by someone else between the two calls: fall through to an alter.
                partition = self._client.get_partition(self.database, table, _values(hour))
        partition.sd.location = location
        self._client.alter_partition(self.database, table, partition)
        self._partitions_changed()

    def publish_all(self, table: str, locations: Mapping[HourPartition, str]) -> None:
        """Point every given partition at its location: one ``add_partitions`` call for the new ones, one
        ``alter_partitions`` for the existing ones (each is one metastore transaction)."""
        from pymetastore.hive_metastore.ttypes import AlreadyExistsException

        if not locations:
            return
        names = [_name(hour) for hour in locations]
        existing = {_hour(p.values): p for p in self._client.get_partitions_by_names(self.database, table, names)}
        new = [hour for hour in locations if hour not in existing]
        if new:
            table_sd = self._client.get_table(self.database, table).sd
            partitions = [self._new_partition(table, table_sd, _values(hour), locations[hour]) for hour in new]
            try:
                self._client.add_partitions(partitions)
            except AlreadyExistsException:
                # One was added by someone else meanwhile (and none of ours were): publish them one by one.
                for hour in new:
                    self.publish(table, hour, locations[hour])
        if existing:
            for hour, partition in existing.items():
                partition.sd.location = locations[hour]
            self._client.alter_partitions(self.database, table, list(existing.values()))
        self._partitions_changed()

    def _new_partition(self, table: str, table_sd: Any, values: list[str], location: str) -> Any:
        """A partition of ``table`` at ``location``, described like the table (columns, format, serde)."""
        from pymetastore.hive_metastore.ttypes import Partition

        # Shallow: partitions share the table's columns and serde, which are only serialised.
        sd = copy.copy(table_sd)
        sd.location = location
        return Partition(values=values, dbName=self.database, tableName=table, sd=sd, parameters={})

    def drop_partition(self, table: str, hour: HourPartition) -> None:
        """Forget a partition (its files stay; tables are external)."""
        self._client.drop_partition(self.database, table, _values(hour), False)
        self._partitions_changed()


@contextmanager
def connect(settings: EventlakeSettings, *, timeout_ms: int = 30_000) -> Iterator[MetastoreClient]:
    """A metastore client for the settings' thrift URI, closed on exit."""
    from pymetastore.hive_metastore import ThriftHiveMetastore
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport

    parsed = urlparse(settings.metastore_uri.split(",")[0])
    socket = TSocket.TSocket(parsed.hostname or "127.0.0.1", parsed.port or 9083)
    socket.setTimeout(timeout_ms)
    transport = TTransport.TBufferedTransport(socket)
    transport.open()
    # The accelerated protocol decodes in C: a partition is some hundred thrift fields (its columns).
    protocol = TBinaryProtocol.TBinaryProtocolAccelerated(transport)
    try:
        yield MetastoreClient(ThriftHiveMetastore.Client(protocol), settings.hive_database)
    finally:
        transport.close()


def table_location(settings: EventlakeSettings, table: str) -> str:
    """Location of a curated table, from the metastore (no Spark needed)."""
    with connect(settings) as client:
        return client.table_location(table)


def partition_locations(settings: EventlakeSettings, table: str) -> dict[HourPartition, str]:
    """Every partition of a curated table with its current location, from the metastore (no Spark needed)."""
    with connect(settings) as client:
        return client.partition_locations(table)


def _accepts(name: str, event_dates: Callable[[str], bool]) -> bool:
    """Whether a partition name (``event_date=2026-11-24/event_hour=9``) has an accepted event_date."""
    day = partition_event_date(name)
    return day is None or event_dates(day)


def _filter(bounds: PartitionBounds) -> str:
    """A metastore partition filter for the bounds (``event_date >= "2026-11-24" and event_hour <= 13``).

    The values are ISO dates and ints (as the pruning makes them), so nothing needs escaping.
    """
    sides = (
        (PARTITION_DATE, ">=", bounds.first_date),
        (PARTITION_DATE, "<=", bounds.last_date),
        (PARTITION_HOUR, ">=", bounds.first_hour),
        (PARTITION_HOUR, "<=", bounds.last_hour),
    )
    return " and ".join(
        f'{column} {op} "{value}"' if isinstance(value, str) else f"{column} {op} {value}"
        for column, op, value in sides
        if value is not None
    )


def _locations(partitions: list[Any]) -> dict[tuple[str, ...], str]:
    return {tuple(partition.values): str(partition.sd.location) for partition in partitions}


def _values(hour: HourPartition) -> list[str]:
    return [hour.event_date, str(hour.event_hour)]


def _name(hour: HourPartition) -> str:
    """Hive's name of a partition, ``event_date=2026-11-24/event_hour=9``."""
    return hour.path


def _hour(values: list[str]) -> HourPartition:
    return HourPartition(values[0], int(values[1]))
