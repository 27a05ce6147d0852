"""A real server's Prometheus exposition: it parses with ``prometheus_client`` and moves with traffic."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Final

from prometheus_client.parser import text_string_to_metric_families

from tests.server_process import PROBE_TIMEOUT_S, ServerProcess, running_server

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]
BEATS: Final = 7
EXPORT_PATHS: Final = ("/nacos/actuator/prometheus", "/metrics")


def scrape(server: ServerProcess, path: str = "/nacos/actuator/prometheus") -> Figures:
    """Every sample of one scrape, through ``prometheus_client``'s parser."""
    with urllib.request.urlopen(server.base_url + path, timeout=PROBE_TIMEOUT_S) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = response.read().decode()
    figures: Figures = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            figures[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return figures


def requests_of(figures: Figures, group: str, status: str = "2xx") -> float:
    return figures.get(("nacosfast_http_requests_total", (("group", group), ("status", status))), 0.0)


def test_exposition_counts_traffic(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as server:
        before = scrape(server)
        instance = {"serviceName": "orders", "ip": "10.0.0.5", "port": 8080}
        assert server.request("POST", "/nacos/v1/ns/instance", instance)[0] == 200
        persistent = {"serviceName": "stock", "ip": "10.0.0.6", "port": 80, "ephemeral": "false"}
        assert server.request("POST", "/nacos/v1/ns/instance", persistent)[0] == 200
        for _ in range(BEATS):
            assert server.request("PUT", "/nacos/v1/ns/instance/beat", instance)[0] == 200
        assert server.request("GET", "/nacos/v1/ns/instance/list", {"serviceName": "orders"})[0] == 200
        assert server.request("GET", "/nacos/v1/ns/instance/list", {})[0] == 400
        after = scrape(server, "/metrics")

        assert requests_of(after, "beat") - requests_of(before, "beat") == BEATS
        assert requests_of(after, "instance") - requests_of(before, "instance") == 2
        assert requests_of(after, "list") - requests_of(before, "list") == 1
        assert requests_of(after, "list", "4xx") - requests_of(before, "list", "4xx") == 1
        assert requests_of(after, "metrics") >= 1  # the first scrape
        beat_latency = (
            "nacosfast_http_request_duration_seconds_count",
            (("group", "beat"), ("status", "2xx")),
        )
        assert after[beat_latency] == requests_of(after, "beat")
        assert after["nacosfast_instances", (("ephemeral", "true"), ("healthy", "true"))] == 1
        assert after["nacosfast_instances", (("ephemeral", "false"), ("healthy", "true"))] == 1
        assert after["nacosfast_services", ()] == 2
        # The persistent instance went through the log: one more flush, fsync'd, nothing waiting.
        flushes = "nacosfast_log_flush_duration_seconds_count", ()
        assert after[flushes] - before[flushes] >= 1
        assert after["nacosfast_log_fsyncs_total", ()] > before["nacosfast_log_fsyncs_total", ()]
        assert after["nacosfast_log_pending_records", ()] == 0
        assert after["nacosfast_http_connections", ()] >= 1
        assert (
            after["nacosfast_http_connections_accepted_total", ()]
            > before["nacosfast_http_connections_accepted_total", ()]
        )
        assert after["nacosfast_expiry_sweeps_total", ()] >= before["nacosfast_expiry_sweeps_total", ()]
        assert after["process_cpu_seconds_total", ()] > 0
        for path in EXPORT_PATHS:
            assert server.request("POST", path)[0] == 405
