"""Three real ``nacosfast server`` processes on loopback: membership, forwarding, kill and restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nacos import NacosClient

from nacosfast.cluster.members import MemberTable, service_key
from tests.cluster_helpers import process_cluster
from tests.server_process import REPO_ROOT, ServerProcess, free_port
from tests.server_process import wait_until as poll_until
from tests.test_realclient_python import stop_client_threads
from tests.test_server_metrics import requests_of, scrape

WAIT_LIMIT_S = 20.0
TIMINGS = [
    "--member-report-ms",
    "200",
    "--member-suspicious-ms",
    "600",
    "--member-down-ms",
    "1200",
    "--membership-settle-ms",
    "2000",
]


def wait_until(condition: Callable[[], bool], what: str) -> None:
    poll_until(condition, what, WAIT_LIMIT_S)


def serving(cluster: list[ServerProcess], everyone: list[str]) -> bool:
    """Every node sees every member UP and is itself ready (warmed up: a warming node answers
    writes forwarded to it with 503, as Nacos does while STARTING)."""
    return all(states(s) == dict.fromkeys(everyone, "UP") and ready(s) for s in cluster)


def ready(server: ServerProcess) -> bool:
    try:
        return server.request("GET", "/nacos/v1/console/health/readiness")[0] == 200
    except OSError:
        return False


def states(server: ServerProcess) -> dict[str, str]:
    try:
        servers = server.get_json("/nacos/v1/ns/operator/servers")["servers"]
    except OSError:
        return {}
    return {member["address"]: member["state"] for member in servers}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    with process_cluster(tmp_path, 3, TIMINGS) as servers:
        yield servers


def owned_name(addresses: list[str], owner: str) -> str:
    view = MemberTable(owner, addresses, 0)
    for index in range(10_000):
        name = f"orders{index}"
        if view.owner_of(service_key("public", f"DEFAULT_GROUP@@{name}")) == owner:
            return name
    raise AssertionError("no name owned by the node")


def listed_ips(server: ServerProcess, name: str) -> list[Any]:
    return [
        host["ip"] for host in server.get_json("/nacos/v1/ns/instance/list", {"serviceName": name})["hosts"]
    ]


def test_cluster_processes_membership_up_down_up(cluster: list[ServerProcess]) -> None:
    a, b, c = cluster
    everyone = {server.address for server in cluster}
    wait_until(lambda: all(states(s) == dict.fromkeys(everyone, "UP") for s in cluster), "all UP")
    c.kill9()
    wait_until(lambda: states(a).get(c.address) == "DOWN", "killed node DOWN on a")
    wait_until(lambda: states(b).get(c.address) == "DOWN", "killed node DOWN on b")
    c = cluster[2] = ServerProcess(c.data_dir, port=c.port, extra_args=c.extra_args)  # same port and data
    c.start()
    c.wait_ready()
    wait_until(lambda: all(states(s) == dict.fromkeys(everyone, "UP") for s in cluster), "all UP again")


def test_cluster_processes_a_stalled_member_goes_down_and_comes_back(cluster: list[ServerProcess]) -> None:
    a, b, c = cluster
    everyone = {server.address for server in cluster}
    wait_until(lambda: all(states(s) == dict.fromkeys(everyone, "UP") for s in cluster), "all UP")
    os.kill(c.pid, signal.SIGSTOP)  # it accepts connections (the kernel does) but never answers
    try:
        wait_until(lambda: states(a).get(c.address) == "DOWN", "stalled node DOWN on a")
        wait_until(lambda: states(b).get(c.address) == "DOWN", "stalled node DOWN on b")
        assert states(a)[b.address] == "UP"
    finally:
        os.kill(c.pid, signal.SIGCONT)
    wait_until(lambda: all(states(s) == dict.fromkeys(everyone, "UP") for s in cluster), "all UP again")


def test_cluster_processes_forward_writes_and_beats_to_the_owner(cluster: list[ServerProcess]) -> None:
    a, b, c = cluster
    everyone = sorted(server.address for server in cluster)
    wait_until(lambda: serving(cluster, everyone), "all UP and ready")
    name = owned_name(everyone, a.address)
    instance = {"serviceName": name, "ip": "10.0.0.7", "port": 9000}
    assert b.request("POST", "/nacos/v1/ns/instance", instance) == (200, b"ok")
    assert listed_ips(a, name) == ["10.0.0.7"]
    assert a.get_json("/nacos/v1/ns/operator/distro/server", {"serviceName": name}) == {
        "responsibleServer": a.address
    }
    status, body = c.request("PUT", "/nacos/v1/ns/instance/beat", instance)
    assert status == 200
    assert json.loads(body)["code"] == 10200  # c does not know it; the owner does
    beat = json.dumps({"ip": "10.0.0.8", "port": 9001, "serviceName": f"DEFAULT_GROUP@@{name}"})
    status, _ = c.request("PUT", "/nacos/v1/ns/instance/beat", {"serviceName": name, "beat": beat})
    assert status == 200  # a beat with its instance re-registers it, on the owner
    assert sorted(listed_ips(a, name)) == ["10.0.0.7", "10.0.0.8"]
    assert b.request("DELETE", "/nacos/v1/ns/instance", instance) == (200, b"ok")
    assert listed_ips(a, name) == ["10.0.0.8"]


@pytest.mark.realclient
@pytest.mark.filterwarnings(
    r"ignore:ssl\.SSLContext\(\) without protocol argument is deprecated:DeprecationWarning"
)
@pytest.mark.filterwarnings(r"ignore:ssl\.PROTOCOL_TLS is deprecated:DeprecationWarning")
def test_cluster_processes_python_client_through_a_non_owner(
    cluster: list[ServerProcess], tmp_path: Path
) -> None:
    a, b, _ = cluster
    everyone = sorted(server.address for server in cluster)
    wait_until(lambda: serving(cluster, everyone), "all UP and ready")
    name = owned_name(everyone, a.address)
    client = NacosClient(server_addresses=b.address, logDir=str(tmp_path))
    try:
        assert client.add_naming_instance(name, "10.0.0.9", 7000, "c1", 2.0) is True
        reply = client.send_heartbeat(name, "10.0.0.9", 7000, "c1")
        assert reply["code"] == 10200
        assert listed_ips(a, name) == ["10.0.0.9"]  # on the owner, where b forwarded both
        assert client.remove_naming_instance(name, "10.0.0.9", 7000, "c1") is True
        assert listed_ips(a, name) == []
    finally:
        stop_client_threads(client)


@pytest.mark.parametrize(
    ("secret", "message"),
    [(None, "needs cluster_secret_file"), (b"short", "at least 32 are needed")],
)
def test_cluster_mode_refuses_to_start_without_a_good_secret(
    tmp_path: Path, secret: bytes | None, message: str
) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "nacosfast",
        "server",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "data"),
        "--members",
        f"127.0.0.1:{port},127.0.0.1:{free_port()}",
    ]
    if secret is not None:
        secret_file = tmp_path / "secret"
        secret_file.write_bytes(secret)
        command += ["--cluster-secret-file", str(secret_file)]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, timeout=60, check=False)
    assert result.returncode == 2
    assert message in result.stderr.decode()


def test_cluster_figures_move_with_forwarding(cluster: list[ServerProcess]) -> None:
    a, b, _ = cluster
    everyone = sorted(server.address for server in cluster)
    wait_until(lambda: serving(cluster, everyone), "all UP and ready")
    before = scrape(b)
    assert before["nacosfast_cluster_members", (("state", "UP"),)] == 3
    assert before["nacosfast_cluster_members", (("state", "DOWN"),)] == 0
    sent, received = "nacosfast_cluster_reports_sent_total", "nacosfast_cluster_reports_received_total"
    wait_until(lambda: min(scrape(b)[sent, ()], scrape(b)[received, ()]) > 0, "reports counted")
    name = owned_name(everyone, a.address)
    instance = {"serviceName": name, "ip": "10.0.0.7", "port": 9000}
    assert b.request("POST", "/nacos/v1/ns/instance", instance) == (200, b"ok")
    after = scrape(b)
    forwarded = "nacosfast_cluster_forwarding_total", (("kind", "requests"),)
    assert after[forwarded] - before.get(forwarded, 0) == 1
    assert requests_of(after, "instance", "forwarded") - requests_of(before, "instance", "forwarded") == 1
    assert requests_of(scrape(a), "instance", "2xx") == 0  # the owner's answer came over the peer call
