"""How the metastore client asks for the partitions within bounds (a fake thrift client)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pymetastore.hive_metastore.ttypes import MetaException, NoSuchObjectException

from eventlake.lake import HourPartition, PartitionBounds
from eventlake.metastore import MetastoreClient

HOURS = [HourPartition("2026-11-24", hour) for hour in (8, 9, 10, 11, 12, 13)]


class StringKeysOnlyMetastore:
    """A metastore without direct SQL: it refuses filters on an int partition key, as Hive does."""

    def __init__(self) -> None:
        self.partitions = {
            hour.path: SimpleNamespace(
                values=[hour.event_date, str(hour.event_hour)],
                sd=SimpleNamespace(location=f"file:/lake/{hour.path}/v=1"),
            )
            for hour in HOURS
        }
        self.calls: list[str] = []

    def get_partitions_by_filter(self, database: str, table: str, where: str, limit: int) -> list[Any]:
        self.calls.append("get_partitions_by_filter")
        raise MetaException("Filtering is supported only on partition keys of type string")

    def get_partition_names(self, database: str, table: str, limit: int) -> list[str]:
        self.calls.append("get_partition_names")
        return list(self.partitions)

    def get_partitions_by_names(self, database: str, table: str, names: list[str]) -> list[Any]:
        self.calls.append("get_partitions_by_names")
        return [self.partitions[name] for name in names]

    def get_partition(self, database: str, table: str, values: list[str]) -> Any:
        self.calls.append("get_partition")
        name = HourPartition(values[0], int(values[1])).path
        if name not in self.partitions:
            raise NoSuchObjectException(name)
        return self.partitions[name]


def test_a_few_partitions_are_fetched_by_their_values() -> None:
    metastore = StringKeysOnlyMetastore()
    got = MetastoreClient(metastore, "db").partitions_within("t", PartitionBounds("2026-11-24", "2026-11-25", 13, 13))
    assert got == {("2026-11-24", "13"): "file:/lake/event_date=2026-11-24/event_hour=13/v=1"}
    assert metastore.calls == ["get_partition", "get_partition"], "one call per hour, the absent one skipped"


def test_a_metastore_that_cannot_filter_on_hours_lists_the_names() -> None:
    metastore = StringKeysOnlyMetastore()
    got = MetastoreClient(metastore, "db").partitions_within("t", PartitionBounds("2026-11-24", "2026-11-24", 9, 13))
    assert sorted(int(hour) for _, hour in got) == [9, 10, 11, 12, 13]
    assert metastore.calls == ["get_partitions_by_filter", "get_partition_names", "get_partitions_by_names"]
