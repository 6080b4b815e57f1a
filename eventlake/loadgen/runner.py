"""Sends a :class:`~eventlake.loadgen.plan.LoadPlan` to the producer API and summarises what happened."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from eventlake.loadgen.plan import LoadPlan, PlannedRequest


@dataclass(frozen=True)
class LoadOptions:
    """How much to send, how fast, how concurrently; where to write the summary and the accepted events."""

    url: str
    count: int | None = 1000
    duration_seconds: float | None = None
    rate_per_second: float | None = None
    concurrency: int = 16
    batch_size: int = 1
    timeout_seconds: float = 10.0
    summary_path: Path | None = None
    events_path: Path | None = None
    progress: bool = True
    #: Attempts per request: a 503 or a lost connection is re-sent with the same event ids.
    send_attempts: int = 1
    #: The client's clock: the ``event_time`` of each event (tests and demos send past hours).
    clock: Callable[[], datetime] | None = None


@dataclass
class LoadSummary:
    """Counts, latency percentiles and the accepted event ids (the JSON written next to the events)."""

    url: str
    seed: int
    started_at: str
    elapsed_seconds: float = 0.0
    requests: int = 0
    sent_events: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    retries_sent: int = 0
    resent_after_503: int = 0
    malformed_sent: int = 0
    unexpected: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    accepted_events_per_second: float = 0.0
    events_path: str | None = None
    accepted_event_ids: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


class _Run:
    def __init__(self, plan: LoadPlan, options: LoadOptions, stop: threading.Event | None = None) -> None:
        self.plan = plan
        self.options = options
        self.stop = stop
        self.source = plan.requests(options.clock or (lambda: datetime.now(UTC)))
        self.summary = LoadSummary(url=options.url, seed=plan.seed, started_at=datetime.now(UTC).isoformat())
        self.latencies: list[float] = []
        self.accepted: dict[str, PlannedRequest] = {}
        #: Wall-clock time of each event id's first 202 (end-to-end latency is measured from it).
        self.acknowledged_at: dict[str, float] = {}
        self.started = time.monotonic()
        self.issued_events = 0
        self.issued_requests = 0
        self.progress: Any = None

    def _next(self) -> list[PlannedRequest] | None:
        """The next request's events, or None when the count, duration or nothing is left."""
        options = self.options
        if options.count is not None and self.issued_events >= options.count:
            return None
        if self.stop is not None and self.stop.is_set():
            return None
        if options.duration_seconds is not None and time.monotonic() - self.started >= options.duration_seconds:
            return None
        size = options.batch_size
        if options.count is not None:
            size = min(size, options.count - self.issued_events)
        first = next(self.source)
        group = [first]
        while size > 1 and first.kind != "malformed" and len(group) < size:
            candidate = next(self.source)
            if candidate.kind == "malformed":
                continue
            group.append(candidate)
        self.issued_events += len(group)
        self.issued_requests += 1
        return group

    async def _pace(self) -> None:
        rate = self.options.rate_per_second
        if rate:
            due = self.started + self.issued_events / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def _request(self, group: list[PlannedRequest]) -> tuple[str, bytes, str]:
        if len(group) == 1 and (self.options.batch_size == 1 or group[0].kind == "malformed"):
            return group[0].path, group[0].body, group[0].content_type
        events = []
        for planned in group:
            event = orjson.loads(planned.body)
            event["event_type"] = planned.event_type
            events.append(event)
        return "/v1/batch", orjson.dumps({"events": events}), "application/json"

    def _record(self, group: list[PlannedRequest], status: int, seconds: float) -> None:
        summary = self.summary
        summary.requests += 1
        summary.sent_events += len(group)
        summary.status_counts[str(status)] = summary.status_counts.get(str(status), 0) + 1
        self.latencies.append(seconds)
        for planned in group:
            summary.retries_sent += planned.kind == "retry"
            summary.malformed_sent += planned.kind == "malformed"
            if status == 202:
                summary.accepted += 1
                if planned.event_id is not None and planned.event_id not in self.accepted:
                    self.accepted[planned.event_id] = planned
                    self.acknowledged_at[planned.event_id] = time.time()
            elif 400 <= status < 500:
                summary.rejected += 1
            else:
                summary.failed += 1
            if (status == 202) != planned.expect_accepted and (status < 500 and status != 0):
                summary.unexpected += 1
        if self.progress is not None:
            self.progress.update(len(group))

    async def worker(self, client: httpx.AsyncClient) -> None:
        while (group := self._next()) is not None:
            await self._pace()
            path, body, content_type = self._request(group)
            # A well-behaved client: on 503 (broker busy or down) or a lost connection it re-sends the
            # same events (same event ids, so a copy the broker did store is deduplicated) after a pause.
            for attempt in range(self.options.send_attempts):
                started = time.perf_counter()
                try:
                    response = await client.post(path, content=body, headers={"Content-Type": content_type})
                    status = response.status_code
                except httpx.HTTPError:
                    status = 0
                if status not in (0, 503) or attempt == self.options.send_attempts - 1:
                    break
                self.summary.resent_after_503 += len(group)
                await asyncio.sleep(min(2.0, 0.25 * 2**attempt))
            self._record(group, status, time.perf_counter() - started)

    async def run(self) -> LoadSummary:
        options = self.options
        if options.progress:
            from tqdm import tqdm

            total = options.count if options.count is not None else None
            self.progress = tqdm(total=total, unit="ev", desc="loadgen", smoothing=0.1)
        limits = httpx.Limits(max_connections=options.concurrency, max_keepalive_connections=options.concurrency)
        headers = {"User-Agent": "eventlake-loadgen/1"}
        async with httpx.AsyncClient(
            base_url=options.url, timeout=options.timeout_seconds, limits=limits, headers=headers
        ) as client:
            await asyncio.gather(*(self.worker(client) for _ in range(options.concurrency)))
        if self.progress is not None:
            self.progress.close()
        return self.finish()

    def finish(self) -> LoadSummary:
        summary = self.summary
        summary.elapsed_seconds = round(time.monotonic() - self.started, 3)
        latencies = sorted(self.latencies)
        summary.latency_ms = {
            name: round(percentile(latencies, share) * 1000, 2)
            for name, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
        }
        summary.accepted_event_ids = list(self.accepted)
        summary.accepted_events_per_second = round(summary.accepted / max(summary.elapsed_seconds, 1e-9), 1)
        options = self.options
        if options.events_path is not None:
            options.events_path.parent.mkdir(parents=True, exist_ok=True)
            with options.events_path.open("wb") as out:
                for event_id, planned in self.accepted.items():
                    record = {
                        "event_id": planned.event_id,
                        "event_type": planned.event_type,
                        "user_id": planned.user_id,
                        "event_time": planned.event_time,
                        "payload": planned.payload,
                        "acknowledged_at": datetime.fromtimestamp(self.acknowledged_at[event_id], UTC).isoformat(),
                    }
                    out.write(orjson.dumps(record) + b"\n")
            summary.events_path = str(options.events_path)
        if options.summary_path is not None:
            options.summary_path.parent.mkdir(parents=True, exist_ok=True)
            options.summary_path.write_bytes(summary.to_json())
        return summary


def run_load(plan: LoadPlan, options: LoadOptions, stop: threading.Event | None = None) -> LoadSummary:
    """Send the plan's requests as the options say, or until ``stop`` is set (from another thread).

    Returns the summary (also written as JSON if asked); requests in flight when ``stop`` is set finish.
    """
    return asyncio.run(_Run(plan, options, stop).run())
