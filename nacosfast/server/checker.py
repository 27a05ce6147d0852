"""Health-check shell: runs the checks ``HealthChecker`` plans (TCP, HTTP, MySQL) and reports results.

One task polls the planner (at most every ``HEALTH_CHECK_TICK_MS``) and starts one short task per
check; the planner bounds how many run at once and how many start per second. Each check has its own
deadline (``Check.timeout_ms``); a check that misses it counts as a timeout. Sockets are plain
non-blocking sockets driven with ``trio.lowlevel.wait_readable``/``wait_writable`` (perf-notes: the
cheapest way to do I/O under Trio) and closed with ``SO_LINGER`` 0: a reset instead of a FIN, so
thousands of checks a second leave no TIME_WAIT sockets to exhaust the local ports (HAProxy closes its
checks the same way). Only the instance's own address (a registered IP, or the addresses its registered
host name resolves to) is ever connected to, and HTTP redirects are never followed.

MySQL is spoken by ``nacosfast.wire.mysql`` (handshake, login, one query) on the same kind of socket:
no driver threads, and a stuck server costs one socket until the deadline, not a worker thread.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import math
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import trio

from nacosfast.limits import (
    HEALTH_CHECK_ERROR_BACKOFF_MS,
    HEALTH_CHECK_TICK_MS,
    HTTP_CHECK_MAX_STATUS_LINE_BYTES,
)
from nacosfast.naming.checkers import HTTP, MYSQL, TCP
from nacosfast.naming.healthcheck import Check, HealthChecker, Outcome, http_outcome
from nacosfast.server.clock import monotonic_ms
from nacosfast.wire.check_http import check_request, parse_status_line
from nacosfast.wire.mysql import READ_ONLY_QUERY, MysqlCheck, MysqlResult

__all__ = ["PROBES", "Probe", "probe_http", "probe_mysql", "probe_tcp", "run_checks"]

log = logging.getLogger("nacosfast.healthcheck")

Probe = Callable[[Check], Awaitable[tuple[Outcome, str]]]
"""Runs one check (without its deadline, which the caller sets) and says what it found."""

_LINGER_RESET: Final = struct.pack("ii", 1, 0)
_READ_BYTES: Final = 65_536
_MYSQL_RESULTS: Final = {
    MysqlResult.OK: Outcome.OK,
    MysqlResult.READ_ONLY: Outcome.FAIL,
    MysqlResult.SERVER_ERROR: Outcome.FAIL_NOW,
    MysqlResult.PROTOCOL_ERROR: Outcome.FAIL,
}
"""As Nacos: an SQL error fails at once, a replica (read-only) after ``checkTimes`` results."""


class _Verdict(Exception):
    """Ends a probe early with this verdict (``_probe`` turns it into the probe's answer)."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


def _probe(run: Callable[[Check], Awaitable[tuple[Outcome, str]]]) -> Probe:
    """A probe that answers a ``_Verdict`` raised inside it as its result."""

    async def probe(check: Check) -> tuple[Outcome, str]:
        try:
            return await run(check)
        except _Verdict as verdict:
            return verdict.outcome, verdict.detail

    probe.__name__ = run.__name__
    probe.__doc__ = run.__doc__
    return probe


async def _address(ip: str, port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    """The socket family and address of ``ip:port``; a host name is resolved (first answer)."""
    try:
        literal = ipaddress.ip_address(ip)
    except ValueError:
        infos = await trio.socket.getaddrinfo(ip, port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"{ip} has no address") from None
        family, _, _, _, address = infos[0]
        return family, address
    if literal.version == 6:
        return socket.AF_INET6, (ip, port, 0, 0)
    return socket.AF_INET, (ip, port)


async def _connect(check: Check, label: str) -> socket.socket:
    """A connected non-blocking socket to the check's address.

    Raises ``_Verdict``: refused is ``FAIL_NOW`` (Nacos's ``unable2connect``), any other error ``FAIL``.
    """
    try:
        family, address = await _address(check.ip, check.port)
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as failure:
        raise _Verdict(Outcome.FAIL, f"{label}:error: {failure}") from None
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        error = sock.connect_ex(address)
        if error == errno.EINPROGRESS:
            await trio.lowlevel.wait_writable(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    except OSError as failure:
        sock.close()
        raise _Verdict(Outcome.FAIL, f"{label}:error: {failure}") from None
    except BaseException:
        sock.close()
        raise
    if error:
        sock.close()
        if error == errno.ECONNREFUSED:
            detail = f"{label}:unable2connect: {check.ip}:{check.port} refused the connection"
            raise _Verdict(Outcome.FAIL_NOW, detail)
        raise _Verdict(Outcome.FAIL, f"{label}:error: {os.strerror(error)}")
    return sock


async def _send_all(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        view = view[sent:]


async def _receive(sock: socket.socket) -> bytes:
    """The next bytes from ``sock`` (``b""`` at end of stream)."""
    while True:
        try:
            return sock.recv(_READ_BYTES)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)


@_probe
async def probe_tcp(check: Check) -> tuple[Outcome, str]:
    """Connect and close: connected is OK, refused fails at once, anything else is a failure."""
    sock = await _connect(check, "tcp")
    sock.close()
    return Outcome.OK, "tcp:ok"


@_probe
async def probe_http(check: Check) -> tuple[Outcome, str]:
    """``GET`` the checker's path and judge the status line (see ``http_outcome``)."""
    settings = check.settings
    try:
        request = check_request(
            check.ip, check.port, str(settings.get("path", "")), str(settings.get("headers", ""))
        )
    except ValueError as error:
        return Outcome.FAIL, f"http:error: {error}"
    sock = await _connect(check, "http")
    try:
        await _send_all(sock, request)
        head = b""
        while True:
            data = await _receive(sock)
            if not data:
                return Outcome.FAIL, "http:error: connection closed before the status line"
            head += data
            status = parse_status_line(head[:HTTP_CHECK_MAX_STATUS_LINE_BYTES])
            if status is not None:
                break
            if len(head) >= HTTP_CHECK_MAX_STATUS_LINE_BYTES:
                return Outcome.FAIL, "http:error: status line too long"
    except (OSError, ValueError) as error:
        return Outcome.FAIL, f"http:error: {error}"
    finally:
        sock.close()
    expected = settings.get("expectedResponseCode", 200)
    return http_outcome(status, expected if isinstance(expected, int) else 200), f"http:{status}"


@_probe
async def probe_mysql(check: Check) -> tuple[Outcome, str]:
    """Log in with the checker's user and password, run its command (default: Nacos's read-only test).

    Refused is an SQL error for Nacos's JDBC driver, so it fails at once as in Nacos.
    """
    settings = check.settings
    command = str(settings.get("cmd") or READ_ONLY_QUERY)
    conversation = MysqlCheck(str(settings.get("user") or ""), str(settings.get("pwd") or ""), command)
    sock = await _connect(check, "mysql")
    try:
        while conversation.result is None:
            data = await _receive(sock)
            if not data:
                return Outcome.FAIL, "mysql:error: connection closed by the server"
            reply = conversation.feed(data)
            if reply:
                await _send_all(sock, reply)
    except OSError as error:
        return Outcome.FAIL, f"mysql:error: {error}"
    finally:
        sock.close()
    return _MYSQL_RESULTS[conversation.result], f"mysql:{conversation.detail}"


PROBES: Final[Mapping[str, Probe]] = {TCP: probe_tcp, HTTP: probe_http, MYSQL: probe_mysql}


async def _run_one(checker: HealthChecker, check: Check, probe: Probe, wake: Callable[[], None]) -> None:
    outcome, detail = Outcome.FAIL, "error"
    try:
        with trio.move_on_after(check.timeout_ms / 1000) as scope:
            outcome, detail = await probe(check)
        if scope.cancelled_caught:
            outcome, detail = Outcome.BUSY, f"{check.kind.lower()}:timeout after {check.timeout_ms} ms"
    except Exception as error:  # a probe bug is a failed check, never a dead checker
        log.exception("health check %s %s:%d failed unexpectedly", check.kind, check.ip, check.port)
        outcome, detail = Outcome.FAIL, f"error: {error!r}"
    held_back = checker.waiting_for_slot  # this result frees the slot a round waits for
    checker.on_result(check.check_id, outcome, monotonic_ms(), detail)
    if held_back:
        wake()


async def run_checks(
    checker: HealthChecker,
    *,
    probes: Mapping[str, Probe] = PROBES,
    tick_ms: int = HEALTH_CHECK_TICK_MS,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the planner's checks until cancelled."""
    wake_event = trio.Event()

    def wake() -> None:
        wake_event.set()

    checker.set_wakeup(wake)
    async with trio.open_nursery() as nursery:
        task_status.started()
        last_poll = -math.inf
        while True:
            now = trio.current_time()
            if (now - last_poll) * 1000 < tick_ms:
                await trio.sleep_until(last_poll + tick_ms / 1000)
            last_poll = trio.current_time()
            now_ms = monotonic_ms()
            try:
                for check in checker.poll(now_ms):
                    probe = probes.get(check.kind)
                    if probe is None:
                        checker.on_result(check.check_id, Outcome.FAIL, now_ms, "no probe")
                    else:
                        nursery.start_soon(_run_one, checker, check, probe, wake)
                deadline = checker.next_deadline_ms(monotonic_ms())
            except Exception:
                log.exception("health check planner failed")
                await trio.sleep(HEALTH_CHECK_ERROR_BACKOFF_MS / 1000)
                continue
            wake_event = trio.Event()
            with trio.move_on_at(math.inf if deadline is None else deadline / 1000):
                await wake_event.wait()
