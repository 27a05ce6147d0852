"""The cluster's Prometheus figures: members by state, membership stability, forwarding, reports.

Registered as the ``cluster`` collector of a node's ``MetricsRegistry`` in cluster mode. The Distro
runner's figures (sync per peer, anti-entropy, warm-up) are the ``distro`` collector
(``nacosfast.server.distro_metrics``).
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from nacosfast.metrics import MetricFamily, counter, gauge
from nacosfast.server.clock import monotonic_ms
from nacosfast.server.forwarder import Forwarder
from nacosfast.server.membership import Membership

__all__ = ["ClusterFigures"]

MEMBER_STATES: Final = ("UP", "SUSPICIOUS", "DOWN")
_FORWARDING: Final = (
    ("forwarded", "requests", "Client writes forwarded to the member that owns their service."),
    (
        "handled_locally",
        "requests_handled_locally",
        "Forwarded writes answered here (the owner was unreachable).",
    ),
    ("beats_relayed", "beats_relayed", "Client beats relayed to the owner of their service."),
    ("beats_dropped", "beats_dropped", "Relayed beats dropped (the queue to their owner was full)."),
    ("reregistered", "reregistrations", "Registrations sent to an owner that lacked a beating instance."),
    ("batches", "batches", "Batches of forwarded writes and beats sent."),
)


class ClusterFigures:
    """A collector over one node's membership and forwarder."""

    __slots__ = ("_forwarder", "_membership")

    def __init__(self, membership: Membership, forwarder: Forwarder) -> None:
        self._membership = membership
        self._forwarder = forwarder

    def families(self) -> list[MetricFamily]:
        """Members by state, membership version and stability, forwarding and report counters."""
        table = self._membership.table
        states = Counter(member.state for member in table.members())
        by_state = gauge("nacosfast_cluster_members", "Cluster members by state, as this node sees them.")
        for state in sorted(set(MEMBER_STATES) | set(states)):
            by_state.add(states.get(state, 0), (("state", state),))
        result = [
            by_state,
            gauge(
                "nacosfast_cluster_membership_version", "Changes of the healthy member list.", table.version
            ),
            gauge(
                "nacosfast_cluster_membership_stable",
                "1 once the healthy member list has not changed for the settle window.",
                table.stable(monotonic_ms()),
            ),
            counter(
                "nacosfast_cluster_reports_sent",
                "Status reports sent to members.",
                self._membership.reports_sent,
            ),
            counter(
                "nacosfast_cluster_reports_received",
                "Status reports received from members.",
                self._membership.reports_received,
            ),
        ]
        forwarding = counter("nacosfast_cluster_forwarding", "Forwarding to the owners of services.")
        for attribute, kind, _ in _FORWARDING:
            forwarding.add(getattr(self._forwarder, attribute), (("kind", kind),), "_total")
        result.append(forwarding)
        return result
