"""A real server's Prometheus exposition: it parses with ``prometheus_client`` and moves with traffic."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Final

import pytest
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
        return samples_of(response.read().decode())


def samples_of(text: str) -> Figures:
    """Every sample of an exposition, by name and sorted labels, through ``prometheus_client``'s parser."""
    figures: Figures = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            figures[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return figures


def requests_of(figures: Figures, group: str, status: str = "2xx") -> float:
    return figures.get(("nacosfast_http_requests_total", (("group", group), ("status", status))), 0.0)


def handled_of(figures: Figures, group: str) -> float:
    """How many 2xx answers of ``group`` a Python handler gave (the duration histogram's count)."""
    return figures.get(
        ("nacosfast_http_request_duration_seconds_count", (("group", group), ("status", "2xx"))), 0.0
    )


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "no-fast-path"])
def test_exposition_counts_traffic(tmp_path: Path, fast_path: bool) -> None:
    """Requests are counted whichever path answers them. The compiled path's answers (beats of a
    known instance, lists already rendered, an ephemeral register) have no handler time: they are in
    the request counter, not in the duration histogram, which is how the test sees that it answered."""
    extra_args = () if fast_path else ("--no-fast-path",)
    with running_server(tmp_path / "data", extra_args=extra_args) as server:
        before = scrape(server)
        instance = {"serviceName": "orders", "ip": "10.0.0.5", "port": 8080}
        assert server.request("POST", "/nacos/v1/ns/instance", instance)[0] == 200
        persistent = {"serviceName": "stock", "ip": "10.0.0.6", "port": 80, "ephemeral": "false"}
        assert server.request("POST", "/nacos/v1/ns/instance", persistent)[0] == 200
        for _ in range(BEATS):
            assert server.request("PUT", "/nacos/v1/ns/instance/beat", instance)[0] == 200
        for _ in range(2):  # the first renders the answer (Python), the second may be served compiled
            assert server.request("GET", "/nacos/v1/ns/instance/list", {"serviceName": "orders"})[0] == 200
        assert server.request("GET", "/nacos/v1/ns/instance/list", {})[0] == 400
        after = scrape(server, "/metrics")

        assert requests_of(after, "beat") - requests_of(before, "beat") == BEATS
        assert requests_of(after, "instance") - requests_of(before, "instance") == 2
        assert requests_of(after, "list") - requests_of(before, "list") == 2
        assert requests_of(after, "list", "4xx") - requests_of(before, "list", "4xx") == 1
        assert requests_of(after, "metrics") >= 1  # the first scrape
        if fast_path:  # every beat and the second list were answered by the compiled path
            assert handled_of(after, "beat") == 0
            assert handled_of(after, "list") == 1
            assert handled_of(after, "instance") == 1  # the persistent register; the ephemeral was compiled
        else:
            assert handled_of(after, "beat") == requests_of(after, "beat")
            assert handled_of(after, "list") == requests_of(after, "list")
            assert handled_of(after, "instance") == requests_of(after, "instance")
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
