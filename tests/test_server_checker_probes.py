"""The TCP, HTTP and MySQL probes against real local servers (real sockets, real clock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from nacosfast.naming.healthcheck import Check, Outcome
from nacosfast.server.checker import probe_http, probe_mysql, probe_tcp
from tests.check_targets import (
    CHECK_PASSWORD,
    CHECK_USER,
    HttpTargetServer,
    MariaDB,
    http_target,
    mariadb,
    tcp_target,
)
from tests.server_process import LOOPBACK, free_port

PROBE_TIMEOUT_S = 5.0
"""Generous bound on one probe here (the checker's own deadlines are tested with autojump)."""


def check(kind: str, port: int, ip: str = LOOPBACK, **settings: Any) -> Check:
    return Check(1, kind, ip, port, 1_000, settings)


async def run_probe(probe: Any, target: Check) -> tuple[Outcome, str]:
    with trio.fail_after(PROBE_TIMEOUT_S):
        result: tuple[Outcome, str] = await probe(target)
        return result


async def test_tcp_probe_open_then_closed_port() -> None:
    with tcp_target() as target:
        outcome, _ = await run_probe(probe_tcp, check("TCP", target.port))
        assert outcome is Outcome.OK
        target.close()
        outcome, detail = await run_probe(probe_tcp, check("TCP", target.port))
        assert outcome is Outcome.FAIL_NOW
        assert "unable2connect" in detail
        target.open()
        outcome, _ = await run_probe(probe_tcp, check("TCP", target.port))
        assert outcome is Outcome.OK


async def test_tcp_probe_resolves_a_host_name() -> None:
    with tcp_target() as target:
        outcome, _ = await run_probe(probe_tcp, check("TCP", target.port, ip="localhost"))
        assert outcome is Outcome.OK


@pytest.fixture
def http_server() -> Iterator[HttpTargetServer]:
    with http_target() as server:
        yield server


@pytest.mark.parametrize(
    ("status", "expected_code", "outcome"),
    [
        (200, 200, Outcome.OK),
        (500, 200, Outcome.FAIL_NOW),
        (404, 200, Outcome.FAIL_NOW),
        (503, 200, Outcome.BUSY),
        (302, 200, Outcome.BUSY),
        (204, 204, Outcome.OK),
    ],
)
async def test_http_probe_judges_the_status(
    http_server: HttpTargetServer, status: int, expected_code: int, outcome: Outcome
) -> None:
    http_server.status = status
    found, detail = await run_probe(
        probe_http, check("HTTP", http_server.port, path="/health", expectedResponseCode=expected_code)
    )
    assert found is outcome
    assert detail == f"http:{status}"


async def test_http_probe_sends_the_path_and_headers_to_the_instance_only(
    http_server: HttpTargetServer,
) -> None:
    with http_target() as elsewhere:
        settings = {
            "path": f"http://{LOOPBACK}:{elsewhere.port}/ready?x=1",
            "headers": "X-A:1|bad line|X-B:2",
        }
        http_server.status = 302
        http_server.location = f"http://{LOOPBACK}:{elsewhere.port}/"
        outcome, _ = await run_probe(probe_http, check("HTTP", http_server.port, **settings))
        assert outcome is Outcome.BUSY  # a redirect is an answer, never followed
        assert elsewhere.requests == []
    ((path, headers),) = http_server.requests
    assert path == "/ready?x=1"
    assert (headers["X-A"], headers["X-B"], headers["User-Agent"]) == ("1", "2", "VIPServer")


async def test_http_probe_refused_and_not_http() -> None:
    outcome, _ = await run_probe(probe_http, check("HTTP", free_port()))
    assert outcome is Outcome.FAIL_NOW
    with tcp_target() as target:  # accepts and closes at once: no status line
        outcome, detail = await run_probe(probe_http, check("HTTP", target.port))
        assert outcome is Outcome.FAIL
        assert "status line" in detail or "error" in detail


async def test_http_probe_on_a_slow_server_is_cut_by_the_deadline(http_server: HttpTargetServer) -> None:
    http_server.delay_s = 1.0
    with trio.move_on_after(0.3) as scope:
        await probe_http(check("HTTP", http_server.port))
    assert scope.cancelled_caught


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    with mariadb(Path(tmp_path_factory.mktemp("mariadb"))) as server:
        yield server


async def test_mysql_probe_writable_read_only_and_errors(database: MariaDB) -> None:
    def mysql(**settings: Any) -> Check:
        return check("MYSQL", database.port, user=CHECK_USER, pwd=CHECK_PASSWORD, **settings)

    database.set_read_only(False)
    assert (await run_probe(probe_mysql, mysql()))[0] is Outcome.OK
    assert (await run_probe(probe_mysql, mysql(cmd="select 1")))[0] is Outcome.OK
    database.set_read_only(True)
    outcome, detail = await run_probe(probe_mysql, mysql())
    assert (outcome, detail) == (Outcome.FAIL, "mysql:read_only is ON: the server is a replica")
    outcome, _ = await run_probe(probe_mysql, mysql(cmd="SHOW VARIABLES LIKE '%read_only%'"))
    assert outcome is Outcome.FAIL
    assert (await run_probe(probe_mysql, mysql(cmd="select 1")))[0] is Outcome.OK  # only asked for 1
    database.set_read_only(False)
    outcome, detail = await run_probe(probe_mysql, mysql(cmd="not sql"))
    assert outcome is Outcome.FAIL_NOW
    assert "1064" in detail
    outcome, detail = await run_probe(
        probe_mysql, check("MYSQL", database.port, user=CHECK_USER, pwd="wrong")
    )
    assert outcome is Outcome.FAIL_NOW
    assert "1045" in detail
    assert (await run_probe(probe_mysql, check("MYSQL", free_port(), user="x")))[0] is Outcome.FAIL_NOW


async def test_mysql_probe_on_a_non_mysql_server(http_server: HttpTargetServer) -> None:
    with trio.move_on_after(0.5) as scope:  # an HTTP server waits for a request: the check times out
        await probe_mysql(check("MYSQL", http_server.port, user="x"))
    assert scope.cancelled_caught
