"""Three real ``nacosfast server`` processes: Distro replication, kill -9 and a warm restart."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster_helpers import process_cluster
from tests.server_process import ServerProcess
from tests.server_process import wait_until as poll_until

WAIT_LIMIT_S = 20.0
INSTANCE = "/nacos/v1/ns/instance"
TIMINGS = [
    "--member-report-ms",
    "200",
    "--member-suspicious-ms",
    "600",
    "--member-down-ms",
    "1200",
    "--membership-settle-ms",
    "2000",
    "--distro-anti-entropy-ms",
    "1000",
    "--distro-warmup-timeout-ms",
    "3000",
]


def wait_until(condition: Callable[[], bool], what: str) -> float:
    """Poll every 20 ms; the seconds it took. Fails after ``WAIT_LIMIT_S``."""
    return poll_until(condition, what, WAIT_LIMIT_S)


def listed(server: ServerProcess, name: str) -> list[str] | None:
    """Sorted ``ip:port`` of ``instance/list``, or ``None`` when the node does not answer 200."""
    try:
        status, body = server.request("GET", "/nacos/v1/ns/instance/list", {"serviceName": name})
    except OSError:
        return None
    if status != 200:
        return None
    return sorted(f"{host['ip']}:{host['port']}" for host in json.loads(body)["hosts"])


def ready(server: ServerProcess) -> bool:
    try:
        return bool(server.get_json("/nacos/v1/ns/operator/metrics")["distroReady"])
    except OSError:
        return False


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    with process_cluster(tmp_path, 3, TIMINGS) as servers:
        wait_until(lambda: all(ready(server) for server in servers), "every node warmed up")
        yield servers


def test_distro_processes_register_on_one_visible_on_all_and_survive_kill9(
    cluster: list[ServerProcess],
) -> None:
    a, b, c = cluster
    names = [f"orders{index}" for index in range(6)]  # owned by different nodes
    for name in names:
        for ip in ("10.0.0.1", "10.0.0.2"):
            assert a.request(
                "POST", "/nacos/v1/ns/instance", {"serviceName": name, "ip": ip, "port": 80}
            ) == (
                200,
                b"ok",
            )
    expected = ["10.0.0.1:80", "10.0.0.2:80"]
    wait_until(lambda: all(listed(s, n) == expected for s in cluster for n in names), "replicated to all")
    assert (
        b.request("DELETE", "/nacos/v1/ns/instance", {"serviceName": names[0], "ip": "10.0.0.1", "port": 80})[
            0
        ]
        == 200
    )
    wait_until(lambda: all(listed(s, names[0]) == ["10.0.0.2:80"] for s in cluster), "deregistered on all")
    c.kill9()
    c = cluster[2] = ServerProcess(c.data_dir, port=c.port, extra_args=c.extra_args)
    c.start()
    c.wait_ready()
    wait_until(lambda: ready(c), "the restarted node warmed up")
    # ephemeral data is not on c's disk: it came from a peer's snapshot before c answered any list
    assert listed(c, names[0]) == ["10.0.0.2:80"]
    assert all(listed(c, name) == expected for name in names[1:])
    assert c.get_json("/nacos/v1/ns/operator/metrics")["distro"]["snapshotDatumsLoaded"] >= len(names)
