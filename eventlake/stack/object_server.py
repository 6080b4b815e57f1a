"""A small S3-compatible object server on local disk: the durable storage behind the embedded broker.

Tansu (the embedded Kafka-protocol broker) keeps every partition's offsets in an object that it
creates with ``If-None-Match: *`` and updates with ``If-Match: <etag>``, and learns the current state
from the ``412 Precondition Failed`` it expects when another write got there first. The S3 servers
installable here (s3rver 3.7, rclone's ``serve s3``) ignore both headers: a restarted broker then
re-created its offsets at 0 and overwrote acknowledged batches, and concurrent idempotent producers
overwrote each other's sequence state. s3rver also walks its whole directory synchronously on every
LIST, while Tansu lists every batch of a partition on every fetch, so fetches stalled the server as
soon as a partition held a few thousand batches.

This server implements the part of the S3 API that object_store (Tansu's client) and pyarrow's
S3FileSystem use, path-style, with the semantics they rely on:

- conditional PUT (``If-None-Match: *``, ``If-Match``) decided atomically per key, answering 412;
- atomic, crash-safe writes (temporary file, optional fsync, rename), so a kill -9 of the server or
  of the broker never leaves a torn object. Each write of a key renames its temporary file to a new
  ``<key>.obj.<version>`` and then unlinks the version it replaces; a start-up keeps each key's newest
  version. A rename over an existing file is what ext4 makes expensive (``auto_da_alloc`` flushes the
  new data before it), and Tansu rewrites ``meta.json`` and a ``watermark.json`` with two of its three
  PUTs per batch. That flush was also the only thing that kept a rewritten object whole through a power
  loss without ``--fsync``; as documented for ``--fsync``, only it covers power loss. A directory of
  servers before versions (``<key>.obj``, read as version 0) loads as it is; they cannot read this one;
- LIST (v1 and v2, prefix, delimiter, start-after, continuation) from an in-memory sorted index:
  a page costs O(log n + page), not a directory walk;
- GET (with Range and conditional headers), HEAD, DELETE, multi-object delete, multipart upload,
  buckets (create, head, list, delete), and ``aws-chunked`` request bodies.

Requests are not authenticated (it listens on loopback only and is not the lake's object store).
Run it with ``python -m eventlake.stack.object_server --directory DIR --port PORT --bucket NAME``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import calendar
import email.utils
import hashlib
import logging
import os
import shutil
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote
from xml.sax.saxutils import escape

from sortedcontainers import SortedDict

log = logging.getLogger("eventlake.object_server")

#: Suffix of an object's file: keeps ``a/b`` (a file) and ``a/b/c`` (``a/b`` as a folder) apart. A version
#: number follows it (``a/b.obj.42``); a bare ``a/b.obj`` is version 0, written by servers before versions.
OBJECT_SUFFIX = ".obj"
#: Suffix of a write in flight, next to the version file it becomes: never the name of an object's file.
PARTIAL_SUFFIX = ".tmp"
#: Folder (under the data directory) of in-flight writes and multipart uploads; never listed.
WORK_DIR = ".work"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
DEFAULT_MAX_KEYS = 1000

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class S3Error(Exception):
    """An S3 error answer: HTTP status, S3 error code and message."""

    def __init__(self, status: int, code: str, message: str, resource: str = "") -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.resource = resource


def no_such_key(key: str) -> S3Error:
    return S3Error(404, "NoSuchKey", "The specified key does not exist.", key)


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error(404, "NoSuchBucket", "The specified bucket does not exist.", bucket)


def precondition_failed(condition: str) -> S3Error:
    return S3Error(412, "PreconditionFailed", f"At least one of the preconditions did not hold: {condition}.")


@dataclass
class ObjectMeta:
    """What the index knows of one object. The ETag (quoted MD5) is computed lazily after a restart."""

    size: int
    modified: float
    etag: str | None = None
    #: The object's ``<Contents>`` entry of a LIST answer, rendered once (Tansu lists on every fetch).
    listing: str | None = None
    #: Which of the key's version files holds the content (see :func:`object_file`).
    version: int = 0


@dataclass
class Bucket:
    name: str
    path: Path
    keys: SortedDict = field(default_factory=SortedDict)  # key -> ObjectMeta


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def iso_date(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(timestamp))


def parse_http_date(value: str) -> float | None:
    parsed = email.utils.parsedate_tz(value)
    return None if parsed is None else float(calendar.timegm(parsed[:9]) - (parsed[9] or 0))


def valid_key(key: str) -> bool:
    parts = key.split("/")
    return bool(key) and "\x00" not in key and not key.startswith("/") and ".." not in parts and "." not in parts


def object_file(name: str) -> tuple[str, int] | None:
    """(last segment of the key, version) an object's file name stands for; None if no object's."""
    if name.endswith(OBJECT_SUFFIX):
        return name[: -len(OBJECT_SUFFIX)], 0
    stem, _, version = name.rpartition(".")
    if stem.endswith(OBJECT_SUFFIX) and version.isascii() and version.isdigit():
        return stem[: -len(OBJECT_SUFFIX)], int(version)
    return None


def decode_aws_chunked(body: bytes) -> bytes:
    """The payload of an ``aws-chunked`` body: ``<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n``..."""
    out = bytearray()
    position = 0
    while position < len(body):
        line_end = body.index(b"\r\n", position)
        size = int(body[position:line_end].split(b";", 1)[0], 16)
        start = line_end + 2
        if size == 0:
            break
        out += body[start : start + size]
        position = start + size + 2
    return bytes(out)


class ObjectStore:
    """Buckets of objects in files under one directory, with a sorted in-memory index of keys."""

    def __init__(self, directory: Path, *, fsync: bool = False) -> None:
        self.directory = directory
        self.fsync = fsync
        self.work = directory / WORK_DIR
        self.buckets: dict[str, Bucket] = {}
        # Versions count across the whole store, so a key deleted and written again never reuses the
        # number of a version whose unlink a power loss may have undone.
        self._last_version = 0
        # Conditional writes of one key are decided and applied one at a time.
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    # --- start-up ------------------------------------------------------------------------------------
    def load(self) -> None:
        """Index every bucket and object on disk; drop writes a crash left half done and older versions."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # Servers before versioned files wrote their temporary files here.
        for leftover in self.work.glob("tmp-*"):
            leftover.unlink()
        for upload in self.work.glob("upload-*"):
            shutil.rmtree(upload)
        self.work.mkdir(exist_ok=True)
        for path in sorted(self.directory.iterdir()):
            if path.is_dir() and path.name != WORK_DIR:
                bucket = Bucket(path.name, path)
                for key, (version, file) in self._newest_versions(path).items():
                    stat = file.stat()
                    bucket.keys[key] = ObjectMeta(size=stat.st_size, modified=stat.st_mtime, version=version)
                    self._last_version = max(self._last_version, version)
                self.buckets[bucket.name] = bucket
        log.info(
            "object server: %d bucket(s), %d object(s) in %s",
            len(self.buckets),
            sum(len(b.keys) for b in self.buckets.values()),
            self.directory,
        )

    @staticmethod
    def _newest_versions(root: Path) -> dict[str, tuple[int, Path]]:
        """Each key's newest version file under a bucket's folder; unlinks older versions and partial writes.

        A kill between a write's rename and the unlink of the version it replaces leaves two versions: the
        newer one is complete (it was renamed into place only once written), so it is the object.
        """
        newest: dict[str, tuple[int, Path]] = {}
        for key, version, file in ObjectStore._version_files(root):
            kept = newest.get(key)
            if kept is not None and kept[0] > version:
                file.unlink()
                continue
            if kept is not None:
                kept[1].unlink()
            newest[key] = (version, file)
        return newest

    @staticmethod
    def _version_files(root: Path) -> Iterator[tuple[str, int, Path]]:
        """(key, version, file) of every object's file under a bucket's folder; unlinks partial writes."""
        for folder, _, files in os.walk(root):
            relative = os.path.relpath(folder, root)
            for name in files:
                if name.endswith(PARTIAL_SUFFIX):
                    (Path(folder) / name).unlink()
                elif (parsed := object_file(name)) is not None:
                    segment, version = parsed
                    key = segment if relative == "." else f"{relative}/{segment}"
                    yield key, version, Path(folder) / name

    # --- buckets ---------------------------------------------------------------------------------------
    def bucket(self, name: str) -> Bucket:
        try:
            return self.buckets[name]
        except KeyError:
            raise no_such_bucket(name) from None

    def create_bucket(self, name: str) -> bool:
        """Create a bucket; False if it already existed."""
        if name in self.buckets:
            return False
        if not name or name.startswith(".") or "/" in name:
            raise S3Error(400, "InvalidBucketName", "The specified bucket is not valid.", name)
        path = self.directory / name
        path.mkdir(parents=True, exist_ok=True)
        self.buckets[name] = Bucket(name, path)
        return True

    def delete_bucket(self, name: str) -> None:
        bucket = self.bucket(name)
        if bucket.keys:
            raise S3Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty.", name)
        for folder, _, _ in sorted(os.walk(bucket.path), reverse=True):
            Path(folder).rmdir()
        del self.buckets[name]

    # --- objects ---------------------------------------------------------------------------------------
    def object_path(self, bucket: Bucket, key: str, version: int) -> Path:
        """The file of one version of an object (version 0: the unversioned name of older servers)."""
        return bucket.path / (f"{key}{OBJECT_SUFFIX}.{version}" if version else f"{key}{OBJECT_SUFFIX}")

    def meta(self, bucket: Bucket, key: str) -> ObjectMeta:
        meta = bucket.keys.get(key)
        if meta is None:
            raise no_such_key(key)
        if meta.etag is None:
            content = self.object_path(bucket, key, meta.version).read_bytes()
            meta.etag = f'"{hashlib.md5(content, usedforsecurity=False).hexdigest()}"'
        return meta

    def read(self, bucket: Bucket, key: str) -> tuple[ObjectMeta, bytes]:
        meta = self.meta(bucket, key)
        return meta, self.object_path(bucket, key, meta.version).read_bytes()

    def lock(self, bucket: str, key: str) -> asyncio.Lock:
        return self._locks.setdefault((bucket, key), asyncio.Lock())

    async def put(
        self, bucket: Bucket, key: str, data: bytes, *, if_match: str | None = None, if_none_match: str | None = None
    ) -> ObjectMeta:
        """Store an object, honouring ``If-Match`` / ``If-None-Match`` atomically for this key."""
        async with self.lock(bucket.name, key):
            current = self.meta(bucket, key) if key in bucket.keys else None
            if if_none_match is not None and current is not None and _matches(current, if_none_match):
                raise precondition_failed("If-None-Match")
            if if_match is not None and current is None:
                raise no_such_key(key)
            if if_match is not None and current is not None and not _matches(current, if_match):
                raise precondition_failed("If-Match")
            etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
            self._last_version += 1
            meta = ObjectMeta(size=len(data), modified=time.time(), etag=etag, version=self._last_version)
            await self._write(self.object_path(bucket, key, meta.version), data)
            bucket.keys[key] = meta
            # Unlinked only once the index names the new version: a GET between the two reads the old
            # one whole. A DELETE during the write may have unlinked it already.
            if current is not None:
                self.object_path(bucket, key, current.version).unlink(missing_ok=True)
            return meta

    async def _write(self, target: Path, data: bytes) -> None:
        if self.fsync:
            await asyncio.to_thread(_write_version, target, data, durable=True)
        else:
            _write_version(target, data, durable=False)

    def delete(self, bucket: Bucket, key: str) -> None:
        """Delete an object (deleting a missing key succeeds, as in S3)."""
        meta = bucket.keys.pop(key, None)
        if meta is None:
            return
        # A key has one version file between writes (each write unlinks the one it replaces, a start-up
        # every older one a kill left behind).
        path = self.object_path(bucket, key, meta.version)
        path.unlink(missing_ok=True)
        # Remove folders the object leaves empty, so the tree stays as small as the index.
        folder = path.parent
        while folder != bucket.path:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent

    def list(
        self,
        bucket: Bucket,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> tuple[list[tuple[str, ObjectMeta]], list[str], bool, str]:
        """One page of keys after ``after``: (objects, common prefixes, truncated, last key or prefix)."""
        index = bucket.keys
        keys = index.keys()
        # Keys with the prefix are contiguous in the sorted index: start at the first one after `after`.
        position = index.bisect_left(prefix)
        if after:
            position = max(position, index.bisect_right(after))
            if delimiter and after.endswith(delimiter) and after.startswith(prefix):
                # `after` is a common prefix of the previous page: nothing under it is listed again.
                position = max(position, index.bisect_left(after + "\U0010ffff"))
        objects: list[tuple[str, ObjectMeta]] = []
        prefixes: list[str] = []
        last = ""
        while position < len(keys):
            key = keys[position]
            if not key.startswith(prefix):
                break
            if len(objects) + len(prefixes) >= max_keys:
                return objects, prefixes, True, last
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = key[: cut + len(delimiter)]
                prefixes.append(common)
                last = common
                # Skip every key under this common prefix in one step.
                position = index.bisect_left(common + "\U0010ffff")
                continue
            objects.append((key, self.meta(bucket, key)))
            last = key
            position += 1
        return objects, prefixes, False, last


def _write_version(target: Path, data: bytes, *, durable: bool) -> None:
    """Write a new version file through a partial file renamed into place; ``durable``: fsync both."""
    partial = f"{target}{PARTIAL_SUFFIX}"
    _create(partial, data, durable=durable)
    # `target` never exists (versions are not reused): no rename over a file, which ext4 makes flush.
    os.rename(partial, target)
    if durable:
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _create(path: str, data: bytes, *, durable: bool) -> None:
    """Write a new file (and its folder if missing), with plain os calls: a PUT is mostly this."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        handle = os.open(path, flags, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle = os.open(path, flags, 0o666)
    try:
        written = 0
        while written < len(data):
            written += os.write(handle, data[written:])
        if durable:
            os.fsync(handle)
    finally:
        os.close(handle)


def _etags(header: str) -> set[str]:
    """The ETags of an ``If-Match``-style header, normalised to the quoted form."""
    return {f'"{value.strip().strip(chr(34))}"' for value in header.split(",") if value.strip()}


def _matches(meta: ObjectMeta, header: str) -> bool:
    """Whether an ``If-Match`` / ``If-None-Match`` header names this object (``*`` names any)."""
    return header.strip() == "*" or meta.etag in _etags(header)


def _not_after(meta: ObjectMeta, header: str | None) -> bool | None:
    """Whether the object was last modified at or before an HTTP date header (None: no usable header)."""
    moment = parse_http_date(header) if header else None
    return None if moment is None else int(meta.modified) <= moment


# --- HTTP -------------------------------------------------------------------------------------------
@dataclass
class Request:
    method: str
    bucket: str
    key: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def xml_response(body: str, status: int = 200) -> Response:
    return Response(
        status, f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'.encode(), {"content-type": "application/xml"}
    )


def error_response(error: S3Error, head: bool = False) -> Response:
    if head:
        return Response(error.status)
    return xml_response(
        f"<Error><Code>{error.code}</Code><Message>{escape(error.message)}</Message>"
        f"<Resource>{escape(error.resource)}</Resource><RequestId>0</RequestId></Error>",
        error.status,
    )


def tag(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def object_headers(meta: ObjectMeta) -> dict[str, str]:
    return {
        "etag": meta.etag or "",
        "last-modified": http_date(meta.modified),
        "content-type": "application/octet-stream",
        "accept-ranges": "bytes",
    }


class ObjectServer:
    """The ASGI application over an :class:`ObjectStore`."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.uploads: dict[str, tuple[str, str]] = {}  # upload id -> (bucket, key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        request = await self._request(scope, receive)
        try:
            response = await self.handle(request)
        except S3Error as error:
            response = error_response(error, head=request.method == "HEAD")
        except (ValueError, ElementTree.ParseError) as error:
            response = error_response(S3Error(400, "InvalidArgument", str(error)), head=request.method == "HEAD")
        headers = {"x-amz-request-id": "0", **response.headers}
        if request.method != "HEAD" or "content-length" not in headers:
            headers["content-length"] = str(len(response.body))
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": b"" if request.method == "HEAD" else response.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _request(scope: Scope, receive: Receive) -> Request:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if headers.get("x-amz-content-sha256", "").startswith("STREAMING-") or "aws-chunked" in headers.get(
            "content-encoding", ""
        ):
            body = decode_aws_chunked(body)
        raw_path = scope.get("raw_path")
        path = unquote(raw_path.decode("latin-1")) if raw_path else scope["path"]
        bucket, _, key = path.lstrip("/").partition("/")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        return Request(scope["method"], bucket, key, query, headers, body)

    async def handle(self, request: Request) -> Response:
        if not request.bucket:
            if request.method in ("GET", "HEAD"):
                return self.list_buckets()
            raise S3Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
        if not request.key:
            return await self.bucket_request(request)
        if not valid_key(request.key):
            raise S3Error(400, "InvalidArgument", "Invalid object key.", request.key)
        return await self.object_request(request)

    # --- buckets ---------------------------------------------------------------------------------------
    def list_buckets(self) -> Response:
        buckets = "".join(
            f"<Bucket>{tag('Name', b.name)}{tag('CreationDate', iso_date(b.path.stat().st_mtime))}</Bucket>"
            for b in self.store.buckets.values()
        )
        return xml_response(
            f'<ListAllMyBucketsResult xmlns="{S3_NS}"><Owner><ID>eventlake</ID></Owner>'
            f"<Buckets>{buckets}</Buckets></ListAllMyBucketsResult>"
        )

    async def bucket_request(self, request: Request) -> Response:
        name = request.bucket
        if request.method == "PUT":
            self.store.create_bucket(name)
            return Response(200, headers={"location": f"/{name}"})
        if request.method == "DELETE":
            self.store.delete_bucket(name)
            return Response(204)
        bucket = self.store.bucket(name)
        if request.method == "HEAD":
            return Response(200, headers={"x-amz-bucket-region": "us-east-1"})
        if request.method == "POST" and "delete" in request.query:
            return self.delete_objects(bucket, request.body)
        if request.method == "GET":
            if "location" in request.query:
                return xml_response(f'<LocationConstraint xmlns="{S3_NS}"></LocationConstraint>')
            return self.list_objects(bucket, request.query)
        raise S3Error(501, "NotImplemented", f"{request.method} on a bucket is not implemented.")

    def list_objects(self, bucket: Bucket, query: dict[str, str]) -> Response:
        v2 = query.get("list-type") == "2"
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        max_keys = min(int(query.get("max-keys", DEFAULT_MAX_KEYS)), DEFAULT_MAX_KEYS)
        token = query.get("continuation-token")
        after = query.get("marker", "")
        if v2:
            after = _untoken(token) if token else query.get("start-after", "")
        objects, prefixes, truncated, last = self.store.list(
            bucket, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys
        )
        parts = [f'<ListBucketResult xmlns="{S3_NS}">', tag("Name", bucket.name), tag("Prefix", prefix)]
        if delimiter:
            parts.append(tag("Delimiter", delimiter))
        parts.append(tag("MaxKeys", max_keys))
        parts.append(tag("IsTruncated", "true" if truncated else "false"))
        if v2:
            parts.append(tag("KeyCount", len(objects) + len(prefixes)))
            if token:
                parts.append(tag("ContinuationToken", token))
            if "start-after" in query:
                parts.append(tag("StartAfter", query["start-after"]))
            if truncated:
                parts.append(tag("NextContinuationToken", _token(last)))
        else:
            parts.append(tag("Marker", after))
            if truncated:
                parts.append(tag("NextMarker", last))
        for key, meta in objects:
            if meta.listing is None:
                meta.listing = (
                    f"<Contents>{tag('Key', key)}{tag('LastModified', iso_date(meta.modified))}"
                    f"{tag('ETag', meta.etag)}{tag('Size', meta.size)}<StorageClass>STANDARD</StorageClass></Contents>"
                )
            parts.append(meta.listing)
        parts.extend(f"<CommonPrefixes>{tag('Prefix', common)}</CommonPrefixes>" for common in prefixes)
        parts.append("</ListBucketResult>")
        return xml_response("".join(parts))

    def delete_objects(self, bucket: Bucket, body: bytes) -> Response:
        # The body comes from a client on loopback (the broker or a test), never from the network.
        document = ElementTree.fromstring(body)  # noqa: S314
        deleted = []
        quiet = False
        for element in document.iter():
            name = element.tag.rsplit("}", 1)[-1]
            if name == "Quiet":
                quiet = (element.text or "").strip().lower() == "true"
            elif name == "Key" and element.text:
                self.store.delete(bucket, element.text)
                deleted.append(element.text)
        entries = "" if quiet else "".join(f"<Deleted>{tag('Key', key)}</Deleted>" for key in deleted)
        return xml_response(f'<DeleteResult xmlns="{S3_NS}">{entries}</DeleteResult>')

    # --- objects ---------------------------------------------------------------------------------------
    async def object_request(self, request: Request) -> Response:
        bucket = self.store.bucket(request.bucket)
        key, query, headers = request.key, request.query, request.headers
        if "uploadId" in query or "uploads" in query:
            return await self.multipart(request, bucket)
        if request.method == "PUT":
            if "x-amz-copy-source" in headers:
                raise S3Error(501, "NotImplemented", "CopyObject is not implemented.")
            meta = await self.store.put(
                bucket,
                key,
                request.body,
                if_match=headers.get("if-match"),
                if_none_match=headers.get("if-none-match"),
            )
            return Response(200, headers={"etag": meta.etag or ""})
        if request.method in ("GET", "HEAD"):
            return self.get_object(request, bucket)
        if request.method == "DELETE":
            self.store.delete(bucket, key)
            return Response(204)
        raise S3Error(501, "NotImplemented", f"{request.method} on an object is not implemented.")

    def get_object(self, request: Request, bucket: Bucket) -> Response:
        headers = request.headers
        meta = self.store.meta(bucket, request.key)
        if "if-match" in headers and not _matches(meta, headers["if-match"]):
            raise precondition_failed("If-Match")
        if _not_after(meta, headers.get("if-unmodified-since")) is False:
            raise precondition_failed("If-Unmodified-Since")
        if ("if-none-match" in headers and _matches(meta, headers["if-none-match"])) or _not_after(
            meta, headers.get("if-modified-since")
        ):
            return Response(304, headers={"etag": meta.etag or ""})
        response_headers = object_headers(meta)
        if request.method == "HEAD":
            return Response(200, headers={**response_headers, "content-length": str(meta.size)})
        meta, data = self.store.read(bucket, request.key)
        if (ranged := headers.get("range")) is not None:
            start, end = _byte_range(ranged, len(data))
            return Response(
                206,
                data[start : end + 1],
                {**response_headers, "content-range": f"bytes {start}-{end}/{len(data)}"},
            )
        return Response(200, data, response_headers)

    async def multipart(self, request: Request, bucket: Bucket) -> Response:
        query = request.query
        if request.method == "POST" and "uploads" in query:
            upload_id = uuid.uuid4().hex
            (self.store.work / f"upload-{upload_id}").mkdir()
            self.uploads[upload_id] = (bucket.name, request.key)
            return xml_response(
                f'<InitiateMultipartUploadResult xmlns="{S3_NS}">{tag("Bucket", bucket.name)}'
                f"{tag('Key', request.key)}{tag('UploadId', upload_id)}</InitiateMultipartUploadResult>"
            )
        upload_id = query["uploadId"]
        if self.uploads.get(upload_id) != (bucket.name, request.key):
            raise S3Error(404, "NoSuchUpload", "The specified multipart upload does not exist.", upload_id)
        folder = self.store.work / f"upload-{upload_id}"
        if request.method == "PUT":
            number = int(query["partNumber"])
            (folder / f"{number:05d}").write_bytes(request.body)
            etag = f'"{hashlib.md5(request.body, usedforsecurity=False).hexdigest()}"'
            return Response(200, headers={"etag": etag})
        if request.method == "DELETE":
            self._drop_upload(upload_id, folder)
            return Response(204)
        if request.method == "POST":
            document = ElementTree.fromstring(request.body)  # noqa: S314
            numbers = [int(e.text or 0) for e in document.iter() if e.tag.rsplit("}", 1)[-1] == "PartNumber"]
            data = b"".join((folder / f"{number:05d}").read_bytes() for number in numbers)
            meta = await self.store.put(bucket, request.key, data)
            self._drop_upload(upload_id, folder)
            return xml_response(
                f'<CompleteMultipartUploadResult xmlns="{S3_NS}">{tag("Bucket", bucket.name)}'
                f"{tag('Key', request.key)}{tag('ETag', meta.etag)}</CompleteMultipartUploadResult>"
            )
        raise S3Error(501, "NotImplemented", "This multipart operation is not implemented.")

    def _drop_upload(self, upload_id: str, folder: Path) -> None:
        self.uploads.pop(upload_id, None)
        for part in folder.iterdir():
            part.unlink()
        folder.rmdir()


def _token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _untoken(token: str) -> str:
    return base64.urlsafe_b64decode(token.encode()).decode()


def _byte_range(header: str, size: int) -> tuple[int, int]:
    """Inclusive (start, end) of a ``bytes=`` Range header."""
    unit, _, spec = header.partition("=")
    first, _, last = spec.split(",")[0].strip().partition("-")
    if unit.strip() != "bytes" or (not first and not last):
        raise S3Error(416, "InvalidRange", "The requested range is not satisfiable.")
    if not first:
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise S3Error(416, "InvalidRange", "The requested range is not satisfiable.")
    return start, end


def serve(directory: Path, host: str, port: int, buckets: list[str], *, fsync: bool = False) -> None:
    """Load the store, create the named buckets, and serve until stopped."""
    import uvicorn

    store = ObjectStore(directory, fsync=fsync)
    store.load()
    for name in buckets:
        store.create_bucket(name)
    uvicorn.run(
        ObjectServer(store),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http="httptools",
        loop="uvloop",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", type=Path, required=True, help="Where objects are stored.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", action="append", default=[], help="Bucket to create if missing (repeatable).")
    parser.add_argument("--fsync", action="store_true", help="fsync every write (survives power loss, slower).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    serve(args.directory, args.host, args.port, args.bucket, fsync=args.fsync)


if __name__ == "__main__":
    main()
