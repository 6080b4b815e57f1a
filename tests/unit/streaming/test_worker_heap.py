"""The stream's tasks in a reused Spark Python worker: the heap the imports leave is frozen once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_PROBE = """
import gc
from eventlake.streaming.arrow_router import freeze_worker_heap
freeze_worker_heap()
freeze_worker_heap()
print(gc.get_freeze_count(), len(gc.get_objects()))
"""


@pytest.mark.parametrize("reused_worker", [True, False])
def test_a_reused_spark_worker_freezes_its_heap_and_nothing_else_does(reused_worker: bool) -> None:
    """PySpark's daemon collects after every task of a reused worker; the imports' objects must not be in it."""
    env = {name: value for name, value in os.environ.items() if name != "SPARK_REUSE_WORKER"}
    if reused_worker:
        env["SPARK_REUSE_WORKER"] = "1"
    # A process of its own: a freeze is for good, and this test's process is not a Spark worker.
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    frozen, tracked = map(int, out.stdout.split())
    if reused_worker:
        assert frozen > 20_000  # pyarrow, numpy, the routers: out of the collector's sight
        assert tracked < frozen / 20
    else:
        assert frozen == 0
        assert tracked > 20_000
