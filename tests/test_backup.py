"""The hot backup of ``docs/operations.md``: copy the log segments, then the snapshot, from a running
server; a second server started on the copy has every persistent instance acknowledged before it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

from tests.server_process import ServerProcess, running_server

BEFORE: Final = 40
AFTER: Final = 5


def persistent_ports(server: ServerProcess, service: str) -> list[int]:
    answer = server.get_json("/nacos/v1/ns/instance/list", {"serviceName": service, "healthyOnly": "false"})
    return sorted(host["port"] for host in answer["hosts"])


def register(server: ServerProcess, service: str, ports: range) -> None:
    for port in ports:
        params = {"serviceName": service, "ip": "10.0.0.9", "port": port, "ephemeral": "false"}
        assert server.request("POST", "/nacos/v1/ns/instance", params)[0] == 200


def hot_copy(source: Path, target: Path) -> None:
    """The documented order: every ``wal-*.log`` by name, then ``snapshot`` (if there is one)."""
    target.mkdir()
    for segment in sorted(source.glob("wal-*.log")):
        shutil.copy2(segment, target / segment.name)
    if (source / "snapshot").exists():
        shutil.copy2(source / "snapshot", target / "snapshot")


def test_hot_backup_restores_acknowledged_records(tmp_path: Path) -> None:
    live, backup = tmp_path / "live", tmp_path / "backup"
    with running_server(live) as server:
        register(server, "stock", range(1, BEFORE + 1))
        hot_copy(live, backup)
        register(server, "stock", range(BEFORE + 1, BEFORE + AFTER + 1))  # after the backup: not in it
        assert len(persistent_ports(server, "stock")) == BEFORE + AFTER
    assert not (backup / "LOCK").exists()
    with running_server(backup) as restored:
        assert persistent_ports(restored, "stock") == list(range(1, BEFORE + 1))
        assert "loaded" in restored.stderr_tail()
