"""Files the streaming driver and its supervisor share under ``<run_dir>/stream/``.

``progress.json`` (written by the driver after every micro-batch and as a heartbeat), ``stop.request``
(a graceful stop asked by the supervisor), ``fencing.token`` (the token of the one driver allowed to
commit), ``driver.json`` (pid, start time and token of the driver the supervisor started) and
``supervisor.lock`` (the flock serialising supervisor runs).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class FencedOutError(RuntimeError):
    """Another driver was started after this one: this one must not commit anything."""


FENCING_TOKEN_ENV = "EVENTLAKE_STREAM_FENCING_TOKEN"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True)
class StreamPaths:
    """Where the stream's control files live."""

    root: Path

    @classmethod
    def under(cls, run_dir: Path) -> StreamPaths:
        return cls(run_dir / "stream")

    @property
    def progress(self) -> Path:
        return self.root / "progress.json"

    @property
    def stop_request(self) -> Path:
        return self.root / "stop.request"

    @property
    def fencing_token(self) -> Path:
        return self.root / "fencing.token"

    @property
    def driver(self) -> Path:
        return self.root / "driver.json"

    @property
    def lock(self) -> Path:
        return self.root / "supervisor.lock"

    @property
    def driver_log(self) -> Path:
        return self.root / "driver.log"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new document, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1, default=str))
    os.replace(temporary, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return data


def driver_progress(paths: StreamPaths, driver: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The progress document of ``driver`` (default: the driver the driver file names), or None while the
    progress file is absent or a previous driver's (its fencing token is not the driver's)."""
    driver = (read_json(paths.driver) or {}) if driver is None else driver
    progress = read_json(paths.progress)
    if progress is None or progress.get("fencing_token") != driver.get("token"):
        return None
    return progress


def read_token(paths: StreamPaths) -> int:
    try:
        return int(paths.fencing_token.read_text().strip() or 0)
    except FileNotFoundError:
        return 0


def fencing_check(paths: StreamPaths, own_token: int | None) -> None:
    """Raise :class:`FencedOutError` if a newer driver has been started (no-op for an unsupervised driver)."""
    if own_token is None:
        return
    current = read_token(paths)
    if current != own_token:
        raise FencedOutError(f"fencing token is now {current}, this driver holds {own_token}: refusing to commit")


def stop_requested(paths: StreamPaths) -> bool:
    return paths.stop_request.exists()
