"""``python -m eventlake.loadgen``: send a seeded mix of events to the producer API and print the summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from eventlake.loadgen.plan import LoadPlan
from eventlake.loadgen.runner import LoadOptions, run_load
from eventlake.settings import load_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m eventlake.loadgen", description=__doc__)
    parser.add_argument("--url", help="Producer API base URL (default: from the settings).")
    parser.add_argument("--count", type=int, help="Events to send (default 1000 unless --duration).")
    parser.add_argument("--duration", type=float, help="Seconds to send for.")
    parser.add_argument("--rate", type=float, help="Target events per second (default: as fast as possible).")
    parser.add_argument("--concurrency", type=int, default=16, help="Requests in flight.")
    parser.add_argument("--batch-size", type=int, default=1, help="Events per request (>1 uses /v1/batch).")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--send-attempts", type=int, default=1, help="Attempts per request (503: resend same ids).")
    parser.add_argument("--users", type=int, default=500, help="Distinct users (zipf-skewed activity).")
    parser.add_argument("--retry-share", type=float, default=0.01, help="Share of re-sent events (same event_id).")
    parser.add_argument("--malformed-share", type=float, default=0.0, help="Share of invalid requests.")
    parser.add_argument("--summary", type=Path, help="Write the summary JSON here.")
    parser.add_argument("--events", type=Path, help="Write the accepted events as JSON lines here.")
    parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    count = args.count if args.count is not None else (None if args.duration else 1000)
    plan = LoadPlan(
        seed=args.seed, users=args.users, retry_share=args.retry_share, malformed_share=args.malformed_share
    )
    options = LoadOptions(
        url=args.url or load_settings().producer_url,
        count=count,
        duration_seconds=args.duration,
        rate_per_second=args.rate,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        summary_path=args.summary,
        events_path=args.events,
        progress=not args.no_progress,
        send_attempts=args.send_attempts,
    )
    summary = run_load(plan, options)
    shown = {k: v for k, v in summary.__dict__.items() if k != "accepted_event_ids"}
    print(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
    return 0 if summary.failed == 0 and summary.unexpected == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
