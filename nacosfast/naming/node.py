"""Build one node's naming state with its real push hub (rendering through ``naming.render``)."""

from __future__ import annotations

from collections.abc import Callable

from nacosfast.limits import PUSH_CACHE_MILLIS
from nacosfast.naming.push import PushConfig, PushHub
from nacosfast.naming.render import render_list
from nacosfast.naming.state import JournalSink, NamingState, ServerIdentity


def build_state(
    journal: JournalSink,
    wall_clock: Callable[[], int],
    *,
    identity: ServerIdentity | None = None,
    push_config: PushConfig | None = None,
) -> NamingState:
    """A ``NamingState`` whose push hub renders each subscriber's list from that same state."""
    state: NamingState | None = None

    def render(namespace: str, service: str, clusters: str, agent: str, client_ip: str) -> bytes:
        assert state is not None
        return render_list(
            state,
            namespace,
            service,
            clusters,
            state.clients.get(agent),
            client_ip,
            False,
            PUSH_CACHE_MILLIS,
            wall_clock(),
        )

    state = NamingState(
        push=PushHub(render, push_config),
        journal=journal,
        identity=identity or ServerIdentity(),
        started_wall_ms=wall_clock(),
    )
    return state
