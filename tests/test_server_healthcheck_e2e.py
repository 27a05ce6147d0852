"""The issue's done criteria, end to end: a real server process checks real local targets with Nacos's
default timing, and ``instance/list`` shows each flip within 20 s, both ways, for TCP, HTTP and MySQL.

Each service holds a steady instance in the ``DEFAULT`` cluster (TCP, always up) beside the instance
under test in the ``probe`` cluster, so the healthy ratio stays above the protect threshold (0) and the
list shows the real flag.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.check_targets import (
    CHECK_PASSWORD,
    CHECK_USER,
    TcpTarget,
    http_target,
    mariadb,
    tcp_target,
)
from tests.server_process import LOOPBACK, ServerProcess, running_server

FLIP_DEADLINE_S = 20.0
"""The issue's bound for every flip."""
POLL_S = 0.2
SERVICE = "checked"
PROBE_CLUSTER = "probe"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with running_server(tmp_path / "data") as process:
        yield process


@pytest.fixture
def steady() -> Iterator[TcpTarget]:
    with tcp_target() as target:
        yield target


def ok(answer: tuple[int, bytes]) -> None:
    assert answer == (200, b"ok"), answer


def register(server: ServerProcess, port: int, cluster: str) -> None:
    params = {"serviceName": SERVICE, "ip": LOOPBACK, "port": port, "clusterName": cluster}
    params["ephemeral"] = "false"
    ok(server.request("POST", "/nacos/v1/ns/instance", params))


def set_checker(server: ServerProcess, checker: dict[str, Any]) -> None:
    params = {
        "serviceName": SERVICE,
        "clusterName": PROBE_CLUSTER,
        "checkPort": "80",
        "useInstancePort4Check": "true",
        "healthChecker": json.dumps(checker),
    }
    ok(server.request("PUT", "/nacos/v1/ns/cluster", params))


def health(server: ServerProcess) -> dict[int, bool]:
    hosts = server.get_json("/nacos/v1/ns/instance/list", {"serviceName": SERVICE})["hosts"]
    return {host["port"]: host["healthy"] for host in hosts}


def seconds_until(server: ServerProcess, port: int, healthy: bool) -> float:
    """Seconds until ``instance/list`` shows ``port`` with this health; fails past the deadline."""
    start = time.monotonic()
    for _ in range(int(FLIP_DEADLINE_S / POLL_S) + 1):
        if health(server).get(port) == healthy:
            return time.monotonic() - start
        if time.monotonic() - start > FLIP_DEADLINE_S:
            break
        time.sleep(POLL_S)
    wanted = "healthy" if healthy else "unhealthy"
    raise AssertionError(f"port {port} not {wanted} within {FLIP_DEADLINE_S} s")


def flip_both_ways(
    server: ServerProcess, port: int, steady_port: int, break_it: Callable[[], None], mend: Callable[[], None]
) -> tuple[float, float]:
    seconds_until(server, port, True)
    break_it()
    down = seconds_until(server, port, False)
    assert health(server)[steady_port] is True
    mend()
    up = seconds_until(server, port, True)
    print(f"port {port}: unhealthy {down:.1f} s after breaking, healthy {up:.1f} s after mending")
    return down, up


def test_tcp_port_closing_and_reopening(server: ServerProcess, steady: TcpTarget) -> None:
    with tcp_target() as target:
        register(server, steady.port, "DEFAULT")
        register(server, target.port, PROBE_CLUSTER)
        down, up = flip_both_ways(server, target.port, steady.port, target.close, target.open)
    assert down < FLIP_DEADLINE_S
    assert up < FLIP_DEADLINE_S
    clusters = server.get_json("/nacos/v1/ns/catalog/rt/service", {"serviceName": SERVICE})["clusters"]
    figures = {c["name"]: (c["checkRTWorst"], c["checkRTNormalized"]) for c in clusters}
    assert figures[PROBE_CLUSTER][0] > 0  # measured: no longer Nacos's "never checked" values
    assert 1_000 <= figures[PROBE_CLUSTER][1] <= 5_000


def test_http_status_200_then_500_then_200(server: ServerProcess, steady: TcpTarget) -> None:
    with http_target() as target:
        register(server, steady.port, "DEFAULT")
        register(server, target.port, PROBE_CLUSTER)
        set_checker(server, {"type": "HTTP", "path": "/health", "headers": "X-Check:nacosfast"})

        def fail() -> None:
            target.status = 500

        def mend() -> None:
            target.status = 200

        down, up = flip_both_ways(server, target.port, steady.port, fail, mend)
        paths = {path for path, _ in target.requests}
    assert paths == {"/health"}
    assert down < FLIP_DEADLINE_S
    assert up < FLIP_DEADLINE_S


def test_mysql_read_only_then_writable(server: ServerProcess, steady: TcpTarget, tmp_path: Path) -> None:
    with mariadb(tmp_path / "mariadb") as database:
        register(server, steady.port, "DEFAULT")
        register(server, database.port, PROBE_CLUSTER)
        set_checker(server, {"type": "MYSQL", "user": CHECK_USER, "pwd": CHECK_PASSWORD})
        down, up = flip_both_ways(
            server,
            database.port,
            steady.port,
            lambda: database.set_read_only(True),
            lambda: database.set_read_only(False),
        )
    assert down < FLIP_DEADLINE_S
    assert up < FLIP_DEADLINE_S
