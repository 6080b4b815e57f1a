"""Fixtures of the distributed stack's static checks: the compose file as Compose reads it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventlake.distributed import COMPOSE_FILE, interpolate
from eventlake.settings import REPO_ROOT

MAKE_ENV_SCRIPT = REPO_ROOT / "docker" / "make-env.sh"


def make_env_names() -> list[str]:
    """Variables docker/make-env.sh writes into .env."""
    return re.findall(r"^add ([A-Z0-9_]+) ", MAKE_ENV_SCRIPT.read_text(), flags=re.MULTILINE)


def _interpolate_tree(node: Any, variables: dict[str, str]) -> Any:
    if isinstance(node, str):
        # `$$` is Compose's escape of a literal `$` (for the container's shell).
        return interpolate(node.replace("$$", "\0"), variables).replace("\0", "$")
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, variables) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(value, variables) for value in node]
    return node


@pytest.fixture(scope="session")
def compose_raw() -> dict[str, Any]:
    """docker-compose.yml as YAML (anchors and merge keys resolved), before interpolation."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="session")
def dotenv() -> dict[str, str]:
    """A .env as docker/make-env.sh writes it (placeholder values)."""
    return {name: f"placeholder-{name.lower().replace('_', '-')}" for name in make_env_names()}


@pytest.fixture(scope="session")
def compose(compose_raw: dict[str, Any], dotenv: dict[str, str]) -> dict[str, Any]:
    """The compose model after interpolation with that .env (what `docker compose config` would see)."""
    return _interpolate_tree(compose_raw, dotenv)


@pytest.fixture(scope="session")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
