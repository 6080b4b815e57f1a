"""A query running while its partition is recompacted returns the complete old or the complete new data."""

from __future__ import annotations

import threading
import time

import pytest
from compaction_helpers import HOURS, ITEM, interval_of, land_hours, land_late, read_partition_ids

from eventlake.compaction.runner import run_compaction
from eventlake.lake import HourPartition

pytestmark = pytest.mark.integration


def test_readers_during_recompaction_see_old_or_new_never_a_mix(spark, lake_settings):
    settings = lake_settings
    hour = HOURS[0]
    writer, truth = land_hours(settings)
    for compacted in HOURS:
        run_compaction(spark, settings, **interval_of(compacted))
    old = read_partition_ids(settings, ITEM.table, hour)
    land_late(settings, writer, truth, hour, 200)
    expected_new = frozenset(truth.ids[(ITEM.table, hour)])

    seen: list[tuple[int, frozenset[str]]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_continuously() -> None:
        while not stop.is_set():
            try:
                seen.append(read_partition_ids(settings, ITEM.table, hour))
            except BaseException as error:  # a failed query is a failed guarantee too
                errors.append(error)
                return

    readers = [threading.Thread(target=read_continuously) for _ in range(2)]
    for reader in readers:
        reader.start()
    time.sleep(0.5)
    later = HourPartition(hour.event_date, HOURS[-1].event_hour + 1)
    result = run_compaction(spark, settings, **interval_of(later))
    time.sleep(0.5)
    stop.set()
    for reader in readers:
        reader.join()

    assert not errors
    assert [p.event_hour for p in result.published] == [hour.event_hour]
    new = (len(expected_new), expected_new)
    assert old != new
    assert set(seen) <= {old, new}, "a reader saw a mix, a duplicate or a partial version"
    assert seen[0] == old
    assert seen[-1] == new
    # Spark SQL, which resolves the partition through the metastore per query, sees the new version.
    rows, distinct = spark.sql(
        f"select count(*), count(distinct event_id) from `{settings.hive_database}`.`{ITEM.table}` "
        f"where event_date = '{hour.event_date}' and event_hour = {hour.event_hour}"
    ).first()
    assert rows == distinct == len(expected_new)
