"""Helper process for tests/test_disk_full_tmpfs.py; not a test module.

``unshare --user --map-root-user --mount python -m tests.disk_full_probe DATA_DIR`` mounts a 2 MiB
tmpfs on DATA_DIR (private to this mount namespace: it goes away with the process), fills it with a
ballast file, runs a real server on it and plays the issue's scenario: register persistent instances
with big metadata into one service until the disk refuses one, then 20 more refused registers, then
free 600 KiB of ballast and time how long until a register succeeds; then ``kill -9`` and restart.
Prints one JSON object with what it saw.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, Final

from tests.server_process import LOOPBACK, ServerProcess, running_server
from tests.test_server_refused_writes import big_metadata, ip_of

KIB: Final = 1024
DISK_BYTES: Final = 2 * KIB * KIB
BALLAST_BYTES: Final = 700 * KIB
FREED_BYTES: Final = 600 * KIB
REFUSED_AFTER_FULL: Final = 20
MAX_REGISTERS: Final = 100
"""Bound on the fill loop (the disk fills after about 20)."""
RECOVERY_LIMIT_S: Final = 15.0
RETRY_PAUSE_S: Final = 0.05
REQUEST_TIMEOUT_S: Final = 10.0
SERVICE: Final = "DEFAULT_GROUP@@growing"


def register(server: ServerProcess, index: int) -> int:
    """POST a persistent instance (form body: the metadata is ~56 KiB); the status."""
    body = urllib.parse.urlencode(
        {
            "serviceName": SERVICE,
            "ip": ip_of(index),
            "port": 8080,
            "ephemeral": "false",
            "metadata": big_metadata(index),
        }
    )
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=REQUEST_TIMEOUT_S)
    try:
        connection.request(
            "POST", "/nacos/v1/ns/instance", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def listed(server: ServerProcess) -> list[str]:
    answer = server.get_json("/nacos/v1/ns/instance/list", {"serviceName": SERVICE, "healthyOnly": "false"})
    return sorted(host["ip"] for host in answer["hosts"])


def main(data_dir: Path) -> dict[str, Any]:
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(data_dir)], check=True)
    ballast = data_dir / "ballast"
    ballast.write_bytes(b"\1" * BALLAST_BYTES)
    result: dict[str, Any] = {"phantoms": []}
    acknowledged: set[str] = set()
    with running_server(data_dir) as server:
        index, status = 0, 200
        while index < MAX_REGISTERS:
            status = register(server, index)
            if status != 200:
                break
            acknowledged.add(ip_of(index))
            index += 1
        result["acknowledged_before_full"] = len(acknowledged)
        result["first_refusal"] = status
        refusals = []
        for _ in range(REFUSED_AFTER_FULL):
            index += 1
            refusals.append(register(server, index))
            if set(listed(server)) != acknowledged:
                result["phantoms"].append(listed(server))
        result["refusals"] = refusals

        os.truncate(ballast, BALLAST_BYTES - FREED_BYTES)
        freed_at = time.monotonic()
        index += 1
        while register(server, index) != 200 and time.monotonic() - freed_at < RECOVERY_LIMIT_S:
            time.sleep(RETRY_PAUSE_S)
        result["recovered_s"] = time.monotonic() - freed_at
        if result["recovered_s"] < RECOVERY_LIMIT_S:
            acknowledged.add(ip_of(index))
        result["listed_after_recovery"] = listed(server) == sorted(acknowledged)
        server.kill9()
    with running_server(data_dir) as server:
        result["listed_after_restart"] = listed(server) == sorted(acknowledged)
    subprocess.run(["umount", str(data_dir)], check=True)
    return result


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
