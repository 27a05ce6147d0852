"""The metrics registry and exposition (``nacosfast.metrics``), the naming figures and the front door.

The text format is checked against ``prometheus_client`` itself: what ``render`` writes must be byte
for byte what the library's ``generate_latest`` writes for the same samples, and its parser must read
it back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from nacosfast.front import Front
from nacosfast.metrics import (
    CONTENT_TYPE,
    LATENCY_BUCKETS_S,
    Histogram,
    MetricFamily,
    MetricsRegistry,
    counter,
    gauge,
    render,
)
from nacosfast.naming.app import NamingApp
from nacosfast.naming.metrics import (
    GROUPS,
    MAX_REMEMBERED_PATHS,
    RequestStats,
    SweepStats,
    naming_families,
    request_group,
)
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import Request
from tests.naming_helpers import WALL_EPOCH_MS, call


class _Mirror(Collector):
    """Hands our families to ``prometheus_client`` as its own ``Metric`` objects."""

    def __init__(self, families: list[MetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            metric = Metric(family.name, family.help, family.type)
            for sample in family.samples:
                metric.add_sample(sample.name, dict(sample.labels), sample.value)
            yield metric


def reference_text(families: list[MetricFamily]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Mirror(families))
    return generate_latest(registry)


def parsed(text: bytes) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """family name → {(sample name, sorted labels): value}, through ``prometheus_client``'s parser."""
    result: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in text_string_to_metric_families(text.decode()):
        samples = result.setdefault(family.name, {})
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return result


def sample_families() -> list[MetricFamily]:
    histogram = Histogram((0.001, 0.01, 1.0))
    for elapsed_ns in (500_000, 1_000_000, 1_000_001, 5_000_000_000):
        histogram.observe_ns(elapsed_ns)
    tricky = 'a "quoted" \\ back\nslash'
    return [
        counter("t_requests", "Requests.\nTwo lines, a \\ too.", 3, (("group", "beat"), ("status", "2xx"))),
        gauge("t_big", "Large and odd values.", 12_345_678.0),
        gauge("t_small", "Small.", 1.5e-7),
        gauge("t_labels", "Escaped label values.", 1, (("value", tricky),)),
        gauge("t_inf", "Infinities.", math.inf),
        gauge("t_neg", "Negative infinity.", -math.inf),
        gauge("t_zero", "Zero.", 0),
        MetricFamily("t_latency", "histogram", "Latency.").add_histogram(histogram, (("group", "list"),)),
        MetricFamily("t_summary", "summary", "A summary.").add(2, suffix="_count").add(0.25, suffix="_sum"),
        MetricFamily("t_empty", "counter", "No samples yet."),
    ]


def test_render_writes_what_prometheus_client_writes() -> None:
    families = sample_families()
    assert render(families) == reference_text(families)


def test_render_parses_back_with_prometheus_client() -> None:
    families = parsed(render(sample_families()))
    assert families["t_requests"] == {("t_requests_total", (("group", "beat"), ("status", "2xx"))): 3.0}
    assert families["t_labels"] == {("t_labels", (("value", 'a "quoted" \\ back\nslash'),)): 1.0}
    assert families["t_big"] == {("t_big", ()): 12_345_678.0}
    assert families["t_inf"] == {("t_inf", ()): math.inf}
    latency = families["t_latency"]
    buckets = {
        dict(labels)["le"]: value for (name, labels), value in latency.items() if name.endswith("_bucket")
    }
    assert buckets == {
        "0.001": 2.0,
        "0.01": 3.0,
        "1.0": 3.0,
        "+Inf": 4.0,
    }  # an observation on a bound is in it
    assert latency["t_latency_count", (("group", "list"),)] == 4.0
    assert latency["t_latency_sum", (("group", "list"),)] == pytest.approx(5.002500001)
    assert families["t_summary"] == {("t_summary_count", ()): 2.0, ("t_summary_sum", ()): 0.25}


def test_histogram_rejects_unsorted_bounds() -> None:
    with pytest.raises(ValueError, match="increasing"):
        Histogram((0.1, 0.01))
    with pytest.raises(ValueError, match="increasing"):
        Histogram(())


def test_registry_runs_collectors_in_order_and_refuses_clashes() -> None:
    metrics = MetricsRegistry()
    metrics.register("a", lambda: [gauge("x_a", "A.", 1)])
    metrics.register("b", lambda: [gauge("x_b", "B.", 2)])
    assert [family.name for family in metrics.collect()] == ["x_a", "x_b"]
    with pytest.raises(ValueError, match="registered already"):
        metrics.register("a", list)
    metrics.register("c", lambda: [gauge("x_a", "Again.", 3)])
    with pytest.raises(ValueError, match="collected twice"):
        metrics.collect()
    metrics.unregister("c")
    metrics.unregister("never")
    assert metrics.names == ["a", "b"]
    assert parsed(metrics.render()) == {"x_a": {("x_a", ()): 1.0}, "x_b": {("x_b", ()): 2.0}}


def test_two_nodes_keep_separate_figures() -> None:
    first, second = RequestStats(), RequestStats()
    first.record("/nacos/v1/ns/instance/beat", 200, 1000)
    assert parsed(render(second.families())).get("nacosfast_http_requests", {}) == {}
    assert parsed(render(first.families()))["nacosfast_http_requests"] == {
        ("nacosfast_http_requests_total", (("group", "beat"), ("status", "2xx"))): 1.0
    }


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/nacos/v1/ns/instance/beat", "beat"),
        ("/nacos/v1/ns/instance/list", "list"),
        ("/nacos/v1/ns/instance", "instance"),
        ("/nacos/v1/ns/instance/metadata/batch", "instance"),
        ("/nacos/v1/ns/api/srvIPXT", "legacy_api"),
        ("/nacos/v1/ns/service/list", "service"),
        ("/nacos/v1/ns/catalog/services", "catalog"),
        ("/nacos/v1/ns/cluster", "catalog"),
        ("/nacos/v1/ns/operator/metrics", "operator"),
        ("/nacos/v1/ns/ops/switches", "operator"),
        ("/nacos/v1/ns/health/instance", "health"),
        ("/nacos/v1/console/namespaces", "console_api"),
        ("/nacos/v1/core/cluster/nodes", "console_api"),
        ("/nacos/v1/ns/unknown", "other"),
        ("/metrics", "metrics"),
        ("/nacos/actuator/prometheus", "metrics"),
        ("/nacos", "console_ui"),
        ("/nacos/console/app.js", "console_ui"),
        ("/favicon.ico", "other"),
    ],
)
def test_request_groups(path: str, group: str) -> None:
    assert request_group(path) == group
    assert group in GROUPS


def test_request_stats_memo_is_bounded() -> None:
    stats = RequestStats()
    for number in range(MAX_REMEMBERED_PATHS * 2):
        stats.record(f"/random/{number}", 404, 10)
    assert len(stats.by_path) == MAX_REMEMBERED_PATHS
    families = parsed(render(stats.families()))
    assert families["nacosfast_http_requests"] == {
        ("nacosfast_http_requests_total", (("group", "other"), ("status", "4xx"))): MAX_REMEMBERED_PATHS * 2.0
    }
    count = families["nacosfast_http_request_duration_seconds"]
    assert (
        count["nacosfast_http_request_duration_seconds_count", (("group", "other"), ("status", "4xx"))]
        == 2048.0
    )


def test_sweep_stats_families() -> None:
    stats = SweepStats()
    stats.sweeps, stats.unhealthy, stats.removed, stats.services_removed = 4, 3, 2, 1
    stats.lag.observe_ns(2_000_000)
    families = parsed(render(stats.families()))
    assert families["nacosfast_expiry_transitions"] == {
        ("nacosfast_expiry_transitions_total", (("to", "unhealthy"),)): 3.0,
        ("nacosfast_expiry_transitions_total", (("to", "removed"),)): 2.0,
    }
    assert families["nacosfast_expiry_sweeps"] == {("nacosfast_expiry_sweeps_total", ()): 4.0}
    lag = families["nacosfast_beat_processing_lag_seconds"]
    assert lag["nacosfast_beat_processing_lag_seconds_sum", ()] == 0.002


def _values(families: Iterable[MetricFamily], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    (family,) = [family for family in families if family.name == name]
    return {sample.labels: sample.value for sample in family.samples}


def test_naming_families_count_the_registry(app: NamingApp, naming_state: NamingState) -> None:
    for port in (1, 2, 3):
        call(app, "POST", "/v1/ns/instance", {"serviceName": "a", "ip": "10.0.0.1", "port": port})
    call(
        app,
        "POST",
        "/v1/ns/instance",
        {"serviceName": "b", "ip": "10.0.0.1", "port": 9, "ephemeral": "false"},
    )
    call(
        app,
        "POST",
        "/v1/ns/instance",
        {"serviceName": "c", "ip": "10.0.0.1", "port": 9, "healthy": "false", "ephemeral": "false"},
    )
    call(
        app,
        "PUT",
        "/v1/ns/health/instance",
        {"serviceName": "c", "ip": "10.0.0.1", "port": 9, "healthy": "false"},
    )
    families = list(naming_families(naming_state))
    instances = _values(families, "nacosfast_instances")
    assert instances == {
        (("healthy", "true"), ("ephemeral", "true")): 3,
        (("healthy", "true"), ("ephemeral", "false")): 1,
        (("healthy", "false"), ("ephemeral", "true")): 0,
        (("healthy", "false"), ("ephemeral", "false")): 1,
    }
    assert _values(families, "nacosfast_services") == {(): 3}
    assert _values(families, "nacosfast_beat_tracked_instances") == {(): 3}
    assert render(families) == reference_text(families)


def front_request(front: Front, method: str, path: str) -> tuple[int, bytes, bytes, dict[bytes, bytes]]:
    response = front.handle(Request(method, path), 0, WALL_EPOCH_MS)
    return response.status, response.body, response.content_type, dict(response.headers)


def test_front_serves_metrics_console_and_api(app: NamingApp) -> None:
    metrics = MetricsRegistry()
    stats = RequestStats()
    stats.record("/nacos/v1/ns/instance/beat", 200, 1000)
    metrics.register("requests", stats.families)
    front = Front(app, metrics)
    for path in ("/metrics", "/nacos/actuator/prometheus"):
        status, body, content_type, _ = front_request(front, "GET", path)
        assert (status, content_type) == (200, CONTENT_TYPE)
        assert "nacosfast_http_requests" in parsed(body)
        status, _, _, headers = front_request(front, "POST", path)
        assert (status, headers[b"Allow"]) == (405, b"GET, HEAD")
    status, body, content_type, headers = front_request(front, "GET", "/nacos/")
    assert (status, content_type) == (200, b"text/html;charset=UTF-8")
    assert b'src="/nacos/console/app.js"' in body
    assert b"default-src 'self'" in headers[b"Content-Security-Policy"]
    assert front_request(front, "GET", "/nacos/index.html")[1] == body
    status, _, _, headers = front_request(front, "GET", "/nacos")
    assert (status, headers) == (302, {b"Location": b"/nacos/"})
    assert front_request(front, "GET", "/nacos/console/app.js")[2] == b"text/javascript;charset=UTF-8"
    assert front_request(front, "GET", "/nacos/console/style.css")[2] == b"text/css;charset=UTF-8"
    assert front_request(front, "DELETE", "/nacos/console/style.css")[0] == 405
    assert front_request(front, "GET", "/nacos/console/missing.js")[0] == 404
    assert front_request(front, "GET", "/nacos/v1/ns/operator/switches")[0] == 200
    assert front.console.paths == [
        "/nacos/",
        "/nacos/console/app.js",
        "/nacos/console/favicon.svg",
        "/nacos/console/style.css",
        "/nacos/index.html",
    ]


def test_latency_buckets_cover_handler_and_fsync_times() -> None:
    assert LATENCY_BUCKETS_S[0] <= 0.000_05
    assert LATENCY_BUCKETS_S[-1] >= 1.0
