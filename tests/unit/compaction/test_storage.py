"""Listing the lake by the layout contract: only visible batch files count; versions are found."""

from __future__ import annotations

import random

from eventlake.catalog import get_event_type
from eventlake.compaction.fixtures import LandingWriter
from eventlake.compaction.storage import Lake
from eventlake.lake import HourPartition, hidden_batch_file_name
from eventlake.settings import EventlakeSettings

PAID = get_event_type("game.paid")
HOUR = HourPartition("2026-11-24", 7)


def test_only_visible_batch_files_are_landed(tmp_path):
    lake = Lake.from_settings(EventlakeSettings(home=tmp_path))
    writer = LandingWriter(lake, random.Random(1))
    visible = writer.write(PAID, HOUR, writer.events(PAID, HOUR, 3))
    directory = visible.rpartition("/")[0]
    for name in (hidden_batch_file_name(9, 0), "notes.txt", "part-0.parquet"):
        lake.fs.copy_file(visible, f"{directory}/{name}")
    (landed,) = lake.landed_files(PAID.event_type)
    assert (landed.hour, landed.name) == (HOUR, visible.rpartition("/")[2])
    assert landed.rel_path == f"event_type=game.paid/{HOUR.path}/{landed.name}"
    assert lake.landed_path(landed) == visible
    assert landed.size > 0


def test_version_dirs_and_uris_round_trip(tmp_path):
    lake = Lake.from_settings(EventlakeSettings(home=tmp_path))
    for version in ("a", "b"):
        lake.write_json(f"{lake.version_path('game_paid', HOUR, version)}/_eventlake_manifest.json", {"v": version})
    lake.fs.create_dir(f"{lake.table_path('game_paid')}/_staging/x", recursive=True)
    versions = lake.version_dirs("game_paid")
    assert [(v.hour, v.version) for v in versions] == [(HOUR, "a"), (HOUR, "b")]
    uri = lake.uri(versions[0].path)
    assert uri.startswith("file:///")
    assert lake.path(uri) == versions[0].path
    assert lake.path(uri.replace("file:///", "file:/")) == versions[0].path
    assert lake.manifest(versions[1].path) == {"v": "b"}
