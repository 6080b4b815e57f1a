"""Where reports live and how they are published: a local folder or object storage (pyarrow file systems).

Layout under ``settings.resolved_reports_uri`` (``file://...`` embedded, ``s3a://...`` distributed)::

    <root>/index.json                                   every report and interval (rebuilt on publish)
    <root>/<question>/<interval_id>/CURRENT             name of the published version
    <root>/<question>/<interval_id>/<version>/          result.parquet, result.csv, summary.json, report.html
    <root>/_runs/<sha256 of dag_id/run_id>.json          which reports one DAG run published

A version's files are written completely under a new, unique version name that nothing points at;
only then is ``CURRENT`` replaced, in one step, to name it: on a local disk by renaming a synced
temporary file over it, on object storage by one PUT (an object is replaced whole, never seen half
written). A rerun of the same (question, interval) thus replaces what readers see at once, and a
failed run never touches ``CURRENT``. Object stores have no atomic rename, so nothing here renames
a folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.fs as pafs

from eventlake.analytics.intervals import INTERVAL_ID
from eventlake.analytics.questions import QUESTION_NAME

if TYPE_CHECKING:
    import pyarrow

    from eventlake.settings import EventlakeSettings

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
    """One version of one report: ``path`` is its folder in the store's file system."""

    question: str
    interval_id: str
    version: str
    path: str


@dataclass(frozen=True)
class ReportFile:
    """One file of a published report; ``local_path`` is set when the store is a local folder."""

    name: str
    path: str
    size: int
    local_path: Path | None


class ReportStore:
    """Publishes and finds reports under one root folder of a file system (local by default)."""

    def __init__(self, root: Path | str, filesystem: pafs.FileSystem | None = None, *, uri: str | None = None) -> None:
        self.fs = filesystem or pafs.LocalFileSystem()
        self._local = isinstance(self.fs, pafs.LocalFileSystem)
        self.root = str(Path(root).resolve()) if self._local else str(root).rstrip("/")
        self.uri = uri or (Path(self.root).as_uri() if self._local else self.root)

    @classmethod
    def from_uri(cls, uri: str, settings: EventlakeSettings) -> ReportStore:
        """The store at ``file://...``, a plain path, or ``s3a://`` / ``s3://`` (the settings' S3 endpoint, keys)."""
        from eventlake.compaction.storage import Lake

        lake = Lake.from_uri(settings, uri)
        return cls(lake.path(uri), lake.fs, uri=uri)

    @classmethod
    def from_settings(cls, settings: EventlakeSettings) -> ReportStore:
        return cls.from_uri(settings.resolved_reports_uri, settings)

    # --- file system ---------------------------------------------------------------------------
    def _write(self, path: str, content: bytes) -> None:
        """Write a file whole: readers see the previous content or this one, never a part."""
        directory, _, name = path.rpartition("/")
        if not self._local:
            # Object stores have no folders to create, and one PUT is visible only once complete.
            with self.fs.open_output_stream(path) as stream:
                stream.write(content)
            return
        self.fs.create_dir(directory, recursive=True)
        staging = f"{directory}/.tmp-{name}-{uuid.uuid4().hex[:8]}"
        with open(staging, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, path)

    def _read(self, path: str) -> bytes:
        """The content of a file; FileNotFoundError if there is none."""
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            raise FileNotFoundError(path)
        with self.fs.open_input_stream(path) as stream:
            return bytes(stream.read())

    def _list(self, directory: str) -> list[pafs.FileInfo]:
        found = self.fs.get_file_info(pafs.FileSelector(directory, allow_not_found=True))
        return sorted(found, key=lambda info: info.base_name)

    def _subdirs(self, directory: str) -> list[str]:
        return [info.base_name for info in self._list(directory) if info.type == pafs.FileType.Directory]

    # --- publishing ----------------------------------------------------------------------------
    def publish(self, question: str, interval_id: str, files: dict[str, bytes]) -> PublishedReport:
        """Write a new version with these files and make it the published one, atomically."""
        _check_names(question, interval_id)
        unknown = set(files) - set(REPORT_FILES)
        if unknown:
            raise ValueError(f"not report files: {sorted(unknown)}")
        folder = f"{self.root}/{question}/{interval_id}"
        version = f"v{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:8]}"
        for name, content in files.items():
            self._write(f"{folder}/{version}/{name}", content)
        self._write(f"{folder}/{CURRENT}", version.encode())
        self._prune(folder, version)
        return PublishedReport(question, interval_id, version, f"{folder}/{version}")

    def _prune(self, folder: str, current: str) -> None:
        versions = [name for name in self._subdirs(folder) if _VERSION.match(name) and name != current]
        for old in versions[: max(0, len(versions) - KEEP_SUPERSEDED)]:
            self.fs.delete_dir(f"{folder}/{old}")

    # --- reading -------------------------------------------------------------------------------
    def current(self, question: str, interval_id: str) -> PublishedReport:
        """The published version of a report; :class:`ReportNotFoundError` if there is none."""
        if not QUESTION_NAME.match(question) or not INTERVAL_ID.match(interval_id):
            raise ReportNotFoundError(f"{question}/{interval_id}")
        folder = f"{self.root}/{question}/{interval_id}"
        try:
            version = self._read(f"{folder}/{CURRENT}").decode().strip()
        except FileNotFoundError:
            raise ReportNotFoundError(f"{question}/{interval_id}") from None
        if not _VERSION.match(version):
            raise ReportNotFoundError(f"{question}/{interval_id}")
        return PublishedReport(question, interval_id, version, f"{folder}/{version}")

    def file(self, question: str, interval_id: str, name: str) -> ReportFile:
        """One file of a published report; :class:`ReportNotFoundError` for anything else."""
        if name not in REPORT_FILES:
            raise ReportNotFoundError(name)
        path = f"{self.current(question, interval_id).path}/{name}"
        info = self.fs.get_file_info(path)
        if info.type != pafs.FileType.File:
            raise ReportNotFoundError(name)
        return ReportFile(name, path, info.size or 0, Path(path) if self._local else None)

    def read(self, question: str, interval_id: str, name: str) -> bytes:
        """The content of one file of a published report."""
        try:
            return self._read(self.file(question, interval_id, name).path)
        except FileNotFoundError:
            raise ReportNotFoundError(name) from None

    def open(self, report_file: ReportFile) -> pyarrow.NativeFile:
        """A stream of a file found by :meth:`file` (to serve it without reading it whole)."""
        return self.fs.open_input_stream(report_file.path)

    def version_files(self, report: PublishedReport) -> dict[str, bytes]:
        """Every file of one version (published or superseded), by name."""
        files = [info for info in self._list(report.path) if info.type == pafs.FileType.File]
        return {info.base_name: self._read(info.path) for info in files}

    def summary(self, question: str, interval_id: str) -> dict[str, Any]:
        return dict(json.loads(self.read(question, interval_id, "summary.json")))

    def published(self) -> Iterator[PublishedReport]:
        """Every published report, by question then interval."""
        for question in self._subdirs(self.root):
            if not QUESTION_NAME.match(question):
                continue
            for interval_id in self._subdirs(f"{self.root}/{question}"):
                if not INTERVAL_ID.match(interval_id):
                    continue
                try:
                    yield self.current(question, interval_id)
                except ReportNotFoundError:
                    continue

    # --- runs ----------------------------------------------------------------------------------
    def record_run(self, dag_id: str, run_id: str, reports: list[PublishedReport]) -> None:
        """Remember which reports a DAG run published (the run's tab in the UI lists them)."""
        path = self._run_path(dag_id, run_id)
        try:
            known = json.loads(self._read(path))["reports"]
        except FileNotFoundError:
            known = []
        for report in reports:
            entry = {"question": report.question, "interval_id": report.interval_id, "version": report.version}
            known = [k for k in known if (k["question"], k["interval_id"]) != (report.question, report.interval_id)]
            known.append(entry)
        self._write(path, json.dumps({"dag_id": dag_id, "run_id": run_id, "reports": known}).encode())

    def run_reports(self, dag_id: str, run_id: str) -> list[dict[str, str]]:
        """What :meth:`record_run` recorded for a run; :class:`ReportNotFoundError` if nothing."""
        try:
            return list(json.loads(self._read(self._run_path(dag_id, run_id)))["reports"])
        except FileNotFoundError:
            raise ReportNotFoundError(f"run {dag_id}/{run_id}") from None

    def _run_path(self, dag_id: str, run_id: str) -> str:
        # Run ids hold ':' and '+'; a digest makes any id a safe, fixed-length file name.
        digest = hashlib.sha256(f"{dag_id}/{run_id}".encode()).hexdigest()
        return f"{self.root}/{RUNS_DIR}/{digest}.json"

    # --- index ---------------------------------------------------------------------------------
    def rebuild_index(self) -> list[dict[str, Any]]:
        """Rewrite ``index.json`` from what is published (replaced whole) and return its entries."""
        entries = []
        for report in self.published():
            try:
                summary = json.loads(self._read(f"{report.path}/summary.json"))
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
        self._write(f"{self.root}/{INDEX}", json.dumps({"reports": entries}, indent=1).encode())
        return entries

    def index(self) -> list[dict[str, Any]]:
        """Entries of ``index.json`` (rebuilt if it is missing)."""
        try:
            return list(json.loads(self._read(f"{self.root}/{INDEX}"))["reports"])
        except FileNotFoundError:
            return self.rebuild_index() if self._subdirs(self.root) else []


def _check_names(question: str, interval_id: str) -> None:
    if not QUESTION_NAME.match(question):
        raise ValueError(f"not a report name: {question!r}")
    if not INTERVAL_ID.match(interval_id):
        raise ValueError(f"not an interval id: {interval_id!r}")
