"""The naming node's Prometheus figures: requests by endpoint group, registry contents, push, expiry.

Pure (see ``nacosfast.metrics``). ``RequestStats.record`` is the only call on the request path: a dict
lookup of the path's group and one histogram observation. Everything else is read from what the node
keeps anyway, when a scrape asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Final

from nacosfast import NACOS_COMPAT_VERSION
from nacosfast.metrics import Histogram, MetricFamily, counter, gauge
from nacosfast.naming.state import NamingState

__all__ = ["EXPORT_PATHS", "FORWARDED", "RequestStats", "SweepStats", "naming_families", "request_group"]

EXPORT_PATHS: Final = ("/nacos/actuator/prometheus", "/metrics")
"""Where the exposition is served: Nacos's actuator path and the usual Prometheus one."""

_GROUP_PREFIXES: Final = (
    ("/nacos/v1/ns/instance/beat", "beat"),
    ("/nacos/v1/ns/instance/list", "list"),
    ("/nacos/v1/ns/instance", "instance"),
    ("/nacos/v1/ns/api/", "legacy_api"),
    ("/nacos/v1/ns/service", "service"),
    ("/nacos/v1/ns/catalog/", "catalog"),
    ("/nacos/v1/ns/cluster", "catalog"),
    ("/nacos/v1/ns/operator/", "operator"),
    ("/nacos/v1/ns/ops/", "operator"),
    ("/nacos/v1/ns/health", "health"),
    ("/nacos/v1/console/", "console_api"),
    ("/nacos/v1/core/", "console_api"),
    ("/nacos/v1/", "other"),
    ("/nacos/actuator/prometheus", "metrics"),
    ("/nacos/", "console_ui"),
)
"""Endpoint groups by path prefix, first match wins (``/metrics`` and ``/nacos`` are matched whole)."""
GROUPS: Final = tuple(dict.fromkeys([group for _, group in _GROUP_PREFIXES]))
MAX_REMEMBERED_PATHS: Final = 1024
"""Paths whose group is memoized; past that, a path's group is found by its prefixes every time
(a client sending random paths cannot grow the memo)."""
STATUS_CLASSES: Final = 10
"""Status codes are below 1000, so ``status // 100`` indexes a list of this length."""
FORWARDED: Final = 0
"""The status recorded for a request answered by another node (its answer is not known yet)."""
ELSEWHERE_GROUPS: Final = MappingProxyType(
    {"beat": "beat", "list": "list", "register": "instance", "deregister": "instance"}
)
"""Route names of the compiled request path (``FastPath.counts``) → their endpoint group."""
OK_CLASS: Final = 2
"""``status // 100`` of the answers the compiled request path gives (200 only)."""


def request_group(path: str) -> str:
    """The endpoint group a path belongs to (``other`` for anything unknown)."""
    if path in ("/metrics", "/nacos/actuator/prometheus"):
        return "metrics"
    if path == "/nacos":
        return "console_ui"
    for prefix, group in _GROUP_PREFIXES:
        if path.startswith(prefix):
            return group
    return "other"


class RequestStats:
    """Requests per endpoint group and status class, with the handler's latency: one node's."""

    __slots__ = ("_elsewhere", "_groups", "by_path")

    def __init__(self) -> None:
        self._groups = {group: [Histogram() for _ in range(STATUS_CLASSES)] for group in GROUPS}
        self._elsewhere: list[Callable[[], Mapping[str, int]]] = []
        self.by_path: dict[str, list[Histogram]] = {}
        """Path → its group's histograms by status class, for the paths seen first (bounded)."""

    def histograms(self, path: str) -> list[Histogram]:
        """The histograms (indexed by ``status // 100``) of ``path``'s group; memoized in ``by_path``.

        The request path looks a path up in ``by_path`` first and calls this only on a miss.
        """
        by_status = self._groups[request_group(path)]
        if len(self.by_path) < MAX_REMEMBERED_PATHS:
            self.by_path[path] = by_status
        return by_status

    def record(self, path: str, status: int, elapsed_ns: int) -> None:
        """Count one answered request and its handler time (``node_handler`` does this inline)."""
        by_status = self.by_path.get(path) or self.histograms(path)
        by_status[status // 100].observe_ns(elapsed_ns)

    def count_answered_elsewhere(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Also count the requests ``counts()`` reports answered by route name (``ELSEWHERE_GROUPS``,
        all 200): the compiled request path's ``FastPath.counts``, read at scrape time. No Python
        handler ran for them, so they are in the request counter but not the duration histogram."""
        self._elsewhere.append(counts)

    def _elsewhere_by_group(self) -> dict[str, int]:
        by_group: dict[str, int] = {}
        for counts in self._elsewhere:
            for route, count in counts().items():
                group = ELSEWHERE_GROUPS[route]
                by_group[group] = by_group.get(group, 0) + count
        return by_group

    def families(self) -> list[MetricFamily]:
        """``nacosfast_http_requests_total`` and ``nacosfast_http_request_duration_seconds``."""
        requests = counter(
            "nacosfast_http_requests",
            "HTTP requests answered, by endpoint group and status class.",
        )
        durations = MetricFamily(
            "nacosfast_http_request_duration_seconds",
            "histogram",
            "Time the handler took to answer (a durable write's wait for fsync is in the log's figures).",
        )
        elsewhere = self._elsewhere_by_group()
        for group, by_status in self._groups.items():
            for status_class, histogram in enumerate(by_status):
                count = histogram.count + (elsewhere.get(group, 0) if status_class == OK_CLASS else 0)
                if not count:
                    continue
                status = "forwarded" if status_class == FORWARDED else f"{status_class}xx"
                labels = (("group", group), ("status", status))
                requests.add(count, labels, "_total")
                if histogram.count:
                    durations.add_histogram(histogram, labels)
        return [requests, durations]


class SweepStats:
    """What the reaper's beat-expiry sweeps did, and how late they ran: one node's."""

    __slots__ = ("lag", "removed", "services_removed", "sweeps", "unhealthy")

    def __init__(self) -> None:
        self.sweeps = 0
        self.unhealthy = 0
        self.removed = 0
        self.services_removed = 0
        self.lag = Histogram()
        """How far behind its schedule each sweep started: the event loop's lag, which every beat
        waiting to be read also waits."""

    def families(self) -> list[MetricFamily]:
        """Expiry transitions and sweep lag."""
        transitions = counter(
            "nacosfast_expiry_transitions",
            "Instances changed by beat expiry: marked unhealthy, or removed.",
        )
        transitions.add(self.unhealthy, (("to", "unhealthy"),), "_total")
        transitions.add(self.removed, (("to", "removed"),), "_total")
        return [
            counter("nacosfast_expiry_sweeps", "Beat-expiry sweeps run.", self.sweeps),
            transitions,
            counter(
                "nacosfast_empty_services_removed",
                "Services removed because they stayed empty.",
                self.services_removed,
            ),
            MetricFamily(
                "nacosfast_beat_processing_lag_seconds",
                "histogram",
                "How late each beat-expiry sweep started: the event loop's lag, which beats also wait.",
            ).add_histogram(self.lag),
        ]


def _instance_counts(state: NamingState) -> dict[tuple[bool, bool], int]:
    """Instances by (healthy, ephemeral), every namespace."""
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    registry = state.registry
    for namespace in registry.namespaces():
        for name in registry.services(namespace):
            service = registry.get(namespace, name)
            if service is None:
                continue
            for instance in service.instances():
                counts[instance.healthy, instance.ephemeral] += 1
    return counts


_PUSH_COUNTERS: Final = (
    ("sent", "UDP push packets sent, retries included."),
    ("acked", "Push packets acknowledged by their subscriber."),
    ("retried", "Push packets sent again for want of an ack."),
    ("failed", "Push packets that failed: no ack before giving up, or too large to send."),
    ("dropped", "Service changes dropped because too many services were waiting to be pushed."),
    ("send_errors", "UDP sends the kernel refused."),
)


def naming_families(state: NamingState) -> Iterable[MetricFamily]:
    """The registry's contents, subscribers and push counters of one node."""
    yield gauge(
        "nacosfast_info", "The Nacos version nacosfast answers as.", 1, (("version", NACOS_COMPAT_VERSION),)
    )
    registry = state.registry
    yield gauge("nacosfast_services", "Services, every namespace.", registry.service_count)
    instances = gauge("nacosfast_instances", "Instances by health and kind, every namespace.")
    for (healthy, ephemeral), count in _instance_counts(state).items():
        labels = (("healthy", str(healthy).lower()), ("ephemeral", str(ephemeral).lower()))
        instances.add(count, labels)
    yield instances
    yield gauge("nacosfast_namespaces", "Custom namespaces (public not counted).", len(state.namespaces))
    yield gauge(
        "nacosfast_beat_tracked_instances", "Ephemeral instances whose beats are watched.", len(state.beats)
    )
    push = state.push
    yield gauge(
        "nacosfast_subscribers",
        "Push subscribers (clients that listed a service with a UDP port).",
        push.subscriber_count,
    )
    stats = push.counters()
    for key, help_text in _PUSH_COUNTERS:
        yield counter(f"nacosfast_push_{key}", help_text, stats.get(key, 0))
    yield gauge("nacosfast_push_pending", "Push packets waiting for their ack.", stats.get("pending", 0))
    acked = stats.get("acked", 0)
    yield (
        MetricFamily(
            "nacosfast_push_ack_seconds",
            "summary",
            "Time from sending a push packet to its ack.",
        )
        .add(acked, suffix="_count")
        .add(stats.get("ack_rtt_avg_ms", 0) * acked / 1000, suffix="_sum")
    )
    yield gauge(
        "nacosfast_push_ack_max_seconds", "Slowest push ack so far.", stats.get("ack_rtt_max_ms", 0) / 1000
    )
