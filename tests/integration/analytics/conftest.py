"""Service fixtures of the analytics tests: a running stack's settings and curated data in it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from analytics_helpers import create_lake_tables

from eventlake.analytics.intervals import ReportInterval
from eventlake.analytics.synthetic import synthetic_events, version_now, write_curated_partition
from eventlake.catalog.derive import lake_tables
from eventlake.catalog.events import EVENT_TYPES
from eventlake.lake import hours_between
from eventlake.settings import EventlakeSettings, load_settings


@pytest.fixture(scope="session")
def analytics_stack(request: pytest.FixtureRequest) -> Iterator[EventlakeSettings]:
    """The stack under test: ``embedded_stack``, or one already running (``EVENTLAKE_TEST_RUNNING_STACK=1``,
    settings from the environment) when iterating on the UI without restarting everything."""
    if os.environ.get("EVENTLAKE_TEST_RUNNING_STACK") == "1":
        yield load_settings()
    else:
        yield request.getfixturevalue("embedded_stack")


def ensure_tables(settings: EventlakeSettings) -> None:
    """Create the lake tables in the stack's metastore if the bootstrap has not."""
    from pymetastore.hive_metastore.ttypes import NoSuchObjectException

    from eventlake.metastore import connect

    with connect(settings) as client:
        try:
            missing = {table.name for table in lake_tables()} - set(client.tables())
        except NoSuchObjectException:  # the database itself does not exist yet
            missing = {table.name for table in lake_tables()}
    if missing:
        create_lake_tables(settings)


def seed_curated(
    settings: EventlakeSettings,
    interval: ReportInterval,
    rows_per_hour: int = 30,
    seed: int = 3,
    *,
    last_hour: int = 23,
) -> dict[str, list[dict]]:
    """Write synthetic curated partitions for the hours of ``interval`` up to ``last_hour`` of a day, publish
    them in the metastore, and return the rows written per table (the truth the reports are checked against)."""
    from eventlake.compaction.storage import Lake
    from eventlake.metastore import connect

    ensure_tables(settings)
    curated = Path(Lake.from_settings(settings).curated)  # the embedded stack's lake is a local folder
    rng = np.random.default_rng(seed)
    version = version_now()
    written_rows: dict[str, list[dict]] = {}
    with connect(settings) as client:
        for et in EVENT_TYPES:
            locations = {}
            for hour in hours_between(interval.start, interval.end):
                if hour.event_hour > last_hour:
                    continue
                table = synthetic_events(et, hour, rows_per_hour, rng, users=40)
                locations[hour] = write_curated_partition(curated, et, hour, table, version=version).location
                written_rows.setdefault(et.table, []).extend(table.to_pylist())
            # One table's hours in one call, as compaction publishes (one by one: ~60 s for a day's 384).
            client.publish_all(et.table, locations)
    return written_rows


def yesterday(now: datetime) -> ReportInterval:
    """The day a manual run of the daily DAG at ``now`` reports on (the last complete UTC day)."""
    from eventlake.analytics.intervals import aligned_interval

    return aligned_interval(now - timedelta(days=1), "daily")


#: Seeding this close to midnight UTC waits for it, so that the day seeded is the day the test's run reports on.
MIDNIGHT_MARGIN_SECONDS = 180


@pytest.fixture(scope="session")
def seed_yesterday(analytics_stack: EventlakeSettings) -> tuple[ReportInterval, dict[str, list[dict]]]:
    """Curated data for the day a manual daily run reports on, published in the stack's metastore."""
    import time
    from datetime import UTC

    # The test triggers the daily DAG within a minute of this; both must mean the same "yesterday".
    now = datetime.now(UTC)
    to_midnight = (now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1) - now).total_seconds()
    if to_midnight < MIDNIGHT_MARGIN_SECONDS:
        time.sleep(to_midnight + 1)
    interval = yesterday(datetime.now(UTC))
    # Not the day's last three hours: between 00:00 and 03:00 UTC the end-to-end test's window (two closed
    # hours ending an hour before now, on the same session's stack) lies in them, and its checks count
    # every event of its hours.
    return interval, seed_curated(analytics_stack, interval, last_hour=20)
