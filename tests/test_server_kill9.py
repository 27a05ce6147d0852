"""Durability across ``kill -9``: every write the server acknowledged is there after a restart.

Writer threads register persistent instances (``ephemeral=false``), create namespaces and create
services over plain HTTP on loopback, each recording only the writes answered ``ok`` / ``true``. The
server is SIGKILLed while they write, restarted on the same data directory, and every acknowledged write
must be listed. Two rounds, so that the second start replays a log whose tail was torn by the first kill.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from tests.server_process import LOOPBACK, ServerProcess, running_server

KILL_ROUNDS: Final = 2
WRITERS: Final = 4
"""Concurrent writer connections, so that several writes are in flight when the kill lands."""
MAX_WRITES_PER_WRITER: Final = 3_000
"""Bound on each writer's loop (a round normally stops far earlier, at the kill)."""
KILL_AFTER_ACKS: Final = 200
"""The server is killed once this many writes of the round have been acknowledged."""
WRITE_PHASE_TIMEOUT_S: Final = 30.0
"""Longest wait for ``KILL_AFTER_ACKS`` acknowledgements."""
REQUEST_TIMEOUT_S: Final = 5.0
"""One write; a persistent write waits for its fsync."""
JOIN_TIMEOUT_S: Final = 10.0
SERVICES_PER_WRITER: Final = 3
"""Services that a writer spreads its persistent instances over."""
PAGE_SIZE: Final = 10_000


@dataclass
class Acknowledged:
    """Writes the server acknowledged, appended from the writer threads (list.append is atomic)."""

    instances: list[tuple[str, str, int]] = field(default_factory=list)
    """(namespace, service, port); every instance has ip 127.0.0.1 and cluster DEFAULT."""
    namespaces: list[str] = field(default_factory=list)
    services: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    """Writes answered with anything but success: always a bug, since every write here is valid."""

    def count(self) -> int:
        return len(self.instances) + len(self.namespaces) + len(self.services)


def post(connection: http.client.HTTPConnection, path: str, params: dict[str, object]) -> tuple[int, bytes]:
    """One POST with the parameters in the query string (as the Python and Node clients send them)."""
    query = urllib.parse.urlencode({key: str(value) for key, value in params.items()})
    connection.request("POST", f"{path}?{query}")
    response = connection.getresponse()
    return response.status, response.read()


def writer(
    port: int, round_index: int, writer_index: int, acked: Acknowledged, stop: threading.Event
) -> None:
    """Write until the server dies, ``stop`` is set or the loop bound is reached."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=REQUEST_TIMEOUT_S)
    namespace = "public"
    prefix = f"k9-r{round_index}-w{writer_index}"
    try:
        for index in range(MAX_WRITES_PER_WRITER):
            if stop.is_set():
                return
            kind = index % 10
            if kind == 0:
                created = f"{prefix}-ns{index}"
                status, body = post(
                    connection,
                    "/nacos/v1/console/namespaces",
                    {"customNamespaceId": created, "namespaceName": f"kill9 {created}", "namespaceDesc": "d"},
                )
                if (status, body) == (200, b"true"):
                    acked.namespaces.append(created)
                    namespace = created  # later instances of this writer go into it
                else:
                    acked.rejected.append(f"namespace {created}: {status} {body!r}")
            elif kind == 5:
                service = f"{prefix}-svc{index}"
                status, body = post(
                    connection,
                    "/nacos/v1/ns/service",
                    {"serviceName": service, "namespaceId": namespace, "protectThreshold": "0.5"},
                )
                if (status, body) == (200, b"ok"):
                    acked.services.append((namespace, service))
                else:
                    acked.rejected.append(f"service {namespace}/{service}: {status} {body!r}")
            else:
                service = f"{prefix}-inst{index % SERVICES_PER_WRITER}"
                instance_port = 20_000 + index
                status, body = post(
                    connection,
                    "/nacos/v1/ns/instance",
                    {
                        "serviceName": service,
                        "namespaceId": namespace,
                        "ip": LOOPBACK,
                        "port": instance_port,
                        "ephemeral": "false",
                        "metadata": f'{{"round":"{round_index}","writer":"{writer_index}"}}',
                    },
                )
                if (status, body) == (200, b"ok"):
                    acked.instances.append((namespace, service, instance_port))
                else:
                    acked.rejected.append(
                        f"instance {namespace}/{service}:{instance_port}: {status} {body!r}"
                    )
    except (OSError, http.client.HTTPException):
        return  # the server was killed: this write's outcome is unknown and it was not recorded
    finally:
        connection.close()


def write_and_kill(server: ServerProcess, round_index: int, acked: Acknowledged) -> None:
    """Run the writers against ``server`` and SIGKILL it once ``KILL_AFTER_ACKS`` writes are acked."""
    stop = threading.Event()
    before = acked.count()
    threads = [
        threading.Thread(
            target=writer,
            args=(server.port, round_index, index, acked, stop),
            name=f"kill9-writer-{index}",
            daemon=True,
        )
        for index in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + WRITE_PHASE_TIMEOUT_S
        while acked.count() - before < KILL_AFTER_ACKS and time.monotonic() < deadline:
            if not any(thread.is_alive() for thread in threads):
                break
            time.sleep(0.005)
        server.kill9()
    finally:
        stop.set()
        for thread in threads:
            thread.join(JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a writer thread did not stop"
    assert acked.count() - before >= KILL_AFTER_ACKS, (
        f"only {acked.count() - before} writes were acknowledged before the kill; server output:\n"
        f"{server.stderr_tail()}"
    )


def assert_all_present(server: ServerProcess, acked: Acknowledged) -> None:
    """Every acknowledged namespace, service and persistent instance is listed by ``server``."""
    listed = server.get_json("/nacos/v1/console/namespaces")
    namespace_ids = {entry["namespace"] for entry in listed["data"]}
    missing_namespaces = [name for name in acked.namespaces if name not in namespace_ids]
    assert not missing_namespaces, f"acknowledged namespaces lost: {missing_namespaces}"

    for namespace, service in acked.services:
        detail: dict[str, Any] = server.get_json(
            "/nacos/v1/ns/service", {"serviceName": service, "namespaceId": namespace}
        )
        assert detail["name"] == service
        assert detail["protectThreshold"] == 0.5

    expected: dict[tuple[str, str], set[int]] = {}
    for namespace, service, port in acked.instances:
        expected.setdefault((namespace, service), set()).add(port)
    for (namespace, service), ports in expected.items():
        answer = server.get_json(
            "/nacos/v1/ns/instance/list",
            {"serviceName": service, "namespaceId": namespace, "healthyOnly": "false"},
        )
        hosts = answer["hosts"]
        assert all(host["ephemeral"] is False and host["ip"] == LOOPBACK for host in hosts)
        lost = sorted(ports - {host["port"] for host in hosts})
        assert not lost, f"acknowledged instances of {namespace}/{service} lost: ports {lost}"


def test_acknowledged_writes_survive_kill9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    acked = Acknowledged()
    for round_index in range(KILL_ROUNDS):
        with running_server(data_dir) as server:
            assert_all_present(server, acked)
            write_and_kill(server, round_index, acked)
            assert server.returncode() is not None
        assert not acked.rejected, acked.rejected[:10]

    with running_server(data_dir) as server:
        assert_all_present(server, acked)
    assert acked.instances
    assert acked.namespaces
    assert acked.services
