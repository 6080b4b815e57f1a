"""The broker's object server: the S3 semantics Tansu and pyarrow rely on, over its ASGI app."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventlake.stack.object_server import ObjectServer, ObjectStore, Request, S3Error, decode_aws_chunked

BUCKET = "tansu"


def open_store(directory: Path, *, fsync: bool = False) -> ObjectStore:
    store = ObjectStore(directory, fsync=fsync)
    store.load()
    store.create_bucket(BUCKET)
    return store


class Client:
    """A synchronous HTTP client of the server's ASGI app (no socket)."""

    def __init__(self, server: ObjectServer) -> None:
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=server), base_url="http://storage")

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.http.request(method, url, **options))

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def head(self, url: str, **options: Any) -> httpx.Response:
        return self.request("HEAD", url, **options)

    def put(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PUT", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def delete(self, url: str, **options: Any) -> httpx.Response:
        return self.request("DELETE", url, **options)

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()


def connect(directory: Path) -> Client:
    return Client(ObjectServer(open_store(directory)))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    connected = connect(tmp_path / "data")
    yield connected
    connected.close()


def keys_of(listing: str) -> list[str]:
    return re.findall(r"<Key>([^<]*)</Key>", listing)


def test_put_get_head_delete(client: Client) -> None:
    body = b'{"x": 1}'
    put = client.put(f"/{BUCKET}/a/b.json", content=body)
    assert put.status_code == 200
    assert put.headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = client.get(f"/{BUCKET}/a/b.json")
    assert (got.status_code, got.content, got.headers["etag"]) == (200, b'{"x": 1}', put.headers["etag"])
    head = client.head(f"/{BUCKET}/a/b.json")
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "8", b"")
    assert client.delete(f"/{BUCKET}/a/b.json").status_code == 204
    missing = client.get(f"/{BUCKET}/a/b.json")
    assert missing.status_code == 404
    assert "<Code>NoSuchKey</Code>" in missing.text
    assert client.head(f"/{BUCKET}/a/b.json").status_code == 404


def test_a_key_can_be_both_an_object_and_a_prefix(client: Client) -> None:
    assert client.put(f"/{BUCKET}/topics/t1", content=b"file").status_code == 200
    assert client.put(f"/{BUCKET}/topics/t1/partitions/0", content=b"nested").status_code == 200
    assert client.get(f"/{BUCKET}/topics/t1").content == b"file"
    assert client.get(f"/{BUCKET}/topics/t1/partitions/0").content == b"nested"


def test_create_only_if_absent(client: Client) -> None:
    url = f"/{BUCKET}/watermark.json"
    assert client.put(url, content=b"v1", headers={"If-None-Match": "*"}).status_code == 200
    refused = client.put(url, content=b"v0", headers={"If-None-Match": "*"})
    assert refused.status_code == 412
    assert "<Code>PreconditionFailed</Code>" in refused.text
    assert client.get(url).content == b"v1"


def test_update_only_if_unchanged(client: Client) -> None:
    url = f"/{BUCKET}/watermark.json"
    first = client.put(url, content=b"v1").headers["etag"]
    second = client.put(url, content=b"v2", headers={"If-Match": first})
    assert second.status_code == 200
    stale = client.put(url, content=b"v3", headers={"If-Match": first})
    assert stale.status_code == 412
    assert client.get(url).content == b"v2"
    assert client.put(f"/{BUCKET}/absent", content=b"x", headers={"If-Match": first}).status_code == 404


def test_concurrent_creates_of_one_key_admit_exactly_one(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    bucket = store.bucket(BUCKET)

    async def race() -> list[object]:
        writes = [store.put(bucket, "meta.json", f"writer {n}".encode(), if_none_match="*") for n in range(20)]
        return await asyncio.gather(*writes, return_exceptions=True)

    outcomes = asyncio.run(race())
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, S3Error) and o.status == 412]
    assert (len(winners), len(refused)) == (1, 19)


def test_conditional_get(client: Client) -> None:
    url = f"/{BUCKET}/object"
    etag = client.put(url, content=b"body").headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-Match": etag}).status_code == 200
    assert client.get(url, headers={"If-Match": '"other"'}).status_code == 412


def test_range_get(client: Client) -> None:
    url = f"/{BUCKET}/range"
    client.put(url, content=b"0123456789")
    part = client.get(url, headers={"Range": "bytes=2-4"})
    assert (part.status_code, part.content, part.headers["content-range"]) == (206, b"234", "bytes 2-4/10")
    assert client.get(url, headers={"Range": "bytes=-3"}).content == b"789"
    assert client.get(url, headers={"Range": "bytes=7-"}).content == b"789"
    assert client.get(url, headers={"Range": "bytes=20-30"}).status_code == 416


def test_list_v2_pages_through_every_key_once_in_order(client: Client) -> None:
    keys = [f"records/{n:020d}.batch" for n in range(0, 50, 3)] + ["other/x", "records0"]
    for key in keys:
        client.put(f"/{BUCKET}/{key}", content=key.encode())
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params = {"list-type": "2", "prefix": "records/", "max-keys": "4"}
        if token:
            params["continuation-token"] = token
        page = client.get(f"/{BUCKET}", params=params)
        assert page.status_code == 200
        seen += keys_of(page.text)
        pages += 1
        found = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", page.text)
        if "<IsTruncated>true</IsTruncated>" not in page.text:
            assert found is None
            break
        assert found is not None
        token = found.group(1)
    assert seen == sorted(k for k in keys if k.startswith("records/"))
    assert pages == 5
    after = client.get(f"/{BUCKET}", params={"list-type": "2", "prefix": "records/", "start-after": seen[-2]})
    assert keys_of(after.text) == [seen[-1]]


def test_list_with_delimiter_gives_common_prefixes(client: Client) -> None:
    for key in ("topics/a.json", "topics/a/partitions/0", "topics/a/partitions/1", "topics/b/x", "topics/c.json"):
        client.put(f"/{BUCKET}/{key}", content=b"x")
    page = client.get(f"/{BUCKET}", params={"list-type": "2", "prefix": "topics/", "delimiter": "/"})
    assert keys_of(page.text) == ["topics/a.json", "topics/c.json"]
    assert re.findall(r"<CommonPrefixes><Prefix>([^<]*)</Prefix>", page.text) == ["topics/a/", "topics/b/"]
    first = client.get(f"/{BUCKET}", params={"list-type": "2", "prefix": "topics/", "delimiter": "/", "max-keys": "2"})
    token = re.search(r"<NextContinuationToken>([^<]*)<", first.text)
    assert token is not None
    rest = client.get(
        f"/{BUCKET}",
        params={"list-type": "2", "prefix": "topics/", "delimiter": "/", "continuation-token": token.group(1)},
    )
    names = keys_of(first.text) + keys_of(rest.text)
    names += re.findall(r"<CommonPrefixes><Prefix>([^<]*)</Prefix>", first.text + rest.text)
    assert sorted(names) == ["topics/a.json", "topics/a/", "topics/b/", "topics/c.json"]


def test_objects_and_etags_survive_a_restart_and_torn_writes_are_dropped(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    before = connect(directory)
    etag = before.put(f"/{BUCKET}/clusters/c/watermark.json", content=b'{"high":2000}').headers["etag"]
    (directory / ".work" / "tmp-leftover").write_bytes(b"half a write")

    before.close()
    after = connect(directory)
    got = after.get(f"/{BUCKET}/clusters/c/watermark.json")
    assert (got.content, got.headers["etag"]) == (b'{"high":2000}', etag)
    # The restarted server refuses to re-create what exists (the bug that reset Tansu's offsets).
    assert (
        after.put(f"/{BUCKET}/clusters/c/watermark.json", content=b"{}", headers={"If-None-Match": "*"}).status_code
        == 412
    )
    assert not (directory / ".work" / "tmp-leftover").exists()
    after.close()


def files_of(directory: Path) -> list[str]:
    """Every file under the bucket's folder, relative to it."""
    root = directory / BUCKET
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_an_overwritten_object_reads_back_its_last_content_from_one_file(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    client = connect(directory)
    url = f"/{BUCKET}/clusters/c/meta.json"
    for content in (b"v1", b"v2", b"v3"):
        etag = client.put(url, content=content).headers["etag"]
    got = client.get(url)
    assert (got.content, got.headers["etag"]) == (b"v3", etag)
    assert files_of(directory) == ["clusters/c/meta.json.obj.3"]
    client.close()
    restarted = connect(directory)
    assert restarted.get(url).content == b"v3"
    assert restarted.put(url, content=b"v4").status_code == 200
    assert files_of(directory) == ["clusters/c/meta.json.obj.4"]
    restarted.close()


def test_a_crash_between_versions_leaves_the_newest_and_nothing_else(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    folder = directory / BUCKET / "topics" / "t" / "partitions" / "0"
    folder.mkdir(parents=True)
    # A kill after a write's rename and before the unlink of the version it replaced, then one mid-write.
    (folder / "watermark.json.obj.3").write_bytes(b"old")
    (folder / "watermark.json.obj.11").write_bytes(b"new")
    (folder / "watermark.json.obj.12.tmp").write_bytes(b"half a wri")
    client = connect(directory)
    url = f"/{BUCKET}/topics/t/partitions/0/watermark.json"
    assert client.get(url).content == b"new"
    assert files_of(directory) == ["topics/t/partitions/0/watermark.json.obj.11"]
    # Later writes get versions past every one found, so a restart cannot mistake an old one for the newest.
    client.put(url, content=b"newer")
    assert files_of(directory) == ["topics/t/partitions/0/watermark.json.obj.12"]
    client.close()


def test_objects_of_the_unversioned_layout_are_read_and_replaced(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    (directory / BUCKET / "clusters" / "c").mkdir(parents=True)
    (directory / BUCKET / "clusters" / "c" / "meta.json.obj").write_bytes(b"written by the previous server")
    (directory / BUCKET / "records.batch.obj").write_bytes(b"batch")
    client = connect(directory)
    assert client.get(f"/{BUCKET}/clusters/c/meta.json").content == b"written by the previous server"
    listed = keys_of(client.get(f"/{BUCKET}", params={"list-type": "2"}).text)
    assert listed == ["clusters/c/meta.json", "records.batch"]
    client.put(f"/{BUCKET}/clusters/c/meta.json", content=b"v2")
    assert client.get(f"/{BUCKET}/clusters/c/meta.json").content == b"v2"
    assert files_of(directory) == ["clusters/c/meta.json.obj.1", "records.batch.obj"]
    client.close()


def test_delete_removes_every_version_and_the_folders_left_empty(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    client = connect(directory)
    url = f"/{BUCKET}/clusters/c/meta.json"
    for content in (b"v1", b"v2"):
        client.put(url, content=content)
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert not (directory / BUCKET / "clusters").exists()
    client.close()
    restarted = connect(directory)
    assert restarted.get(url).status_code == 404
    restarted.close()


def test_listing_shows_keys_without_version_suffixes(client: Client) -> None:
    keys = ["clusters/c/meta.json", "clusters/c/meta.json/nested", "topics/t.obj", "topics/t/watermark.json"]
    for key in keys:
        for content in (b"first", b"second"):
            client.put(f"/{BUCKET}/{key}", content=content)
    assert keys_of(client.get(f"/{BUCKET}", params={"list-type": "2"}).text) == keys
    page = client.get(f"/{BUCKET}", params={"list-type": "2", "prefix": "clusters/c/", "delimiter": "/"})
    assert keys_of(page.text) == ["clusters/c/meta.json"]
    assert re.findall(r"<CommonPrefixes><Prefix>([^<]*)</Prefix>", page.text) == ["clusters/c/meta.json/"]


def test_the_fsync_mode_syncs_each_version_and_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path / "data", fsync=True)
    bucket = store.bucket(BUCKET)
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    for content in (b"v1", b"v2"):
        asyncio.run(store.put(bucket, "topics/t/watermark.json", content))
    assert synced == ["file", "folder", "file", "folder"]
    assert store.read(bucket, "topics/t/watermark.json")[1] == b"v2"
    assert files_of(tmp_path / "data") == ["topics/t/watermark.json.obj.2"]


def test_aws_chunked_bodies_are_decoded(client: Client) -> None:
    framed = b"5;chunk-signature=ab\r\nhello\r\n6;chunk-signature=cd\r\n world\r\n0;chunk-signature=ef\r\n\r\n"
    assert decode_aws_chunked(framed) == b"hello world"
    put = client.put(
        f"/{BUCKET}/chunked",
        content=framed,
        headers={"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "content-encoding": "aws-chunked"},
    )
    assert put.status_code == 200
    assert client.get(f"/{BUCKET}/chunked").content == b"hello world"


def test_multi_object_delete(client: Client) -> None:
    for key in ("a", "b", "c"):
        client.put(f"/{BUCKET}/{key}", content=b"x")
    body = b"<Delete><Object><Key>a</Key></Object><Object><Key>c</Key></Object></Delete>"
    answer = client.post(f"/{BUCKET}?delete", content=body)
    assert answer.status_code == 200
    assert keys_of(answer.text) == ["a", "c"]
    assert keys_of(client.get(f"/{BUCKET}", params={"list-type": "2"}).text) == ["b"]


def test_multipart_upload(client: Client) -> None:
    started = client.post(f"/{BUCKET}/big?uploads")
    upload = re.search(r"<UploadId>([^<]*)</UploadId>", started.text)
    assert upload is not None
    upload_id = upload.group(1)
    for number, data in ((1, b"first-"), (2, b"second")):
        assert client.put(f"/{BUCKET}/big?partNumber={number}&uploadId={upload_id}", content=data).status_code == 200
    parts = "".join(f"<Part><PartNumber>{n}</PartNumber></Part>" for n in (1, 2))
    done = client.post(
        f"/{BUCKET}/big?uploadId={upload_id}", content=f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>"
    )
    assert done.status_code == 200
    assert client.get(f"/{BUCKET}/big").content == b"first-second"


def test_buckets(client: Client) -> None:
    assert client.head("/lake").status_code == 404
    assert client.put("/lake").status_code == 200
    assert client.head("/lake").status_code == 200
    assert "<Name>lake</Name>" in client.get("/").text
    client.put("/lake/x", content=b"x")
    assert client.delete("/lake").status_code == 409
    client.delete("/lake/x")
    assert client.delete("/lake").status_code == 204
    assert client.get("/lake/x").status_code == 404


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "./x", "/absolute"])
def test_keys_cannot_leave_the_bucket(tmp_path: Path, key: str) -> None:
    # Sent as raw paths: HTTP clients would normalise the dot segments away before the server sees them.
    server = ObjectServer(open_store(tmp_path / "data"))
    request = Request("PUT", BUCKET, key, {}, {}, b"x")
    with pytest.raises(S3Error) as refused:
        asyncio.run(server.handle(request))
    assert refused.value.status == 400
    assert not any((tmp_path / "data").glob("escape*"))
