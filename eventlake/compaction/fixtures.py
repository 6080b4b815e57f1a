"""Landing-zone files in the contract layout, for tests and benchmarks (the stream writes the real ones)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from eventlake.catalog import EventType, example_payload
from eventlake.compaction.storage import Lake
from eventlake.lake import HourPartition, batch_file_name, commit_manifest_name, landing_partition_path

#: Arrow schema of a landing file (envelope, payload JSON, lineage); partition values are in the path.
LANDING_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("schema_version", pa.int32()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("user_id", pa.string()),
        ("user_agent", pa.string()),
        ("client_host", pa.string()),
        ("payload", pa.string()),
        ("kafka_topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
    ]
)


@dataclass
class LandingWriter:
    """Writes landing files like the stream would: one file per batch and partition, lineage offsets growing,
    and the batch's commit manifest."""

    lake: Lake
    rng: random.Random
    topic_prefix: str = "eventlake."
    next_batch_id: int = 0
    next_offset: int = 0
    users: int = 5_000

    def events(self, et: EventType, hour: HourPartition, count: int) -> list[dict[str, Any]]:
        """``count`` fresh events of one type whose event_time falls in ``hour``."""
        rows = []
        for _ in range(count):
            event_time = hour.start + timedelta(microseconds=self.rng.randrange(3_600_000_000))
            rows.append(
                {
                    "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                    "event_type": et.event_type,
                    "schema_version": et.version,
                    "event_time": event_time,
                    "received_at": event_time + timedelta(milliseconds=self.rng.randrange(1, 2_000)),
                    "user_id": f"user-{self.rng.randrange(self.users)}",
                    "user_agent": "eventlake-test/1.0",
                    "client_host": "127.0.0.1",
                    "payload": orjson.dumps(example_payload(et, self.rng)).decode(),
                    "kafka_topic": f"{self.topic_prefix}{et.topic_name}",
                    "kafka_partition": self.rng.randrange(3),
                    "kafka_offset": 0,
                }
            )
        return rows

    def redelivered(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The same events delivered again (a producer retry or a replay): same ids, new offsets."""
        return [dict(row) for row in rows]

    def write(self, et: EventType, hour: HourPartition, rows: list[dict[str, Any]]) -> str:
        """Write one visible landing file for ``rows``; returns its path. Offsets are assigned here."""
        for row in rows:
            row["kafka_offset"] = self.next_offset
            self.next_offset += 1
        batch_id = self.next_batch_id
        self.next_batch_id += 1
        rel_path = f"{landing_partition_path(et.event_type, hour)}/{batch_file_name(batch_id, 0)}"
        path = f"{self.lake.landing}/{rel_path}"
        self.lake.fs.create_dir(path.rpartition("/")[0], recursive=True)
        table = pa.Table.from_pylist(rows, schema=LANDING_SCHEMA)
        with self.lake.fs.open_output_stream(path) as stream:
            pq.write_table(table, stream, compression="zstd")
        # The batch's commit manifest, as the stream writes it (read by retention).
        self.lake.write_json(
            f"{self.lake.commits}/{commit_manifest_name(batch_id)}",
            {"batch_id": batch_id, "files": [{"root": "landing", "path": rel_path, "rows": len(rows)}]},
        )
        return path
