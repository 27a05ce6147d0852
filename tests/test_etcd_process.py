"""nacosfast processes on a three-member etcd: what was acknowledged survives ``kill -9`` of a node and
of an etcd member; without quorum persistent writes answer 503 (and are not listed) while ephemeral
ones keep working; ``import-log`` copies a standalone data dir into etcd once (idempotent)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nacosfast.limits import ETCD_REQUEST_TIMEOUT_MS
from tests.etcd_helpers import endpoints, etcd_cluster
from tests.server_process import REPO_ROOT, ServerProcess, running_server
from tests.server_process import wait_until as poll_until

WAIT_LIMIT_S = 10.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    poll_until(condition, what, WAIT_LIMIT_S)


def persistent(name: str, ip: str) -> dict[str, Any]:
    return {"serviceName": name, "ip": ip, "port": 8080, "ephemeral": "false"}


def ips(server: ServerProcess, name: str) -> list[str]:
    hosts = server.get_json("/nacos/v1/ns/instance/list", {"serviceName": name})["hosts"]
    return sorted(host["ip"] for host in hosts)


def write_until_ok(server: ServerProcess, params: dict[str, Any], what: str) -> None:
    """POST a registration until it is acknowledged: after an etcd member is lost, etcd may need an
    election first (503 meanwhile, or 409 once a write answered 503 was committed after all)."""

    def accepted() -> bool:
        status, body = server.request("POST", "/nacos/v1/ns/instance", params, timeout_s=10)
        assert status in (200, 409, 503), (status, body)
        return status == 200

    wait_until(accepted, what)


def started(data_dir: Path, etcd: str, port: int | None = None) -> ServerProcess:
    server = ServerProcess(data_dir, port=port, extra_args=["--etcd", etcd])
    server.start()
    server.wait_ready()
    return server


def test_acknowledged_writes_survive_kill9_and_quorum_loss_is_refused(tmp_path: Path) -> None:
    with etcd_cluster(tmp_path, 3) as members:
        etcd = endpoints(members)
        first = started(tmp_path / "a", etcd)
        second = started(tmp_path / "b", etcd)
        try:
            assert first.request("POST", "/nacos/v1/ns/instance", persistent("pay", "10.1.0.1")) == (
                200,
                b"ok",
            )
            first.kill9()
            assert ips(second, "pay") == ["10.1.0.1"]

            members[0].kill9()  # one etcd member down (perhaps the leader): a majority is left
            write_until_ok(second, persistent("pay", "10.1.0.2"), "a write with one etcd member down")
            first = started(tmp_path / "a", etcd, port=first.port)
            assert ips(first, "pay") == ["10.1.0.1", "10.1.0.2"]

            members[1].kill9()  # two of three down: no quorum
            began = time.monotonic()
            status, body = second.request(
                "POST", "/nacos/v1/ns/instance", persistent("pay", "10.1.0.3"), timeout_s=10
            )
            assert status == 503, body
            assert time.monotonic() - began < ETCD_REQUEST_TIMEOUT_MS / 1000 + 1.5
            assert ips(second, "pay") == ["10.1.0.1", "10.1.0.2"]  # no false ok, nothing shown
            ephemeral = {"serviceName": "pay", "ip": "10.1.0.9", "port": 1}
            assert second.request("POST", "/nacos/v1/ns/instance", ephemeral) == (200, b"ok")
            assert "10.1.0.9" in ips(second, "pay")

            members[0].start()  # quorum back: writes go through again and every node sees them
            write_until_ok(second, persistent("pay", "10.1.0.4"), "a write accepted with quorum back")
            wait_until(lambda: "10.1.0.4" in ips(first, "pay"), "the write listed on the other node")
            # (10.1.0.3 was not acknowledged; a 503 does not promise it never lands: etcd may still
            # commit a proposal its lone member had logged, and then every node lists it.)
        finally:
            first.stop()
            second.stop()


def test_import_log_copies_a_standalone_data_dir_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "standalone"
    with running_server(data_dir) as standalone:
        for ip in ("10.2.0.1", "10.2.0.2"):
            assert standalone.request("POST", "/nacos/v1/ns/instance", persistent("legacy", ip))[0] == 200
        status, _ = standalone.request(
            "POST", "/nacos/v1/console/namespaces", {"customNamespaceId": "dev", "namespaceName": "dev"}
        )
        assert status == 200
    with etcd_cluster(tmp_path, 1) as members:
        command = [
            sys.executable,
            "-m",
            "nacosfast",
            "import-log",
            "--etcd",
            members[0].url,
            "--data-dir",
            str(data_dir),
        ]
        runs = [
            subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
            for _ in range(2)
        ]
        assert [run.returncode for run in runs] == [0, 0], runs
        counts = [re.findall(r"(\d+) keys created, (\d+) already there", run.stderr) for run in runs]
        created = int(counts[0][0][0])
        assert created >= 4  # two instances, the namespace, the switches
        assert counts == [[(str(created), "0")], [("0", str(created))]]  # the second run changes nothing
        node = started(data_dir, endpoints(members))  # on etcd, the same data dir: it points at the import
        try:
            assert "nacosfast import-log" in node.stderr_tail()
            assert ips(node, "legacy") == ["10.2.0.1", "10.2.0.2"]
            namespaces = node.get_json("/nacos/v1/console/namespaces")
            assert "dev" in str(namespaces)
        finally:
            node.stop()
