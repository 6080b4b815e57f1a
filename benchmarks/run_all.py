"""`make bench`: run every benchmark (each with its baseline in the same run) and write BENCHMARKS.md.

Each ``benchmarks/bench_*.py`` prints its figures and writes ``var/bench/<name>.json``. A result may
carry ``targets``: a list of ``{"target": str, "goal": str, "measured": str, "met": bool}``; this
script puts every target next to its measured value, with the date, the machine and the commands.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "var" / "bench"
#: When `make bench` last ran, and how long each benchmark took (reused by ``--from-results``).
RUN_LOG = RESULTS / "run_all.json"
#: Run order: cheap, self-contained benchmarks first; the end-to-end one last.
ORDER = ("bench_producer", "bench_stream_ingest", "bench_compaction", "bench_analytics", "bench_end_to_end")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(
            next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1]
        )
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr.splitlines()
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_kb / 1024 / 1024:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {java[0] if java else 'no java'}"
    )


def scripts() -> list[Path]:
    found = {p.stem: p for p in sorted((REPO_ROOT / "benchmarks").glob("bench_*.py"))}
    ordered = [found.pop(name) for name in ORDER if name in found]
    return ordered + list(found.values())


def _flatten(prefix: str, value: object, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list) and len(value) > 8:
        out.append((prefix, f"[{len(value)} values]"))
    else:
        out.append((prefix, json.dumps(value) if not isinstance(value, str) else value))


def render(results: list[tuple[Path, dict, float, int]]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {machine()}.",
        "",
        "Machines here are noisy: every benchmark runs its baseline in the same run, and figures are",
        "medians of repeated measurements; compare ratios rather than absolute numbers.",
        "",
        "## Targets",
        "",
        "| Benchmark | Target | Goal | Measured | Met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for script, result, _, _ in results:
        targets = result.get("targets")
        for target in targets if isinstance(targets, list) else []:
            met = "yes" if target.get("met") else "**no**"
            lines.append(
                f"| {script.stem} | {target.get('target', '')} | {target.get('goal', '')} | "
                f"{target.get('measured', '')} | {met} |"
            )
    lines += fault_drill_section()
    for script, result, elapsed, code in results:
        lines += ["", f"## {script.stem}", "", f"Command: `.venv/bin/python benchmarks/{script.name}`", ""]
        if code != 0:
            lines.append(f"**The benchmark failed (exit {code}).**")
        written = result_time(script)
        took = f"Ran in {elapsed:.0f} s" if elapsed else "Run on its own (not in the last full `make bench`)"
        lines.append(took + (f"; result written {written}." if written else "."))
        figures: list[tuple[str, str]] = []
        listed = isinstance(result.get("targets"), list)
        _flatten("", {k: v for k, v in result.items() if not (listed and k == "targets")}, figures)
        if figures:
            lines += ["", "| Figure | Value |", "| --- | --- |"]
            lines += [f"| {key} | {value} |" for key, value in figures]
    return "\n".join(lines) + "\n"


def _epoch(moment: str) -> float:
    return datetime.fromisoformat(moment).timestamp()


def result_time(script: Path) -> str | None:
    """When a benchmark last wrote its result file (UTC), or None."""
    path = RESULTS / f"{script.stem.removeprefix('bench_')}.json"
    if not path.exists():
        return None
    return f"{datetime.fromtimestamp(path.stat().st_mtime, UTC):%Y-%m-%d %H:%M} UTC"


def fault_drill_section() -> list[str]:
    """Recovery times of the last fault drill (`make test-faults` writes them; they are not re-run here)."""
    path = RESULTS / "fault_drills.json"
    if not path.exists():
        return ["", "## Fault drills", "", "No fault drill result yet: run `make test-faults`."]
    drill = json.loads(path.read_text())
    lines = [
        "",
        "## Fault drills",
        "",
        f"From `make test-faults` ({drill.get('measured_at', '?')}, load average at the end "
        f"{drill.get('load_average_at_end')}), under a sustained load of {drill.get('load_events_per_second')} "
        f"events/s through the API. Conservation: {drill.get('conservation', '?')}.",
        "",
        "| Fault | Times | Recovery p50 (s) | Recovery p95 (s) | Each (s) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind, values in drill.get("recovery_seconds", {}).items():
        lines.append(
            f"| {kind} | {len(values)} | {drill['recovery_p50_seconds'][kind]} | {drill['recovery_p95_seconds'][kind]} "
            f"| {', '.join(str(v) for v in values)} |"
        )
    lines.append(
        f"| all faults | {sum(len(v) for v in drill.get('recovery_seconds', {}).values())} | "
        f"{drill.get('all_faults_p50_seconds')} | {drill.get('all_faults_p95_seconds')} | |"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark (make bench) and write BENCHMARKS.md.")
    parser.add_argument(
        "--from-results",
        action="store_true",
        help="Only re-render BENCHMARKS.md from the results the benchmarks last wrote (var/bench/).",
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.from_results:
        # Render the results the benchmarks last wrote, without running them again.
        return render_existing()
    results = []
    for script in scripts():
        name = script.stem.removeprefix("bench_")
        print(f"== {script.name}", flush=True)
        started = time.monotonic()
        code = subprocess.run([sys.executable, str(script)], cwd=REPO_ROOT, check=False).returncode
        elapsed = time.monotonic() - started
        candidates = [RESULTS / f"{name}.json", RESULTS / f"{script.stem}.json"]
        result = next((json.loads(p.read_text()) for p in candidates if p.exists()), {})
        results.append((script, result, elapsed, code))
    runs = {script.stem: {"seconds": round(elapsed), "exit_code": code} for script, _, elapsed, code in results}
    RUN_LOG.write_text(json.dumps({"written_at": datetime.now(UTC).isoformat(), "runs": runs}, indent=2))
    (REPO_ROOT / "BENCHMARKS.md").write_text(render(results))
    print(f"wrote {REPO_ROOT / 'BENCHMARKS.md'}")
    return 0 if all(code == 0 for *_, code in results) else 1


def render_existing() -> int:
    """BENCHMARKS.md again from the last results (after `make test-faults`, say), without re-running."""
    last = json.loads(RUN_LOG.read_text()) if RUN_LOG.exists() else {"runs": {}}
    results = []
    for script in scripts():
        name = script.stem.removeprefix("bench_")
        path = RESULTS / f"{name}.json"
        if path.exists():
            run = last["runs"].get(script.stem, {})
            # A result written after the last full run came from running that benchmark alone.
            alone = not last.get("written_at") or path.stat().st_mtime > _epoch(last["written_at"]) + 60
            seconds = 0.0 if alone else run.get("seconds", 0.0)
            results.append((script, json.loads(path.read_text()), seconds, run.get("exit_code", 0)))
    written = f" at {last['written_at'][:16].replace('T', ' ')} UTC" if last.get("written_at") else ""
    text = render(results).replace(
        "Written by `make bench`",
        f"Rendered by `python benchmarks/run_all.py --from-results` from the last result of each benchmark "
        f"(each section says when it was written; the last full `make bench` ran{written or ' never'})",
    )
    (REPO_ROOT / "BENCHMARKS.md").write_text(text)
    print(f"wrote {REPO_ROOT / 'BENCHMARKS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
