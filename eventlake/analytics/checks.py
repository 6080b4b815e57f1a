"""Data-quality checks on a report's result: they gate publication.

Each check is a pure function of the result table. A failed check fails the run with a message
naming the check, and the previously published version of the report stays in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check on one result."""

    check: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class RowCount:
    """The result has between ``min_rows`` and ``max_rows`` rows."""

    min_rows: int = 0
    max_rows: int | None = None

    @property
    def name(self) -> str:
        upper = "" if self.max_rows is None else str(self.max_rows)
        return f"row_count[{self.min_rows}..{upper}]"

    def evaluate(self, table: pa.Table) -> CheckResult:
        rows = table.num_rows
        ok = rows >= self.min_rows and (self.max_rows is None or rows <= self.max_rows)
        return CheckResult(self.name, ok, f"{rows} rows")


@dataclass(frozen=True)
class NotNull:
    """None of ``columns`` holds a NULL."""

    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"not_null({', '.join(self.columns)})"

    def evaluate(self, table: pa.Table) -> CheckResult:
        missing = [c for c in self.columns if c not in table.column_names]
        if missing:
            return CheckResult(self.name, False, f"missing columns: {', '.join(missing)}")
        nulls = {c: table.column(c).null_count for c in self.columns}
        bad = {c: n for c, n in nulls.items() if n}
        detail = ", ".join(f"{c}: {n} null(s)" for c, n in bad.items()) or "no nulls"
        return CheckResult(self.name, not bad, detail)


@dataclass(frozen=True)
class InRange:
    """Every non-NULL value of ``column`` lies in ``[low, high]`` (either bound may be open)."""

    column: str
    low: float | None = None
    high: float | None = None

    @property
    def name(self) -> str:
        low = "" if self.low is None else _number(self.low)
        high = "" if self.high is None else _number(self.high)
        return f"range({self.column} in [{low}..{high}])"

    def evaluate(self, table: pa.Table) -> CheckResult:
        if self.column not in table.column_names:
            return CheckResult(self.name, False, f"missing column {self.column}")
        column = table.column(self.column)
        if column.type == pa.null() or table.num_rows == 0:
            return CheckResult(self.name, True, "no values")
        values = column.cast(pa.float64()) if pa.types.is_decimal(column.type) else column
        outside = pa.array([False] * table.num_rows)
        if self.low is not None:
            outside = pc.or_(outside, pc.fill_null(pc.less(values, self.low), False))
        if self.high is not None:
            outside = pc.or_(outside, pc.fill_null(pc.greater(values, self.high), False))
        count = pc.sum(outside.cast(pa.int64())).as_py() or 0
        extremes = pc.min_max(values).as_py()
        detail = f"{count} value(s) outside; min {extremes['min']}, max {extremes['max']}"
        return CheckResult(self.name, count == 0, detail)


Check = RowCount | NotNull | InRange


def _number(value: float | Decimal) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def evaluate_checks(checks: tuple[Check, ...], table: pa.Table) -> list[CheckResult]:
    """Run every check on the result; never stops at the first failure."""
    return [check.evaluate(table) for check in checks]
