"""Shared fixtures: a naming application over a recording push sink and a memory journal."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

import pytest

from nacosfast.naming.app import NamingApp
from nacosfast.naming.state import NamingState
from tests.naming_helpers import MemoryJournal, RecordingPush

NODE_DIR: Final = Path(__file__).parent / "node"
"""The real Node ``nacos-naming`` client, pinned by ``tests/node/package-lock.json``."""


@pytest.fixture
def push() -> RecordingPush:
    return RecordingPush()


@pytest.fixture
def journal() -> MemoryJournal:
    return MemoryJournal()


@pytest.fixture
def naming_state(push: RecordingPush, journal: MemoryJournal) -> NamingState:
    return NamingState(push=push, journal=journal)


@pytest.fixture
def app(naming_state: NamingState) -> NamingApp:
    return NamingApp(naming_state)


@pytest.fixture
def node_client() -> Path:
    """The Node client's directory. Required, never skipped: ``make test`` installs it (``npm ci``)."""
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "nacos-naming").is_dir():
        pytest.fail(
            "the Node nacos-naming client is not installed: run `make test` (npm ci --prefix tests/node)"
        )
    return NODE_DIR
