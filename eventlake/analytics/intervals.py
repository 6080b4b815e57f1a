"""Data intervals of reports: what a run reads, how it is named on disk and in URLs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Cadence = Literal["hourly", "daily"]
CADENCE_LENGTH: dict[str, timedelta] = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}

_ID_FORMAT = "%Y%m%dT%H%MZ"
INTERVAL_ID = re.compile(r"^\d{8}T\d{4}Z--\d{8}T\d{4}Z$")


@dataclass(frozen=True, order=True)
class ReportInterval:
    """A half-open UTC interval ``[start, end)`` of event time."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("interval bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty interval: {self.start.isoformat()} .. {self.end.isoformat()}")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))

    @classmethod
    def of(cls, start: datetime, end: datetime) -> ReportInterval:
        return cls(start, end)

    @classmethod
    def parse_id(cls, interval_id: str) -> ReportInterval:
        """The interval an id names (``20261124T0000Z--20261125T0000Z``); ValueError if it names none."""
        if not INTERVAL_ID.match(interval_id):
            raise ValueError(f"not an interval id: {interval_id!r}")
        start, _, end = interval_id.partition("--")
        parse = lambda text: datetime.strptime(text, _ID_FORMAT).replace(tzinfo=UTC)  # noqa: E731
        return cls(parse(start), parse(end))

    @property
    def id(self) -> str:
        """Name of the interval in paths and URLs (sortable, no characters that need quoting)."""
        return f"{self.start.strftime(_ID_FORMAT)}--{self.end.strftime(_ID_FORMAT)}"

    @property
    def cadence(self) -> str:
        for name, length in CADENCE_LENGTH.items():
            if self.end - self.start == length:
                return name
        return "custom"

    @property
    def label(self) -> str:
        """Human-readable ``2026-11-24 00:00 .. 2026-11-25 00:00 UTC``."""
        return f"{self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M} UTC"

    def parameters(self) -> dict[str, Any]:
        """Bind parameters of every question (see ``sql/``): naive UTC bounds and partition dates."""
        last_moment = self.end - timedelta(microseconds=1)
        return {
            "interval_start": self.start.replace(tzinfo=None),
            "interval_end": self.end.replace(tzinfo=None),
            "first_date": self.start.strftime("%Y-%m-%d"),
            "last_date": last_moment.strftime("%Y-%m-%d"),
        }


def aligned_interval(moment: datetime, cadence: str) -> ReportInterval:
    """The whole hour or UTC day that contains ``moment``."""
    moment = moment.astimezone(UTC)
    if cadence == "hourly":
        start = moment.replace(minute=0, second=0, microsecond=0)
    elif cadence == "daily":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        raise ValueError(f"unknown cadence {cadence!r}")
    return ReportInterval(start, start + CADENCE_LENGTH[cadence])


def intervals_from_partitions(partitions: list[dict[str, Any]], cadence: str) -> list[ReportInterval]:
    """Distinct intervals of a cadence covering the given ``{event_date, event_hour}`` partitions."""
    found = set()
    for spec in partitions:
        hour = datetime.strptime(str(spec["event_date"]), "%Y-%m-%d").replace(tzinfo=UTC)
        hour += timedelta(hours=int(spec.get("event_hour", 0)))
        found.add(aligned_interval(hour, cadence))
    return sorted(found)
