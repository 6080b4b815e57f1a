"""The embedded engine's cache of partition locations: reused while the metastore's change token holds.

The metastore client is a fake here (what is cached, when it is asked again); that a publish really
moves the token, and an engine then reads the new version, is tested against a real metastore in
tests/integration/analytics/test_metastore_inputs.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pymetastore.hive_metastore.ttypes import NoSuchObjectException

from eventlake import metastore
from eventlake.analytics import engines
from eventlake.analytics.engines import MetastoreLocations, clear_location_cache
from eventlake.lake import PartitionBounds
from eventlake.settings import load_settings

HOUR = PartitionBounds("2026-11-24", "2026-11-24", 13, 13)
DAY = PartitionBounds("2026-11-24", "2026-11-24", None, None)


class FakeMetastore:
    """Partition locations per table, a change token, and a record of every call."""

    def __init__(self) -> None:
        self.token = "t0"
        self.locations: dict[str, dict[tuple[str, ...], str]] = {"purchases": {("2026-11-24", "13"): "file:/v=1"}}
        self.calls: list[str] = []
        self.connections = 0

    def partitions_token(self) -> str:
        self.calls.append("token")
        return self.token

    def partitions_within(self, table: str, bounds: PartitionBounds) -> dict[tuple[str, ...], str]:
        self.calls.append(f"lookup {table}")
        if table not in self.locations:
            raise NoSuchObjectException(message=f"{table} not found")
        return dict(self.locations[table])

    def publish(self, table: str, location: str) -> None:
        self.locations[table] = {("2026-11-24", "13"): location}
        self.token = f"t{len(self.calls)}"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMetastore]:
    client = FakeMetastore()

    @contextmanager
    def connect(settings: Any, **_: Any) -> Iterator[FakeMetastore]:
        client.connections += 1
        yield client

    monkeypatch.setattr(metastore, "connect", connect)
    clear_location_cache()
    engines._CONNECTIONS.close_all()
    yield client
    clear_location_cache()
    engines._CONNECTIONS.close_all()


def ask(locations: MetastoreLocations, table: str = "purchases", bounds: PartitionBounds = HOUR) -> list[str]:
    """One question reading one table, as the engine asks: a new question, then the table's locations."""
    locations.begin_query()
    return locations(table, bounds)


def test_a_question_asked_again_reads_the_token_only(fake: FakeMetastore, tmp_path) -> None:
    settings = load_settings(home=tmp_path)
    first, second = MetastoreLocations(settings), MetastoreLocations(settings)
    assert ask(first) == ["file:/v=1"]
    assert ask(second) == ["file:/v=1"], "another engine of the process shares the cache"
    assert fake.calls == ["token", "lookup purchases", "token"]
    assert (first.lookups, second.lookups) == (1, 0)


def test_one_token_check_per_question_whatever_the_tables(fake: FakeMetastore, tmp_path) -> None:
    fake.locations["deposits"] = {("2026-11-24", "13"): "file:/d=1"}
    locations = MetastoreLocations(load_settings(home=tmp_path))
    locations.begin_query()
    assert locations("purchases", HOUR) == ["file:/v=1"]
    assert locations("deposits", HOUR) == ["file:/d=1"]
    assert fake.calls == ["token", "lookup purchases", "lookup deposits"]


def test_a_publish_moves_the_token_and_the_next_question_reads_the_new_version(fake: FakeMetastore, tmp_path) -> None:
    locations = MetastoreLocations(load_settings(home=tmp_path))
    assert ask(locations) == ["file:/v=1"]
    fake.publish("purchases", "file:/v=2")
    assert ask(locations) == ["file:/v=2"]
    assert fake.calls == ["token", "lookup purchases", "token", "lookup purchases"]


def test_a_question_in_flight_keeps_the_token_it_began_with(fake: FakeMetastore, tmp_path) -> None:
    """Within one question every table is read as of one token; a publish meanwhile is seen by the next one."""
    locations = MetastoreLocations(load_settings(home=tmp_path))
    assert ask(locations) == ["file:/v=1"]
    fake.publish("purchases", "file:/v=2")
    assert locations("purchases", HOUR) == ["file:/v=1"], "same question: no second token check"
    assert ask(locations) == ["file:/v=2"]


def test_other_bounds_are_other_entries(fake: FakeMetastore, tmp_path) -> None:
    locations = MetastoreLocations(load_settings(home=tmp_path))
    ask(locations, bounds=HOUR)
    ask(locations, bounds=DAY)
    ask(locations, bounds=HOUR)
    assert fake.calls.count("lookup purchases") == 2


def test_an_entry_older_than_the_cache_seconds_is_looked_up_again(
    fake: FakeMetastore, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change made without the token (DDL typed into Spark or Trino) is seen after cache_seconds."""
    now = [1000.0]
    monkeypatch.setattr(engines.time, "monotonic", lambda: now[0])
    locations = MetastoreLocations(load_settings(home=tmp_path, query_metastore_cache_seconds=30))
    ask(locations)
    fake.locations["purchases"] = {("2026-11-24", "13"): "file:/altered"}  # the token stays
    now[0] += 29
    assert ask(locations) == ["file:/v=1"]
    now[0] += 2
    assert ask(locations) == ["file:/altered"]


def test_zero_cache_seconds_asks_for_every_table_every_time(fake: FakeMetastore, tmp_path) -> None:
    locations = MetastoreLocations(load_settings(home=tmp_path, query_metastore_cache_seconds=0))
    ask(locations)
    ask(locations)
    assert fake.calls == ["lookup purchases", "lookup purchases"]


def test_a_table_missing_from_the_metastore_reads_as_empty_and_is_not_cached(fake: FakeMetastore, tmp_path) -> None:
    locations = MetastoreLocations(load_settings(home=tmp_path))
    assert ask(locations, "not_yet") == []
    fake.locations["not_yet"] = {("2026-11-24", "13"): "file:/n=1"}  # created by the bootstrap meanwhile
    assert ask(locations, "not_yet") == ["file:/n=1"]


def test_caches_are_per_metastore_and_database(fake: FakeMetastore, tmp_path) -> None:
    ask(MetastoreLocations(load_settings(home=tmp_path, hive_database="one")))
    ask(MetastoreLocations(load_settings(home=tmp_path, hive_database="two")))
    assert fake.calls.count("lookup purchases") == 2


def test_engines_one_after_another_reuse_one_connection(fake: FakeMetastore, tmp_path) -> None:
    settings = load_settings(home=tmp_path, query_metastore_cache_seconds=0)
    for _ in range(3):
        locations = MetastoreLocations(settings)
        ask(locations)
        locations.close()
    assert fake.connections == 1


def test_a_pooled_connection_the_metastore_dropped_is_replaced_once(fake: FakeMetastore, tmp_path) -> None:
    from thrift.transport.TTransport import TTransportException

    settings = load_settings(home=tmp_path, query_metastore_cache_seconds=0)
    first = MetastoreLocations(settings)
    ask(first)
    first.close()
    answers = fake.partitions_within
    failures = [TTransportException(message="connection reset")]

    def dropped_once(table: str, bounds: PartitionBounds) -> dict[tuple[str, ...], str]:
        if failures:
            raise failures.pop()
        return answers(table, bounds)

    fake.partitions_within = dropped_once  # type: ignore[method-assign]
    assert ask(MetastoreLocations(settings)) == ["file:/v=1"]
    assert fake.connections == 2, "a new connection for the retry"


def test_a_new_connection_that_fails_is_not_retried(fake: FakeMetastore, tmp_path) -> None:
    from thrift.transport.TTransport import TTransportException

    def down(table: str, bounds: PartitionBounds) -> dict[tuple[str, ...], str]:
        raise TTransportException(message="connection refused")

    fake.partitions_within = down  # type: ignore[method-assign]
    locations = MetastoreLocations(load_settings(home=tmp_path, query_metastore_cache_seconds=0))
    with pytest.raises(TTransportException):
        ask(locations)
    assert fake.connections == 1
    assert engines._CONNECTIONS.take(locations._pool_key) is None, "a failed connection is not pooled"


def test_the_cache_cannot_outlive_a_superseded_version(tmp_path) -> None:
    with pytest.raises(ValueError, match="query_metastore_cache_seconds"):
        load_settings(home=tmp_path, query_metastore_cache_seconds=600, compaction_version_grace_minutes=10)
    assert load_settings(home=tmp_path, query_metastore_cache_seconds=599, compaction_version_grace_minutes=10)
