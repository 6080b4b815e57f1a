"""The init one-shot's bucket step against a real S3 server (the embedded stack's object server), not MinIO."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from eventlake.distributed import ensure_bucket, load_distributed_settings
from eventlake.settings import EventlakeSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded stack's object server with no bucket at all, on a free port; yields its endpoint."""
    from eventlake.stack.services import broker_storage_command
    from eventlake.stack.testing import free_ports, wait_for_port

    (port,) = free_ports(1)
    command = broker_storage_command(tmp_path_factory.mktemp("s3") / "data", port)
    # No bucket: the init one-shot under test creates it.
    process = subprocess.Popen(command[: command.index("--bucket")])
    try:
        wait_for_port(port, 30, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def lake_settings(endpoint: str) -> EventlakeSettings:
    """The distributed profile, pointed at the test's S3 server (which does not check credentials)."""
    profile = load_distributed_settings({"MINIO_ROOT_USER": "eventlake", "MINIO_ROOT_PASSWORD": "eventlake",
                                         "POSTGRES_PASSWORD": "x", "EVENTLAKE_ADMIN_PASSWORD": "x",
                                         "EVENTLAKE_VIEWER_PASSWORD": "x"})  # fmt: skip
    return profile.model_copy(update={"s3_endpoint": endpoint})


def test_init_creates_the_lake_bucket_once(s3_server: str) -> None:
    import pyarrow.fs as pafs

    settings = lake_settings(s3_server)
    fs = pafs.S3FileSystem(
        access_key="eventlake",
        secret_key="eventlake",
        endpoint_override=s3_server.removeprefix("http://"),
        scheme="http",
    )
    assert fs.get_file_info("eventlake").type == pafs.FileType.NotFound

    assert ensure_bucket(settings) == "eventlake"
    assert fs.get_file_info("eventlake").type == pafs.FileType.Directory
    # A second init (compose restarts it after a failure) changes nothing and does not fail.
    with fs.open_output_stream("eventlake/landing/marker") as out:
        out.write(b"kept")
    assert ensure_bucket(settings) == "eventlake"
    with fs.open_input_stream("eventlake/landing/marker") as kept:
        assert kept.read() == b"kept"


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
