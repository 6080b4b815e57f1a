"""Ad-hoc SQL over the lake tables, in the questions' dialect (Trino), on the engine the settings choose.

    python -m eventlake.analytics.query "select event_hour, count(*) as n from game_item_purchased
        where event_date = '2026-11-24' group by 1 order by 1"
    python -m eventlake.analytics.query --file sql/game_purchases_by_item.sql --interval 2026-11-24
    python -m eventlake.analytics.query          # a console: statements end with ';', \\q or Ctrl-D quits;
                                                 # \\dt lists the tables and views, \\d NAME a table's columns
    make query SQL="select ..."                  # the same, `make query` for the console

The tables are the catalog's (one per event type, and the quarantine) and the derived views of
``sql/``; ``:name`` parameters come from ``--param name=value`` or, for the questions' own
``:interval_start``, ``:interval_end``, ``:first_date`` and ``:last_date``, from ``--interval``. The
embedded engine (DuckDB) reads the partitions the metastore publishes, nothing half-written; in a
console it keeps the locations it read while the metastore's change token holds, so asking again
costs one metastore call. Each answer is followed by its row count and time (on stderr); errors are
one line, and a console goes on after them. Only queries are answered: the console reads the lake,
it never changes it (no DDL, no ``insert``, no ``copy``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import pyarrow as pa
from sqlglot import exp

from eventlake.analytics.engines import QueryEngine, engine_from_settings
from eventlake.analytics.intervals import ReportInterval
from eventlake.analytics.sqltext import parameter_names, parse

FORMATS = ("table", "csv", "json")
PROMPT, CONTINUATION = "eventlake> ", "       ...> "


class QueryError(ValueError):
    """A statement that cannot be run as given (parse error, missing parameter, unknown table...)."""


def interval_of(text: str) -> ReportInterval:
    """An interval id (``20261124T0000Z--20261125T0000Z``) or a UTC day (``2026-11-24``)."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return ReportInterval.parse_id(text)
    return ReportInterval(day, day + timedelta(days=1))


def statement_parameters(sql: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters the statement uses, each of them given; QueryError naming the missing ones."""
    names = dict.fromkeys(parameter_names(sql))
    missing = [name for name in names if name not in given]
    if missing:
        raise QueryError(
            f"missing parameter(s) {', '.join(missing)}: give --param NAME=VALUE, or --interval for the "
            "questions' interval_start, interval_end, first_date and last_date"
        )
    return {name: given[name] for name in names}


def answer(engine: QueryEngine, sql: str, given: Mapping[str, Any]) -> pa.Table:
    """Run one statement; engine and SQL errors become a QueryError with the engine's message."""
    from thrift.transport.TTransport import TTransportException

    text = sql.strip().rstrip(";").strip()
    if not text:
        raise QueryError("empty statement")
    try:
        tree = parse(text)
    except Exception as error:
        raise QueryError(f"not one SQL statement: {_first_line(error)}") from None
    if not isinstance(tree, exp.Query):
        raise QueryError(f"only queries are answered here (select, with ... select), not {type(tree).__name__.lower()}")
    parameters = statement_parameters(text, given)
    try:
        return engine.run(text, parameters)
    except KeyError as error:  # the engine's "unknown table"
        raise QueryError(str(error.args[0]) if error.args else str(error)) from None
    except (TTransportException, OSError, EOFError) as error:
        raise QueryError(f"the metastore is not answering: {_first_line(error)} (is the stack up? make up)") from None
    except Exception as error:
        raise QueryError(f"{type(error).__name__}: {_first_line(error)}") from None


def describe(name: str | None = None) -> pa.Table:
    """``\\dt``: the tables and views there are; ``\\d NAME``: a table's or view's columns."""
    from eventlake.analytics.views import derived_views
    from eventlake.catalog.derive import lake_tables

    tables, views = {t.name: t for t in lake_tables()}, derived_views()
    if name is None:
        return pa.Table.from_pylist(
            [{"name": t.name, "kind": "table", "description": t.description} for t in tables.values()]
            + [{"name": v.name, "kind": "view", "description": v.description} for v in views.values()]
        )
    if name in tables:
        table = tables[name]
        return pa.Table.from_pylist(
            [
                {"column": column, "type": kind, "partition": partition, "description": description}
                for partition, columns in ((False, table.columns), (True, table.partitions))
                for column, kind, description in columns
            ]
        )
    if name in views:
        return pa.Table.from_pylist([{"column": column, "view": name} for column in views[name].columns])
    raise QueryError(f"unknown table {name!r} (\\dt lists them)")


def meta_command(text: str) -> pa.Table:
    """A console's backslash command: ``\\dt``, ``\\d NAME``."""
    command, _, argument = text.strip().rstrip(";").partition(" ")
    if command == "\\dt" and not argument.strip():
        return describe()
    if command == "\\d":
        return describe(argument.strip() or None)
    raise QueryError(f"unknown command '{command}': \\dt lists the tables, \\d NAME describes one, \\q quits")


def write_result(table: pa.Table, fmt: str, out: IO[str], *, max_rows: int) -> None:
    """The result as a box table (DuckDB's rendering), CSV with a header, or JSON lines."""
    if fmt == "json":
        for row in table.to_pylist():
            out.write(json.dumps(row, default=str) + "\n")
    elif fmt == "csv":
        import pyarrow.csv as pacsv

        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink)
        out.write(sink.getvalue().to_pybytes().decode())
    else:
        import duckdb

        with duckdb.connect() as con:
            out.write(str(con.from_arrow(table.slice(0, max_rows))))
        if table.num_rows > max_rows:
            out.write(f"({table.num_rows - max_rows:,} more rows not shown; --max-rows, or --format csv)\n")


def statements(lines: Iterator[str]) -> Iterator[str]:
    """Statements of a console's lines: each ends with a ';' at the end of a line; ``\\q`` ends the input."""
    pending: list[str] = []
    for line in lines:
        if not pending and line.strip() in ("\\q", "quit", "exit"):
            return
        if not pending and line.strip().startswith("\\"):
            yield line.strip()  # a command: one line, no ';'
            continue
        pending.append(line)
        if line.rstrip().endswith(";"):
            yield "\n".join(pending)
            pending = []
    if "".join(pending).strip():
        yield "\n".join(pending)


def _console_lines(interactive: bool) -> Iterator[str]:
    if not interactive:
        yield from (line.rstrip("\n") for line in sys.stdin)
        return
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (history and line editing for input())
    prompt = PROMPT
    while True:
        try:
            line = input(prompt)
        except EOFError:
            print(file=sys.stderr)
            return
        yield line
        prompt = PROMPT if line.rstrip().endswith(";") or not line.strip() else CONTINUATION


def run_statements(
    engine: QueryEngine,
    sqls: Iterator[str] | Sequence[str],
    given: Mapping[str, Any],
    *,
    fmt: str = "table",
    max_rows: int = 40,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    keep_going: bool = False,
) -> int:
    """Answer each statement in turn; 0 if all were answered, 2 after the first error (or at the end)."""
    out, err = out or sys.stdout, err or sys.stderr
    status = 0
    for sql in sqls:
        started = time.perf_counter()
        try:
            table = meta_command(sql) if sql.lstrip().startswith("\\") else answer(engine, sql, given)
        except QueryError as error:
            err.write(f"error: {error}\n")
            status = 2
            if not keep_going:
                return status
            continue
        write_result(table, fmt, out, max_rows=max_rows)
        out.flush()
        rows = "row" if table.num_rows == 1 else "rows"
        err.write(f"({table.num_rows:,} {rows} in {time.perf_counter() - started:.3f}s)\n")
    return status


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _parameter(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name, value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eventlake.analytics.query",
        description="Ad-hoc SQL (Trino dialect) over the lake tables; a console without SQL or --file.",
    )
    parser.add_argument("sql", nargs="?", help="one statement; none: read statements from a console or stdin")
    parser.add_argument("--file", type=argparse.FileType("r"), help="a statement from a file (e.g. sql/*.sql)")
    parser.add_argument("--interval", type=interval_of, help="a UTC day (2026-11-24) or an interval id")
    parser.add_argument("--param", type=_parameter, action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--max-rows", type=int, default=40, help="rows shown in table format (default 40)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine reads (files, partitions)")
    args = parser.parse_args(argv)
    if args.sql and args.file:
        parser.error("give SQL or --file, not both")

    from eventlake.settings import load_settings

    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    given: dict[str, Any] = args.interval.parameters() if args.interval else {}
    given |= dict(args.param)
    settings = load_settings()
    engine = engine_from_settings(settings)
    try:
        if args.sql or args.file:
            sql = args.sql if args.sql else args.file.read()
            return run_statements(engine, [sql], given, fmt=args.format, max_rows=args.max_rows)
        interactive = sys.stdin.isatty()
        if interactive:
            sys.stderr.write(
                f"eventlake query console ({engine.name}, database {settings.hive_database}): "
                "statements end with ';', \\dt lists the tables, \\d NAME describes one, \\q quits\n"
            )
        return run_statements(
            engine,
            statements(_console_lines(interactive)),
            given,
            fmt=args.format,
            max_rows=args.max_rows,
            keep_going=interactive,
        )
    finally:
        engine.close()


if __name__ == "__main__":
    raise SystemExit(main())
