"""Airflow assets of the curated tables: one per table, one event per published partition version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Asset

#: The alias the compaction DAG emits through (one event per published partition, even several per table).
CURATED_ALIAS_NAME = "eventlake-curated-partitions"


def curated_asset_uri(table: str) -> str:
    return f"eventlake://curated/{table}"


def curated_asset(table: str) -> Asset:
    """The asset analytics DAGs schedule on, ``Asset("eventlake://curated/<table>")``."""
    from airflow.sdk import Asset

    return Asset(uri=curated_asset_uri(table), name=f"curated_{table}", group="eventlake")


def asset_event_extra(partition: dict[str, Any]) -> dict[str, Any]:
    """The extra of a curated asset event: which partition, where it now lives, how many rows."""
    return {
        "table": partition["table"],
        "event_date": partition["event_date"],
        "event_hour": partition["event_hour"],
        "location": partition["location"],
        "version": partition["version"],
        "rows": partition["rows_out"],
        "late": partition["late"],
    }
