"""``python -m producer_app.serve``: the configured server's command line, with each server's defaults."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from eventlake.settings import EventlakeSettings
from producer_app.serve import APP, server_command


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_granian_by_default_two_workers_32_threads_on_the_settings_address() -> None:
    settings = EventlakeSettings(producer_host="127.0.0.9", producer_port=5099)
    command = server_command(settings)
    assert Path(command[0]).name == "granian"
    assert _option(command, "--interface") == "wsgi"
    assert (_option(command, "--host"), _option(command, "--port")) == ("127.0.0.9", "5099")
    assert (_option(command, "--workers"), _option(command, "--blocking-threads")) == ("2", "32")
    assert "--respawn-failed-workers" in command
    assert command[-1] == APP


def test_gunicorn_reads_its_config_file_with_its_own_defaults() -> None:
    settings = EventlakeSettings(producer_server="gunicorn")
    command = server_command(settings)
    assert Path(command[0]).name == "gunicorn"
    assert Path(_option(command, "--config")).is_file()
    assert command[-1] == APP
    assert (settings.producer_worker_count, settings.producer_thread_count) == (2, 8)


def test_explicit_workers_and_threads_win_over_the_server_defaults() -> None:
    settings = EventlakeSettings(producer_workers=3, producer_threads=5)
    command = server_command(settings)
    assert (_option(command, "--workers"), _option(command, "--blocking-threads")) == ("3", "5")


def test_the_servers_and_the_app_module_are_installed() -> None:
    for server in ("granian", "gunicorn"):
        assert Path(server_command(EventlakeSettings(producer_server=server))[0]).exists(), server
    assert importlib.util.find_spec(APP.split(":")[0]) is not None


def test_settle_heap_freezes_the_start_up_objects_and_collects_young_objects_less_often() -> None:
    import gc

    from producer_app import YOUNG_COLLECTION_THRESHOLD, settle_heap

    threshold = gc.get_threshold()
    gc.unfreeze()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 10_000  # this process's modules, classes and functions
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *threshold[1:])
        # What is frozen is out of every collection's way: a full collection finds only what came after.
        assert len(gc.get_objects()) < gc.get_freeze_count()
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
