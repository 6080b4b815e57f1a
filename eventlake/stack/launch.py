"""Exec one service from its launch spec (command, environment, folder), as written by `up`.

supervisord runs ``python -m eventlake.stack.launch SPEC.json``; keeping the environment in a JSON
spec (not in supervisord.conf) keeps values such as AIRFLOW_CONN_* JSON intact.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    os.chdir(spec["directory"])
    os.execvpe(spec["command"][0], spec["command"], spec["env"])


if __name__ == "__main__":
    main()
