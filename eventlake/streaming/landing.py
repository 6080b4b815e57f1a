"""The landing writer: one micro-batch -> hidden Parquet files -> commit manifest -> visible names.

:func:`encode_files` turns routed rows into finished Parquet files (bytes) and runs inside the Spark
tasks; :class:`LandingWriter` runs on the driver, writes those bytes and commits them. It implements
the commit protocol of :mod:`eventlake.lake`. Idempotent per batch id: Spark replays a batch with the
same id and the same offsets after a crash, so the same rows get the same file names; a batch whose
manifest exists is only rolled forward (renames finished), never written twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from eventlake import lake
from eventlake.streaming.transform import LANDING_COLUMNS, QUARANTINE_COLUMNS

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)

#: Rows are grouped into files by these keys. The sort is stable and a task reads each partition in offset
#: order, so within a file rows stay in (topic, partition, offset) order without sorting on those too.
LANDING_SORT = ("event_type", "event_date", "event_hour")
QUARANTINE_SORT = ("quarantine_date",)
#: Columns worth a Parquet dictionary (few distinct values per file); ids, times and payloads are not.
DICTIONARY_COLUMNS = ["event_type", "user_id", "user_agent", "client_host", "kafka_topic", "kafka_partition", "error"]
#: :func:`encode_files` output, one row per file: where it goes, its rows and offsets, its Parquet bytes.
ENCODED_SCHEMA = pa.schema(
    [
        ("root", pa.string()),
        ("directory", pa.string()),
        ("rows", pa.int64()),
        ("offsets", pa.string()),
        ("data", pa.binary()),
    ]
)


def encoded_spark_schema() -> StructType:
    """``ENCODED_SCHEMA`` as Spark's schema (the source's declared schema, ``mapInArrow``'s result)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(ENCODED_SCHEMA)


@dataclass
class BatchCommit:
    """What one call of :meth:`LandingWriter.write_batch` did."""

    batch_id: int
    landed_rows: int = 0
    quarantined_rows: int = 0
    files: list[str] = field(default_factory=list)
    replayed: bool = False
    committed_at: str = ""


def filesystem_for(uri: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, root path) of a lake URI (``file://`` or a plain path; ``s3``/``s3a`` via pyarrow)."""
    if uri.startswith("s3a://"):
        uri = "s3://" + uri.removeprefix("s3a://")
    if "://" not in uri:
        uri = "file://" + uri
    filesystem, path = pafs.FileSystem.from_uri(uri)
    return filesystem, path.rstrip("/")


class LandingWriter:
    """Writes micro-batches of :func:`eventlake.streaming.transform.route_events` output to the lake."""

    def __init__(
        self,
        landing_uri: str,
        quarantine_uri: str,
        *,
        fencing_check: Callable[[], None] | None = None,
        compression: str = "zstd",
    ) -> None:
        self.fs, self.landing = filesystem_for(landing_uri)
        _, self.quarantine = filesystem_for(quarantine_uri)
        self.commits = f"{self.landing}/{lake.COMMITS_DIR}"
        self.fencing_check = fencing_check or (lambda: None)
        self.compression = compression
        self.last_commit: BatchCommit | None = None
        self._dirs: set[str] = set()

    # --- the protocol -----------------------------------------------------------------------------
    def is_committed(self, batch_id: int) -> bool:
        """True if the batch's manifest exists (its rows are landed, maybe with renames left to do)."""
        return self.fs.get_file_info(self._manifest_path(batch_id)).type == pafs.FileType.File

    def _manifest_path(self, batch_id: int) -> str:
        return f"{self.commits}/{lake.commit_manifest_name(batch_id)}"

    def write_batch(self, table: pa.Table | None, batch_id: int) -> BatchCommit:
        """Land one micro-batch of routed rows exactly once; ``None`` only for committed batches."""
        return self.write_encoded(None if table is None else encode_files(table, self.compression), batch_id)

    def write_encoded(self, files: pa.Table | None, batch_id: int) -> BatchCommit:
        """Land one micro-batch of :func:`encode_files` output exactly once (see the module docstring).

        ``files`` may hold several files for one directory (one per Spark task); ``None`` is allowed only for
        a batch that is already committed (a replay, which is only rolled forward).
        """
        manifest_path = self._manifest_path(batch_id)
        existing = self._read_manifest(manifest_path)
        if existing is not None:
            self._roll_forward(existing)
            log.info("batch %d already committed; rolled forward", batch_id)
            return BatchCommit(batch_id, existing["landed_rows"], existing["quarantined_rows"], replayed=True)
        if files is None:
            raise ValueError(f"batch {batch_id} is not committed and no rows were given")
        if files.num_rows == 0:
            return BatchCommit(batch_id)

        entries = []
        numbers = {"landing": 0, "quarantine": 0}
        # Sorted, so that a retried batch (same offsets, same tasks) numbers its files the same way.
        ordered = files.sort_by([("root", "ascending"), ("directory", "ascending"), ("offsets", "ascending")])
        for root_name, directory, rows, data in zip(
            ordered["root"].to_pylist(),
            ordered["directory"].to_pylist(),
            ordered["rows"].to_pylist(),
            ordered["data"],
            strict=True,
        ):
            root = self.landing if root_name == "landing" else self.quarantine
            n = numbers[root_name]
            numbers[root_name] += 1
            self._write_file(root, directory, data.as_buffer(), batch_id, n)
            path = f"{directory}/{lake.batch_file_name(batch_id, n)}"
            entries.append({"root": root_name, "path": path, "rows": rows})
        self.fencing_check()
        committed_at = datetime.now(UTC).isoformat()
        manifest: dict[str, Any] = {
            "batch_id": batch_id,
            "committed_at": committed_at,
            "landed_rows": sum(e["rows"] for e in entries if e["root"] == "landing"),
            "quarantined_rows": sum(e["rows"] for e in entries if e["root"] == "quarantine"),
            "files": entries,
            "offsets": merge_offset_ranges(json.loads(text) for text in files["offsets"].to_pylist()),
        }
        self._write_manifest(manifest_path, manifest)
        self._roll_forward(manifest)
        commit = BatchCommit(
            batch_id,
            manifest["landed_rows"],
            manifest["quarantined_rows"],
            [f["path"] for f in manifest["files"]],
            committed_at=committed_at,
        )
        self.last_commit = commit
        return commit

    def recover(self, last: int = 3) -> list[int]:
        """Roll forward the newest manifests (only the last batch before a crash can be half-renamed)."""
        names = sorted(
            info.base_name
            for info in self.fs.get_file_info(pafs.FileSelector(self.commits, allow_not_found=True))
            if info.base_name.endswith(".json") and not lake.is_hidden(info.base_name)
        )
        rolled = []
        for name in names[-last:]:
            manifest = self._read_manifest(f"{self.commits}/{name}")
            if manifest is not None and self._roll_forward(manifest):
                rolled.append(manifest["batch_id"])
        return rolled

    # --- pieces -----------------------------------------------------------------------------------
    def _write_file(self, root: str, directory: str, data: pa.Buffer, batch_id: int, n: int) -> None:
        folder = f"{root}/{directory}"
        if folder not in self._dirs:
            self.fs.create_dir(folder, recursive=True)
            self._dirs.add(folder)
        with self.fs.open_output_stream(f"{folder}/{lake.hidden_batch_file_name(batch_id, n)}") as out:
            out.write(data)

    def _write_manifest(self, path: str, manifest: dict[str, Any]) -> None:
        if f"{self.commits}" not in self._dirs:
            self.fs.create_dir(self.commits, recursive=True)
            self._dirs.add(self.commits)
        temporary = f"{self.commits}/.{lake.commit_manifest_name(manifest['batch_id'])}.{time.time_ns()}.tmp"
        with self.fs.open_output_stream(temporary) as out:
            out.write(json.dumps(manifest, indent=1).encode())
        self.fs.move(temporary, path)  # atomic on a local disk: the commit point

    def _read_manifest(self, path: str) -> dict[str, Any] | None:
        try:
            with self.fs.open_input_stream(path) as stream:
                manifest: dict[str, Any] = json.loads(stream.read())
        except FileNotFoundError:
            return None
        return manifest

    def _roll_forward(self, manifest: dict[str, Any]) -> bool:
        """Rename the hidden files of a committed batch to their visible names; True if any were left."""
        renamed = False
        for entry in manifest["files"]:
            root = self.landing if entry["root"] == "landing" else self.quarantine
            directory, _, name = f"{root}/{entry['path']}".rpartition("/")
            hidden = f"{directory}/_{name}"
            if self.fs.get_file_info(hidden).type == pafs.FileType.File:
                self.fs.move(hidden, f"{directory}/{name}")
                renamed = True
            elif self.fs.get_file_info(f"{directory}/{name}").type != pafs.FileType.File:
                raise FileNotFoundError(f"batch {manifest['batch_id']}: committed file {entry['path']} is missing")
        return renamed


def encode_files(routed: pa.Table, compression: str = "zstd") -> pa.Table:
    """Routed rows -> one Parquet file (bytes) per landing partition and quarantine day (``ENCODED_SCHEMA``).

    Pure and deterministic: Spark tasks run it on their share of a micro-batch, so the rows are encoded
    where they were read and only finished files (a few per batch) travel to the driver that commits them.
    """
    if routed.num_rows == 0:
        return ENCODED_SCHEMA.empty_table()
    valid = pc.is_null(routed["error"])
    files = [
        *_encode_landing(routed.filter(valid), compression),
        *_encode_quarantine(routed.filter(pc.invert(valid)), compression),
    ]
    # The offsets of everything this call saw, on each of its files (the manifest keeps their union).
    offsets = json.dumps(_offset_ranges(routed), sort_keys=True)
    return pa.Table.from_pylist([dict(f, offsets=offsets) for f in files], schema=ENCODED_SCHEMA)


def _encode_landing(table: pa.Table, compression: str) -> list[dict[str, Any]]:
    if table.num_rows == 0:
        return []
    table = table.sort_by([(name, "ascending") for name in LANDING_SORT])
    files = []
    for (event_type, event_date, event_hour), group in _groups(table, LANDING_SORT):
        directory = lake.landing_partition_path(event_type, lake.HourPartition(event_date, int(event_hour)))
        files.append(_encoded("landing", directory, group, LANDING_COLUMNS, compression))
    return files


def _encode_quarantine(table: pa.Table, compression: str) -> list[dict[str, Any]]:
    if table.num_rows == 0:
        return []
    # The Kafka timestamp's date (not the wall clock): a replayed batch files its rows identically.
    dates = table["kafka_timestamp"].cast(pa.timestamp("us", tz="UTC")).cast(pa.date32()).cast(pa.string())
    table = table.append_column("quarantine_date", dates).sort_by([(n, "ascending") for n in QUARANTINE_SORT])
    return [
        _encoded("quarantine", f"quarantine_date={quarantine_date}", group, QUARANTINE_COLUMNS, compression)
        for (quarantine_date,), group in _groups(table, QUARANTINE_SORT)
    ]


def _encoded(root: str, directory: str, group: pa.Table, columns: tuple[str, ...], compression: str) -> dict[str, Any]:
    sink = pa.BufferOutputStream()
    pq.write_table(
        group.select(list(columns)),
        sink,
        compression=compression,
        compression_level=1 if compression == "zstd" else None,
        use_dictionary=[name for name in DICTIONARY_COLUMNS if name in columns],
    )
    return {"root": root, "directory": directory, "rows": group.num_rows, "data": sink.getvalue().to_pybytes()}


def _groups(table: pa.Table, keys: tuple[str, ...]) -> list[tuple[tuple[Any, ...], pa.Table]]:
    """Contiguous runs of equal ``keys`` in a table sorted by them, in order (vectorised: no row loop)."""
    if table.num_rows == 0:
        return []
    key = pc.binary_join_element_wise(*[pc.cast(table[k], pa.string()) for k in keys], "\x1f")
    key = key.combine_chunks() if isinstance(key, pa.ChunkedArray) else key
    changed = pc.not_equal(key.slice(1), key.slice(0, len(key) - 1))
    starts = [0, *(pc.indices_nonzero(changed).to_numpy() + 1).tolist()]
    ends = [*starts[1:], table.num_rows]
    return [
        (tuple(table[k][start].as_py() for k in keys), table.slice(start, end - start))
        for start, end in zip(starts, ends, strict=True)
    ]


def _offset_ranges(table: pa.Table) -> dict[str, dict[str, list[int]]]:
    """``{topic: {partition: [first, last]}}`` of some rows (for audits; Spark's checkpoint is the truth)."""
    if table.num_rows == 0:
        return {}
    grouped = table.group_by(["kafka_topic", "kafka_partition"]).aggregate(
        [("kafka_offset", "min"), ("kafka_offset", "max")]
    )
    out: dict[str, dict[str, list[int]]] = {}
    for row in grouped.to_pylist():
        out.setdefault(row["kafka_topic"], {})[str(row["kafka_partition"])] = [
            row["kafka_offset_min"],
            row["kafka_offset_max"],
        ]
    return out


def merge_offset_ranges(ranges: Iterable[dict[str, dict[str, list[int]]]]) -> dict[str, dict[str, list[int]]]:
    """The union of several :func:`_offset_ranges` results: per partition, the first and the last offset."""
    out: dict[str, dict[str, list[int]]] = {}
    for one in ranges:
        for topic, partitions in one.items():
            for partition, (first, last) in partitions.items():
                seen = out.setdefault(topic, {}).get(partition)
                out[topic][partition] = [min(first, seen[0]), max(last, seen[1])] if seen else [first, last]
    return {topic: dict(sorted(parts.items(), key=lambda p: int(p[0]))) for topic, parts in sorted(out.items())}
