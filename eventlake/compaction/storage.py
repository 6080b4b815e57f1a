"""File-system access to the lake (local files or S3) for listing, moving and manifests, via pyarrow."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow.fs as pafs

from eventlake.lake import COMMITS_DIR, CURATED_MANIFEST, HourPartition, is_hidden, parse_batch_file_name
from eventlake.settings import EventlakeSettings

_VERSION_PREFIX = "v="


@dataclass(frozen=True, order=True)
class LandedFile:
    """One visible (so committed) landing file of one event type and hour."""

    event_type: str
    hour: HourPartition
    name: str
    size: int
    mtime: datetime

    @property
    def rel_path(self) -> str:
        """Path below the landing root; the identity recorded in curated manifests."""
        return f"event_type={self.event_type}/{self.hour.path}/{self.name}"


@dataclass(frozen=True)
class CommitManifest:
    """The stream's manifest of one committed micro-batch (``<landing>/_commits/<batch_id>.json``)."""

    path: str
    mtime: datetime
    landing_files: tuple[str, ...]


@dataclass(frozen=True)
class VersionDir:
    """One ``v=<version>`` directory of a curated partition."""

    hour: HourPartition
    version: str
    path: str
    mtime: datetime


class Lake:
    """The lake's file system with the contract's paths; converts between fs paths and URIs."""

    def __init__(self, fs: pafs.FileSystem, root: str, uri_prefix: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self._uri_prefix = uri_prefix

    @classmethod
    def from_settings(cls, settings: EventlakeSettings) -> Lake:
        return cls.from_uri(settings, settings.lake_uri)

    @classmethod
    def from_uri(cls, settings: EventlakeSettings, uri: str) -> Lake:
        """The file system of any lake URI (local, or S3 with the settings' endpoint and keys)."""
        if uri.startswith(("s3a://", "s3://")):
            scheme, _, rest = uri.partition("://")
            fs = pafs.S3FileSystem(
                access_key=settings.s3_access_key or None,
                secret_key=settings.s3_secret_key.get_secret_value() or None,
                endpoint_override=settings.s3_endpoint or None,
                allow_bucket_creation=False,
            )
            return cls(fs, rest, f"{scheme}://")
        fs, root = pafs.FileSystem.from_uri(uri)
        return cls(fs, root, "file://")

    # --- paths ------------------------------------------------------------------------------------
    @property
    def landing(self) -> str:
        return f"{self.root}/landing/events"

    @property
    def curated(self) -> str:
        return f"{self.root}/curated"

    def uri(self, path: str) -> str:
        """URI of an fs path, as Spark and the metastore spell it."""
        return f"{self._uri_prefix}{path}"

    def path(self, uri: str) -> str:
        """fs path of a URI (``file:/x``, ``file:///x``, ``s3a://b/x``)."""
        for prefix in ("file://", "s3a://", "s3://"):
            if uri.startswith(prefix):
                return uri.removeprefix(prefix)
        if uri.startswith("file:"):
            return uri.removeprefix("file:")
        return uri

    def table_path(self, table: str) -> str:
        return f"{self.curated}/{table}"

    def partition_path(self, table: str, hour: HourPartition) -> str:
        return f"{self.curated}/{table}/{hour.path}"

    def version_path(self, table: str, hour: HourPartition, version: str) -> str:
        return f"{self.partition_path(table, hour)}/{_VERSION_PREFIX}{version}"

    @property
    def commits(self) -> str:
        return f"{self.landing}/{COMMITS_DIR}"

    def landing_type_path(self, event_type: str) -> str:
        return f"{self.landing}/event_type={event_type}"

    def landed_path(self, landed: LandedFile) -> str:
        return f"{self.landing}/{landed.rel_path}"

    # --- listing ----------------------------------------------------------------------------------
    def _list(self, path: str, *, recursive: bool) -> list[pafs.FileInfo]:
        return list(self.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=recursive)))

    def landed_files(self, event_type: str) -> list[LandedFile]:
        """Every visible landing file of an event type (visible = committed, per the contract), by hour and name."""
        base = self.landing_type_path(event_type)
        # A day holds ~10^5 files per type: parse each hour directory once, sort names within it.
        by_directory: dict[str, list[tuple[str, int, int]]] = {}
        for info in self._list(base, recursive=True):
            if info.is_file:
                directory, _, name = info.path[len(base) + 1 :].rpartition("/")
                by_directory.setdefault(directory, []).append((name, info.size or 0, info.mtime_ns or 0))
        hours = []
        for directory, entries in by_directory.items():
            date_part, _, hour_part = directory.partition("/")
            if "/" in hour_part or is_hidden(date_part) or is_hidden(hour_part):
                continue
            hour = _parse_hour(date_part, hour_part)
            if hour is not None:
                hours.append((hour, entries))
        found: list[LandedFile] = []
        for hour, entries in sorted(hours, key=lambda item: item[0]):
            found.extend(
                LandedFile(event_type, hour, name, size, _utc_from_ns(mtime_ns))
                for name, size, mtime_ns in sorted(entries)
                if parse_batch_file_name(name) is not None
            )
        return found

    def commit_manifests(self, *, older_than: datetime) -> list[CommitManifest]:
        """The stream's commit manifests last written before ``older_than``, with the landing files they list."""
        found = []
        for info in self._list(self.commits, recursive=False):
            if info.type != pafs.FileType.File or is_hidden(info.base_name) or not info.base_name.endswith(".json"):
                continue
            mtime = file_mtime(info)
            if mtime >= older_than:
                continue
            manifest = self.read_json(info.path) or {}
            files = tuple(f["path"] for f in manifest.get("files", ()) if f.get("root") == "landing")
            found.append(CommitManifest(info.path, mtime, files))
        return sorted(found, key=lambda manifest: manifest.path)

    def version_dirs(self, table: str) -> list[VersionDir]:
        """Every ``v=`` directory of a curated table (published, superseded or abandoned)."""
        base = self.table_path(table)
        found = []
        for date_info in self._list(base, recursive=False):
            if date_info.type != pafs.FileType.Directory or is_hidden(date_info.base_name):
                continue
            for hour_info in self._list(date_info.path, recursive=False):
                hour = _parse_hour(date_info.base_name, hour_info.base_name)
                if hour is None or hour_info.type != pafs.FileType.Directory:
                    continue
                for version_info in self._list(hour_info.path, recursive=False):
                    name = version_info.base_name
                    if version_info.type == pafs.FileType.Directory and name.startswith(_VERSION_PREFIX):
                        found.append(
                            VersionDir(
                                hour, name.removeprefix(_VERSION_PREFIX), version_info.path, file_mtime(version_info)
                            )
                        )
        return sorted(found, key=lambda v: (v.hour, v.version))

    def data_files(self, directory: str) -> list[pafs.FileInfo]:
        """Visible Parquet files directly in a directory, by name."""
        infos = [
            info
            for info in self._list(directory, recursive=False)
            if info.type == pafs.FileType.File and not is_hidden(info.base_name) and info.base_name.endswith(".parquet")
        ]
        return sorted(infos, key=lambda info: info.base_name)

    def files_under(self, directory: str) -> list[pafs.FileInfo]:
        return [info for info in self._list(directory, recursive=True) if info.type == pafs.FileType.File]

    def subdirs(self, directory: str) -> list[pafs.FileInfo]:
        return [info for info in self._list(directory, recursive=False) if info.type == pafs.FileType.Directory]

    # --- reading and writing ----------------------------------------------------------------------
    def read_json(self, path: str) -> dict[str, Any] | None:
        try:
            with self.fs.open_input_stream(path) as stream:
                return json.loads(stream.read())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None

    def write_json(self, path: str, document: dict[str, Any]) -> None:
        """Write a JSON document whole: to a hidden temporary name first, then rename."""
        directory, _, name = path.rpartition("/")
        temporary = f"{directory}/_tmp.{name}"
        self.fs.create_dir(directory, recursive=True)
        with self.fs.open_output_stream(temporary) as stream:
            stream.write(json.dumps(document, indent=2, sort_keys=True).encode())
        self.fs.move(temporary, path)

    def manifest(self, version_path: str) -> dict[str, Any] | None:
        return self.read_json(f"{version_path}/{CURATED_MANIFEST}")

    def move(self, source: str, destination: str) -> None:
        self.fs.create_dir(destination.rpartition("/")[0], recursive=True)
        self.fs.move(source, destination)

    def delete_dir(self, path: str) -> None:
        self.fs.delete_dir(path)

    def delete_file(self, path: str) -> None:
        self.fs.delete_file(path)

    def remove_empty_dirs(self, path: str, stop: str) -> None:
        """Remove ``path`` and its parents up to (not including) ``stop`` while they are empty."""
        while path.startswith(stop + "/") and path != stop:
            if self._list(path, recursive=False):
                return
            self.fs.delete_dir(path)
            path = path.rpartition("/")[0]

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound


def _parse_hour(date_part: str, hour_part: str) -> HourPartition | None:
    if not (date_part.startswith("event_date=") and hour_part.startswith("event_hour=")):
        return None
    try:
        return HourPartition(date_part.removeprefix("event_date="), int(hour_part.removeprefix("event_hour=")))
    except ValueError:
        return None


def _utc_from_ns(nanoseconds: int) -> datetime:
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC)


def file_mtime(info: pafs.FileInfo) -> datetime:
    return info.mtime.astimezone(UTC) if info.mtime is not None else datetime.fromtimestamp(0, UTC)
