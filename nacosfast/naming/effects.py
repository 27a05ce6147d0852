"""What follows a registry write: push notification, heartbeat tracking and durable records.

Every endpoint that changes a service goes through these helpers, so that no write forgets to push,
to track (or untrack) beats, or to journal what must survive a restart.
"""

from __future__ import annotations

from collections.abc import Hashable

from nacosfast._core.registry import Change, Instance, Service
from nacosfast.naming.journal import service_record
from nacosfast.naming.state import NamingState


def beat_key(namespace: str, name: str, instance_key: str) -> Hashable:
    """The heartbeat-table key of one ephemeral instance."""
    return (namespace, name, instance_key)


def track(state: NamingState, namespace: str, name: str, instance: Instance, now_ms: int) -> None:
    """Start (or restart) beat tracking for an ephemeral, unmarked instance."""
    if instance.ephemeral and not instance.marked:
        service = state.registry.get(namespace, name)
        if service is not None:  # store the snapshot's strings: shared by every instance of the service
            namespace, name = service.namespace, service.name
        state.beats.track(
            beat_key(namespace, name, instance.key),
            now_ms,
            instance.beat_timeout_ms,
            instance.delete_timeout_ms,
            instance.healthy,
        )


def untrack_service(state: NamingState, service: Service) -> None:
    """Stop beat tracking for every ephemeral instance of a (removed) service."""
    for instance in service.instances(ephemeral=True):
        state.beats.untrack(beat_key(service.namespace, service.name, instance.key))


def notify(state: NamingState, change: Change | None, now_ms: int) -> None:
    """Tell push, and the health checker, that a service's instances changed (a no-op for ``None``)."""
    if change is not None:
        service = change.service
        state.push.service_changed(service.namespace, service.name, now_ms)
        if state.health_checks is not None:
            current = None if change.service_removed else service
            state.health_checks.service_changed(service.namespace, service.name, current)


def persist_service(state: NamingState, namespace: str, name: str) -> int:
    """Journal the service's current durable state; the sequence number to wait on before ``ok``."""
    return state.journal.append(service_record(namespace, name, state.registry.get(namespace, name)))
