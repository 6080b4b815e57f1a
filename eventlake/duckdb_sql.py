"""Spelling DuckDB SQL from the catalog: identifiers, string literals, and Hive column types in DuckDB."""

from __future__ import annotations


def quote_identifier(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_type(hive_type: str, *, timestamp: str = "TIMESTAMP") -> str:
    """The DuckDB type of a Hive column type; ``timestamp`` is what Hive's ``timestamp`` becomes
    (``TIMESTAMP`` to read as the engines do, ``TIMESTAMPTZ`` to write Parquet instants adjusted to UTC)."""
    hive_type = hive_type.lower()
    if hive_type.startswith("decimal"):
        return hive_type.upper()
    return {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "timestamp": timestamp, "binary": "BLOB"}[
        hive_type
    ]
