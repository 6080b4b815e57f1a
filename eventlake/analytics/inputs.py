"""Inputs of the questions that no other job registers in the metastore: the quarantine's partitions.

The stream writes ``quarantine_date=<day>`` directories under ``settings.quarantine_uri`` and does not
talk to the metastore; a metastore reader (Trino, Spark, DuckDB through
:class:`~eventlake.analytics.engines.MetastoreLocations`) sees a day only once its partition is
registered. Each analytics run registers the days that appeared since the last one (adding a
partition is idempotent; existing ones are left alone).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from eventlake.catalog.derive import QUARANTINE_PARTITION_COLUMNS, QUARANTINE_TABLE
from eventlake.lake import is_hidden

if TYPE_CHECKING:
    from eventlake.compaction.storage import Lake
    from eventlake.settings import EventlakeSettings

log = logging.getLogger(__name__)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PARTITION_KEY = QUARANTINE_PARTITION_COLUMNS[0][0]


def quarantine_partitions(lake: Lake, quarantine_uri: str) -> dict[tuple[str, ...], str]:
    """The quarantine's day directories on storage: partition values -> location URI."""
    found: dict[tuple[str, ...], str] = {}
    for info in lake.subdirs(lake.path(quarantine_uri)):
        key, equals, day = info.base_name.partition("=")
        if equals and key == _PARTITION_KEY and _DATE.match(day) and not is_hidden(info.base_name):
            found[(day,)] = lake.uri(info.path)
    return found


def register_quarantine_partitions(settings: EventlakeSettings) -> list[str]:
    """Register every quarantine day on storage that the metastore does not know yet; the days added."""
    from pymetastore.hive_metastore.ttypes import NoSuchObjectException

    from eventlake.compaction.storage import Lake
    from eventlake.metastore import connect

    on_storage = quarantine_partitions(Lake.from_uri(settings, settings.quarantine_uri), settings.quarantine_uri)
    with connect(settings) as client:
        try:
            added = client.add_partitions(QUARANTINE_TABLE, on_storage)
        except NoSuchObjectException:
            raise LookupError(
                f"table {settings.hive_database}.{QUARANTINE_TABLE} is not in the metastore: "
                "run the bootstrap_tables DAG (make up does) to create it"
            ) from None
    days = [values[0] for values in added]
    log.info("quarantine: %d day(s) on storage, %d newly registered %s", len(on_storage), len(days), days)
    return days
