"""Shared fixtures: a naming application over a recording push sink and a memory journal."""

from __future__ import annotations

import pytest

from nacosfast.naming.app import NamingApp
from nacosfast.naming.state import NamingState
from tests.naming_helpers import MemoryJournal, RecordingPush


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
