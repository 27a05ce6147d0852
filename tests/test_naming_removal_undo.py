"""A service removal also covers instances that memory lacks only because a write to them is pending.

Found by Hypothesis (``test_naming_journal``): an instance durable, its deregistration pending, the
service removed (durable), the deregistration refused: the undo put the instance back, though the
durable removal record deletes every persistent instance of the service (as etcd's range delete does).
"""

from __future__ import annotations

from nacosfast.naming.app import NamingApp
from nacosfast.naming.journal import settle, undo
from nacosfast.naming.state import NamingState
from tests.naming_helpers import MemoryJournal, RecordingPush, call

INSTANCE_PATH = "/v1/ns/instance"
PARAMS = {"serviceName": "G@@s", "ip": "10.0.0.1", "port": 80, "ephemeral": "false"}


def test_a_refused_deregistration_does_not_bring_back_an_instance_a_durable_removal_deleted() -> None:
    sink = MemoryJournal()
    state = NamingState(push=RecordingPush(), journal=sink)
    app = NamingApp(state)
    assert call(app, "POST", INSTANCE_PATH, PARAMS).status == 200
    settle(state, len(sink.payloads))  # the instance (and its service) are durable
    assert call(app, "DELETE", INSTANCE_PATH, PARAMS).status == 200
    deregistration = len(sink.payloads)
    assert call(app, "DELETE", "/v1/ns/service", {"serviceName": "G@@s"}).status == 200
    removal = len(sink.payloads)
    undo(state, deregistration, 0)  # the deregistration is refused...
    settle(state, removal)  # ...and the removal, which deletes every persistent instance, is durable
    assert len(state.ledger) == 0
    assert state.registry.get("public", "G@@s") is None
