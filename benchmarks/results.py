"""Where benchmarks write their results: ``var/bench/<name>.json``, which ``run_all`` renders into BENCHMARKS.md.

The benchmarks run as scripts (``python benchmarks/bench_<name>.py``), so they import this module by its
plain name from their own folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent.parent / "var" / "bench"


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write one benchmark's result as ``var/bench/<name>.json`` and say where."""
    out = RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return out
