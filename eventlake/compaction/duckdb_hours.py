"""Compaction of one curated partition (table, hour) in DuckDB, run inside the Spark job's tasks.

The Spark job (:func:`eventlake.compaction.runner.write_table`) hands each task a share of a table's
hours (one task per core, :func:`pack`); for each hour, its planned landing files, the files of the
version now published (late events are merged into it), and where to write. The task reads them
with DuckDB, which parses the payload JSON with the catalog's types; on the Arrow table, keeps one row
per ``event_id`` (the copy first delivered on the broker, as :func:`eventlake.compaction.transform.dedupe_events`),
sorts by ``SORT_KEY`` and writes the hour's files. Spark schedules the tasks and collects their counts;
the planning, validation and publishing around them are the same as with the Spark transform.

Why: a landing file holds a few hundred rows, and the cost of compaction is opening files. On 2 cores
Spark's Parquet reader alone spends ~1.2 ms of wall time per landing file (``local[2]``, 2,987 files),
DuckDB ~0.3 ms on one core (measured 2026-12-02; ``BENCHMARKS.md``). DuckDB reads local files here; on
object storage (the distributed stack) it would need its ``httpfs`` extension, which is not bundled,
so there the Spark transform runs (``EVENTLAKE_COMPACTION_ENGINE``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eventlake.catalog import EventType, curated_columns, get_event_type
from eventlake.compaction.transform import SORT_KEY, WINNER_ORDER
from eventlake.compaction.validate import expected_arrow_schema
from eventlake.duckdb_sql import duckdb_type, quote_identifier, sql_string

if TYPE_CHECKING:
    import duckdb


_LOCAL = threading.local()
#: Columns with (nearly) a value per row: a dictionary page would only be abandoned half-way. Writing them
#: plainly took the largest hour's write from 54 to 37 ms and its file from 3.6 to 2.9 MB (2026-12-02).
NO_DICTIONARY = frozenset({"event_id", "event_time", "received_at", "kafka_offset"})


@dataclass(frozen=True)
class HourJob:
    """One task: compact one table's hour from these files into ``output_dir`` (local paths)."""

    event_type: str
    landing_files: tuple[str, ...]
    published_files: tuple[str, ...]
    output_dir: str
    files: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> HourJob:
        document = json.loads(text)
        return cls(
            document["event_type"],
            tuple(document["landing_files"]),
            tuple(document["published_files"]),
            document["output_dir"],
            int(document["files"]),
        )


@dataclass(frozen=True)
class HourResult:
    new_rows: int
    published_rows: int
    kept_rows: int
    files: int


def curated_select(et: EventType, *, from_landing: bool) -> str:
    """The curated columns in catalog order and types; from landing rows, payload fields out of its JSON."""
    payload = {f.name for f in et.fields}
    columns = []
    for name, hive_type, _ in curated_columns(et):
        if from_landing and name in payload:
            source = f"json_extract_string(payload, {sql_string('$.' + name)})"
        else:
            source = quote_identifier(name)
        # Timestamps as instants: written to Parquet adjusted to UTC, as the catalog's curated schema has them.
        kind = duckdb_type(hive_type, timestamp="TIMESTAMPTZ")
        columns.append(f"cast({source} as {kind}) as {quote_identifier(name)}")
    return ", ".join(columns)


def _files(parameter: str) -> str:
    return f"read_parquet(${parameter}, hive_partitioning = false)"


def connection() -> duckdb.DuckDBPyConnection:
    """This thread's DuckDB connection, on one thread (Spark runs one task per core)."""
    con = getattr(_LOCAL, "con", None)
    if con is None:
        import duckdb

        con = duckdb.connect(config={"threads": 1})
        _LOCAL.con = con
    return con


def compact_hour(job: HourJob, con: duckdb.DuckDBPyConnection | None = None) -> HourResult:
    """Merge, dedupe, sort and write one hour into its output directory; its row counts.

    DuckDB reads the files (and parses the payload JSON); the dedupe and the sort run on the Arrow table,
    which for the largest hour of the benchmark's day (100,706 rows in 187 files) took 46 ms where a
    ``row_number()`` window and an ``order by`` in DuckDB took 116 ms (one thread, 2026-12-02).
    """
    con = con or connection()
    et = get_event_type(job.event_type)
    # Landing files are read by path; their hive-style directories add nothing the job does not know.
    new = con.sql(
        f"select {curated_select(et, from_landing=True)} from {_files('files')}",
        params={"files": list(job.landing_files)},
    ).to_arrow_table()
    parts = [new]
    if job.published_files:
        parts.append(
            con.sql(
                f"select {curated_select(et, from_landing=False)} from {_files('files')}",
                params={"files": list(job.published_files)},
            ).to_arrow_table()
        )
    merged = pa.concat_tables(parts) if len(parts) > 1 else new
    kept = first_deliveries(merged)
    kept = kept.take(pc.sort_indices(kept, sort_keys=[(column, "ascending") for column in SORT_KEY]))
    written = write_files(kept.cast(expected_arrow_schema(et)), job.output_dir, job.files)
    return HourResult(new.num_rows, merged.num_rows - new.num_rows, kept.num_rows, written)


def first_deliveries(table: pa.Table) -> pa.Table:
    """One row per ``event_id``: of its copies, the first delivered on the broker (lowest ``WINNER_ORDER``).

    Copies are rare (a client's retry, a late file merged into its published version), so only the rows
    of ids seen more than once are sorted; ties keep the earlier row, so the winner is the same every time.
    """
    counts = pc.value_counts(table.column("event_id"))
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    if len(repeated) == 0:
        return table
    rows = pc.indices_nonzero(pc.is_in(table.column("event_id"), value_set=repeated))
    copies = table.select(["event_id", *WINNER_ORDER]).take(rows).append_column("_row", rows)
    copies = copies.take(
        pc.sort_indices(copies, sort_keys=[(c, "ascending") for c in ("event_id", *WINNER_ORDER, "_row")])
    )
    ids = copies.column("event_id").to_numpy(zero_copy_only=False)
    later_copy = np.concatenate(([False], ids[1:] == ids[:-1]))
    keep = np.ones(table.num_rows, dtype=bool)
    keep[copies.column("_row").to_numpy()[later_copy]] = False
    return table.filter(pa.array(keep))


def write_files(table: pa.Table, directory: str, files: int) -> int:
    """Write the (sorted) rows as up to ``files`` files of consecutive rows; none if there are no rows.

    What an earlier attempt of the task left in the directory is removed first (Spark retries a failed task).
    """
    from pathlib import Path

    for stale in Path(directory).glob("part-*.parquet"):
        stale.unlink()
    if table.num_rows == 0:
        return 0
    Path(directory).mkdir(parents=True, exist_ok=True)
    count = max(1, min(files, table.num_rows))
    dictionary = [name for name in table.column_names if name not in NO_DICTIONARY]
    bounds = [table.num_rows * i // count for i in range(count + 1)]
    for n in range(count):
        part = table.slice(bounds[n], bounds[n + 1] - bounds[n])
        pq.write_table(part, f"{directory}/part-{n:05d}.parquet", compression="zstd", use_dictionary=dictionary)
    return count


#: A task's result rows (``mapInArrow`` output): one per hour, the hour's index and counts.
RESULT_SCHEMA = pa.schema(
    [
        ("job", pa.int32()),
        ("new_rows", pa.int64()),
        ("published_rows", pa.int64()),
        ("kept_rows", pa.int64()),
        ("files", pa.int32()),
    ]
)


def pack(costs: Sequence[float], slots: int) -> list[list[int]]:
    """Indexes of ``costs`` in at most ``slots`` groups of about equal total cost (largest first, to the lightest)."""
    groups: list[list[int]] = [[] for _ in range(max(1, min(slots, len(costs))))]
    loads = [0.0] * len(groups)
    for index in sorted(range(len(costs)), key=lambda i: -costs[i]):
        lightest = loads.index(min(loads))
        groups[lightest].append(index)
        loads[lightest] += costs[index]
    return groups


def run_jobs(
    batches: Iterator[pa.RecordBatch], groups: Sequence[Sequence[tuple[int, str]]]
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body over ``spark.range(len(groups))``: each id is a group of (index, job JSON) to run."""
    for batch in batches:
        rows: dict[str, list[int]] = {name: [] for name in RESULT_SCHEMA.names}
        for group in batch.column(0).to_pylist():
            for index, job in groups[group]:
                result = compact_hour(HourJob.from_json(job))
                for key, value in (("job", index), *asdict(result).items()):
                    rows[key].append(value)
        yield pa.RecordBatch.from_pydict(rows, schema=RESULT_SCHEMA)
