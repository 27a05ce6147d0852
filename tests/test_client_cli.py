"""``nacosfast instances|services|watch|register|deregister`` as processes against a real server
process. Every process a test starts is stopped by the test; every wait is bounded."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server_process import REPO_ROOT, ServerProcess, free_port, running_server

COMMAND_TIMEOUT_S = 30.0
LINE_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("client-cli") / "data") as process:
        yield process


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nacosfast", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def start_cli(*args: str) -> subprocess.Popen[str]:
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "nacosfast", *args],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def read_line(process: subprocess.Popen[str], timeout_s: float = LINE_TIMEOUT_S) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    assert ready, f"no output within {timeout_s} s"
    return process.stdout.readline()


def interrupt(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Ctrl-C the process; its exit status and the rest of its stdout."""
    process.send_signal(signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=COMMAND_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out


def register(server: ServerProcess, service: str, ip: str, **extra: str) -> None:
    params = {"serviceName": service, "ip": ip, "port": "8080", **extra}
    assert server.request("POST", "/nacos/v1/ns/instance", params) == (200, b"ok")


def listed(server: ServerProcess, service: str) -> list[str]:
    answer = server.get_json("/nacos/v1/ns/instance/list", {"serviceName": service})
    return sorted(f"{host['ip']}:{host['port']}" for host in answer["hosts"])


def test_cli_instances_json_lists_every_field_scripts_need(server: ServerProcess) -> None:
    register(server, "cli-json", "10.0.0.1", metadata='{"zone":"a"}', weight="2")
    done = cli("instances", "cli-json", "--json", "--server", server.address)
    assert done.returncode == 0, done.stderr
    [instance] = json.loads(done.stdout)
    assert {key: instance[key] for key in ("ip", "port", "healthy", "weight", "metadata")} == {
        "ip": "10.0.0.1",
        "port": 8080,
        "healthy": True,
        "weight": 2.0,
        "metadata": {"zone": "a"},
    }


def test_cli_instances_and_services_print_tables(server: ServerProcess) -> None:
    register(server, "cli-table", "10.0.0.7")
    done = cli("instances", "cli-table", "--server", server.address)
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split() == [
        "IP",
        "PORT",
        "CLUSTER",
        "HEALTHY",
        "ENABLED",
        "WEIGHT",
        "EPHEMERAL",
        "METADATA",
    ]
    assert row.split() == ["10.0.0.7", "8080", "DEFAULT", "yes", "yes", "1", "yes", "-"]
    empty = cli("instances", "cli-nothing", "--server", server.address)
    assert (empty.returncode, empty.stdout) == (0, "no instances of DEFAULT_GROUP@@cli-nothing\n")

    services = cli("services", "--json", "--server", server.address)
    assert services.returncode == 0, services.stderr
    assert {"cli-table"} <= set(json.loads(services.stdout))
    table = cli("services", "--server", server.address)
    assert "cli-table" in table.stdout.splitlines()


def test_cli_register_beats_until_interrupted_then_deregisters(server: ServerProcess) -> None:
    process = start_cli(
        "register", "cli-reg", "10.0.0.9", "8081", "--metadata", "v=1", "--server", server.address
    )
    try:
        assert read_line(process).startswith("registered 10.0.0.9:8081")
        assert listed(server, "cli-reg") == ["10.0.0.9:8081"]
    finally:
        status, out = interrupt(process)
    assert status == 0
    assert "deregistered 10.0.0.9:8081" in out
    assert listed(server, "cli-reg") == []


def test_cli_deregister_removes_an_instance(server: ServerProcess) -> None:
    register(server, "cli-dereg", "10.0.0.3")
    done = cli("deregister", "cli-dereg", "10.0.0.3", "8080", "--server", server.address)
    assert done.returncode == 0, done.stderr
    assert listed(server, "cli-dereg") == []


def test_cli_watch_prints_pushed_changes(server: ServerProcess) -> None:
    register(server, "cli-watch", "10.0.0.1")
    process = start_cli("watch", "cli-watch", "--json", "--server", server.address)
    try:
        first = json.loads(read_line(process))
        assert [item["ip"] for item in first["instances"]] == ["10.0.0.1"]
        started = time.monotonic()
        register(server, "cli-watch", "10.0.0.2")
        second = json.loads(read_line(process))
        assert time.monotonic() - started < 1.0  # pushed, not polled (the poll period is 10 s)
        assert [item["ip"] for item in second["added"]] == ["10.0.0.2"]
        assert second["removed"] == second["modified"] == []
    finally:
        status, _ = interrupt(process)
    assert status == 0


def test_cli_reports_an_unreachable_server_with_exit_status_3(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    for command in (["instances", "x"], ["services"], ["deregister", "x", "10.0.0.1", "80"]):
        done = cli(*command, "--server", address)
        assert done.returncode == 3, (command, done.stdout, done.stderr)
        assert done.stderr.startswith("nacosfast: cannot reach a Nacos server")
        assert address in done.stderr
    bad = cli("instances", "x", "--server", "not an address")
    assert bad.returncode == 2
    assert "bad host name" in bad.stderr
