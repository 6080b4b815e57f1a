"""Where reports live and how they are published.

Layout under ``settings.resolved_reports_uri`` (a local folder in the embedded stack)::

    <root>/index.json                                   every report and interval (rebuilt on publish)
    <root>/<question>/<interval_id>/CURRENT             name of the published version
    <root>/<question>/<interval_id>/<version>/          result.parquet, result.csv, summary.json, report.html
    <root>/_runs/<sha256 of dag_id/run_id>.json          which reports one DAG run published

A version is written completely under a hidden temporary name, renamed into place, and only then
does ``CURRENT`` (replaced atomically) point at it. A rerun of the same (question, interval) thus
replaces what readers see in one step; a failed run never touches ``CURRENT``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from eventlake.analytics.intervals import INTERVAL_ID
from eventlake.analytics.questions import QUESTION_NAME

CURRENT = "CURRENT"
INDEX = "index.json"
RUNS_DIR = "_runs"
REPORT_FILES = ("report.html", "summary.json", "result.csv", "result.parquet")
_VERSION = re.compile(r"^v\d{8}T\d{6}\d{6}Z-[0-9a-f]{8}$")
#: Superseded versions kept next to the published one (a reader may still be downloading one).
KEEP_SUPERSEDED = 1


class ReportNotFoundError(LookupError):
    """No published report for that name and interval (or the name is not a report name)."""


@dataclass(frozen=True)
class PublishedReport:
    question: str
    interval_id: str
    version: str
    directory: Path


def reports_root(uri: str) -> Path:
    """Local folder of a reports URI (``file://...`` or a plain path)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    raise ValueError(f"report store supports local folders only here, not {uri!r}")


class ReportStore:
    """Publishes and finds reports under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # --- publishing ----------------------------------------------------------------------------
    def publish(self, question: str, interval_id: str, files: dict[str, bytes]) -> PublishedReport:
        """Write a new version with these files and make it the published one, atomically."""
        _check_names(question, interval_id)
        unknown = set(files) - set(REPORT_FILES)
        if unknown:
            raise ValueError(f"not report files: {sorted(unknown)}")
        folder = self.root / question / interval_id
        folder.mkdir(parents=True, exist_ok=True)
        version = f"v{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:8]}"
        staging = folder / f".tmp-{version}"
        staging.mkdir()
        for name, content in files.items():
            _write_synced(staging / name, content)
        os.replace(staging, folder / version)
        pointer = folder / f".tmp-{CURRENT}-{version}"
        _write_synced(pointer, version.encode())
        os.replace(pointer, folder / CURRENT)
        self._prune(folder, version)
        return PublishedReport(question, interval_id, version, folder / version)

    def _prune(self, folder: Path, current: str) -> None:
        versions = sorted(p.name for p in folder.iterdir() if _VERSION.match(p.name) and p.name != current)
        for old in versions[: max(0, len(versions) - KEEP_SUPERSEDED)]:
            shutil.rmtree(folder / old, ignore_errors=True)

    # --- reading -------------------------------------------------------------------------------
    def current(self, question: str, interval_id: str) -> PublishedReport:
        """The published version of a report; :class:`ReportNotFoundError` if there is none."""
        if not QUESTION_NAME.match(question) or not INTERVAL_ID.match(interval_id):
            raise ReportNotFoundError(f"{question}/{interval_id}")
        folder = self.root / question / interval_id
        try:
            version = (folder / CURRENT).read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            raise ReportNotFoundError(f"{question}/{interval_id}") from None
        if not _VERSION.match(version) or not (folder / version).is_dir():
            raise ReportNotFoundError(f"{question}/{interval_id}")
        return PublishedReport(question, interval_id, version, folder / version)

    def file(self, question: str, interval_id: str, name: str) -> Path:
        """Path of one file of a published report; :class:`ReportNotFoundError` for anything else."""
        if name not in REPORT_FILES:
            raise ReportNotFoundError(name)
        path = self.current(question, interval_id).directory / name
        if not path.is_file():
            raise ReportNotFoundError(name)
        return path

    def summary(self, question: str, interval_id: str) -> dict[str, Any]:
        return json.loads(self.file(question, interval_id, "summary.json").read_bytes())

    def published(self) -> Iterator[PublishedReport]:
        """Every published report, by question then interval."""
        if not self.root.is_dir():
            return
        for question_dir in sorted(self.root.iterdir()):
            if not question_dir.is_dir() or not QUESTION_NAME.match(question_dir.name):
                continue
            for interval_dir in sorted(question_dir.iterdir()):
                if not INTERVAL_ID.match(interval_dir.name):
                    continue
                try:
                    yield self.current(question_dir.name, interval_dir.name)
                except ReportNotFoundError:
                    continue

    # --- runs ----------------------------------------------------------------------------------
    def record_run(self, dag_id: str, run_id: str, reports: list[PublishedReport]) -> None:
        """Remember which reports a DAG run published (the run's tab in the UI lists them)."""
        path = self._run_path(dag_id, run_id)
        try:
            known = json.loads(path.read_bytes())["reports"]
        except FileNotFoundError:
            known = []
        for report in reports:
            entry = {"question": report.question, "interval_id": report.interval_id, "version": report.version}
            known = [k for k in known if (k["question"], k["interval_id"]) != (report.question, report.interval_id)]
            known.append(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".tmp-{path.name}-{uuid.uuid4().hex[:8]}")
        _write_synced(staging, json.dumps({"dag_id": dag_id, "run_id": run_id, "reports": known}).encode())
        os.replace(staging, path)

    def run_reports(self, dag_id: str, run_id: str) -> list[dict[str, str]]:
        """What :meth:`record_run` recorded for a run; :class:`ReportNotFoundError` if nothing."""
        try:
            return list(json.loads(self._run_path(dag_id, run_id).read_bytes())["reports"])
        except FileNotFoundError:
            raise ReportNotFoundError(f"run {dag_id}/{run_id}") from None

    def _run_path(self, dag_id: str, run_id: str) -> Path:
        # Run ids hold ':' and '+'; a digest makes any id a safe, fixed-length file name.
        digest = hashlib.sha256(f"{dag_id}/{run_id}".encode()).hexdigest()
        return self.root / RUNS_DIR / f"{digest}.json"

    # --- index ---------------------------------------------------------------------------------
    def rebuild_index(self) -> list[dict[str, Any]]:
        """Rewrite ``index.json`` from what is published (atomic replace) and return its entries."""
        entries = []
        for report in self.published():
            try:
                summary = json.loads((report.directory / "summary.json").read_bytes())
            except FileNotFoundError:
                continue
            entries.append(
                {
                    "question": report.question,
                    "title": summary.get("title", report.question),
                    "interval_id": report.interval_id,
                    "interval_start": summary["interval"]["start"],
                    "interval_end": summary["interval"]["end"],
                    "cadence": summary["interval"]["cadence"],
                    "rows": summary["row_count"],
                    "engine": summary["engine"],
                    "published_at": summary["published_at"],
                    "version": report.version,
                    "dag_id": summary.get("run", {}).get("dag_id"),
                    "run_id": summary.get("run", {}).get("run_id"),
                }
            )
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".tmp-{INDEX}-{uuid.uuid4().hex[:8]}"
        _write_synced(staging, json.dumps({"reports": entries}, indent=1).encode())
        os.replace(staging, self.root / INDEX)
        return entries

    def index(self) -> list[dict[str, Any]]:
        """Entries of ``index.json`` (rebuilt if it is missing)."""
        try:
            return list(json.loads((self.root / INDEX).read_bytes())["reports"])
        except FileNotFoundError:
            return self.rebuild_index() if self.root.is_dir() else []


def _check_names(question: str, interval_id: str) -> None:
    if not QUESTION_NAME.match(question):
        raise ValueError(f"not a report name: {question!r}")
    if not INTERVAL_ID.match(interval_id):
        raise ValueError(f"not an interval id: {interval_id!r}")


def _write_synced(path: Path, content: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
