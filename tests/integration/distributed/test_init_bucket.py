"""The init one-shot's bucket step against a real S3 server (s3rver, the embedded stack's), not MinIO."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlake.distributed import ensure_bucket, load_distributed_settings
from eventlake.settings import EventlakeSettings

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An s3rver with no bucket at all, on a free port; yields its endpoint."""
    from eventlake.stack.cli import install_s3rver
    from eventlake.stack.services import s3rver_dir
    from eventlake.stack.testing import isolated_settings

    home = tmp_path_factory.mktemp("s3")
    settings = isolated_settings(home, repo_root=Path(__file__).resolve().parents[3])
    install_s3rver(settings)
    port = free_port()
    binary = s3rver_dir(settings) / "node_modules" / ".bin" / "s3rver"
    command = [
        str(binary),
        "--directory",
        str(home / "data"),
        "--address",
        "127.0.0.1",
        "--port",
        str(port),
        "--silent",
    ]
    (home / "data").mkdir()
    process = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "s3rver exited"
                assert time.monotonic() < deadline, "s3rver did not listen within 30 s"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def lake_settings(endpoint: str) -> EventlakeSettings:
    """The distributed profile, pointed at the test's S3 server (s3rver's fixed development keys)."""
    profile = load_distributed_settings({"MINIO_ROOT_USER": "S3RVER", "MINIO_ROOT_PASSWORD": "S3RVER",
                                         "POSTGRES_PASSWORD": "x", "EVENTLAKE_ADMIN_PASSWORD": "x",
                                         "EVENTLAKE_VIEWER_PASSWORD": "x"})  # fmt: skip
    return profile.model_copy(update={"s3_endpoint": endpoint})


def test_init_creates_the_lake_bucket_once(s3_server: str) -> None:
    import pyarrow.fs as pafs

    settings = lake_settings(s3_server)
    fs = pafs.S3FileSystem(
        access_key="S3RVER", secret_key="S3RVER", endpoint_override=s3_server.removeprefix("http://"), scheme="http"
    )
    assert fs.get_file_info("eventlake").type == pafs.FileType.NotFound

    assert ensure_bucket(settings) == "eventlake"
    assert fs.get_file_info("eventlake").type == pafs.FileType.Directory
    # A second init (compose restarts it after a failure) changes nothing and does not fail.
    with fs.open_output_stream("eventlake/landing/marker") as out:
        out.write(b"kept")
    assert ensure_bucket(settings) == "eventlake"
    # (Content is not compared: s3rver stores the SDK's aws-chunked upload framing verbatim.)
    assert fs.get_file_info("eventlake/landing/marker").type == pafs.FileType.File


def test_the_lake_reads_the_bucket_with_the_distributed_endpoint_form(s3_server: str) -> None:
    """The compaction's file-system access takes EVENTLAKE_S3_ENDPOINT as written (``http://host:port``)."""
    import pyarrow.fs as pafs

    from eventlake.compaction.storage import Lake

    settings = lake_settings(s3_server)
    ensure_bucket(settings)
    lake = Lake.from_settings(settings)
    assert lake.uri(lake.landing) == f"{settings.lake_uri}/landing/events"
    with lake.fs.open_output_stream(f"{lake.landing}/probe") as out:
        out.write(b"x")
    assert lake.fs.get_file_info(f"{lake.landing}/probe").type == pafs.FileType.File
