"""The Trio shell of membership: status reports to peers, and the member list from its source.

Every ``report_interval_ms`` the node ticks its ``MemberTable`` (self-beat; silent peers turn
SUSPICIOUS, then DOWN) and sends a status report (peer kind ``member/beat``) to every other member, DOWN
ones included, so that a member that comes back is seen at once. A report that is answered counts as
hearing from that peer; a failed one counts a failure (a refused connection: DOWN at once). A report
received from a peer counts as hearing from it; the answer carries this node's own status.

The member list comes from ``--members`` (fixed), a ``cluster.conf`` file (re-read when its mtime or
size changes, checked every ``MEMBER_CONF_POLL_MS``), or an address server (``GET`` every
``ADDRESS_SERVER_POLL_MS``, one ``ip:port`` a line). A list that cannot be read or parsed is logged and
the previous one kept.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import trio

from nacosfast import NACOS_COMPAT_VERSION
from nacosfast.cluster.member_list import parse_member_list
from nacosfast.cluster.members import MemberTable
from nacosfast.errors import NacosError
from nacosfast.limits import ADDRESS_SERVER_POLL_MS, MAX_MEMBER_LIST_BYTES, MEMBER_CONF_POLL_MS
from nacosfast.server.clock import monotonic_ms, wall_ms
from nacosfast.server.peers import PeerClient, PeerRouter, PeerUnavailable, http_get

__all__ = ["MEMBER_BEAT", "MemberSource", "Membership", "read_member_file"]

log = logging.getLogger("nacosfast.members")

MEMBER_BEAT: Final = "member/beat"


@dataclass(frozen=True, slots=True)
class MemberSource:
    """Where the member list comes from: a fixed list, a ``cluster.conf`` file or an address server."""

    members: tuple[str, ...] = ()
    conf_file: str = ""
    address_server: str = ""
    conf_poll_ms: int = MEMBER_CONF_POLL_MS
    address_poll_ms: int = ADDRESS_SERVER_POLL_MS


def read_member_file(path: str) -> tuple[str, ...]:
    """The members listed in a ``cluster.conf`` file; ``OSError`` or ``ValueError`` if unusable."""
    with Path(path).open("rb") as handle:
        raw = handle.read(MAX_MEMBER_LIST_BYTES + 1)
    return parse_member_list(raw.decode("utf-8"))


class Membership:
    """Reports to peers and follows the member list; answers peers' reports (see the module docstring)."""

    def __init__(
        self, table: MemberTable, client: PeerClient, router: PeerRouter, source: MemberSource
    ) -> None:
        self.table = table
        self.client = client
        self.source = source
        self._in_flight: set[str] = set()
        self.reports_sent = 0
        self.reports_received = 0
        router.register(MEMBER_BEAT, self._on_beat)

    def _status(self) -> bytes:
        return json.dumps(
            {"address": self.table.self_address, "state": "UP", "version": NACOS_COMPAT_VERSION}
        ).encode()

    def _on_beat(self, kind: str, payload: bytes, now_ms: int) -> bytes:
        """A peer's status report: note it; answer with this node's status."""
        report = _parse_status(payload)
        address = report.get("address")
        if not isinstance(address, str) or not self.table.on_report(
            address, now_ms, wall_ms(), str(report.get("version", ""))
        ):
            raise NacosError(f"{str(address)[:128]} is not in this node's member list", status=403)
        self.reports_received += 1
        return self._status()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Report, and follow the member list, until cancelled."""
        async with trio.open_nursery() as nursery:
            if self.source.conf_file:
                nursery.start_soon(self._follow_file)
            if self.source.address_server:
                nursery.start_soon(self._follow_address_server)
            task_status.started()
            interval_s = self.table.timings.report_interval_ms / 1000
            start = trio.current_time()
            rounds = 0
            while True:
                self.table.tick(monotonic_ms(), wall_ms())
                for peer in self.table.others():
                    if peer not in self._in_flight:
                        self._in_flight.add(peer)
                        nursery.start_soon(self._report, peer, interval_s)
                rounds += 1
                due = start + rounds * interval_s
                if trio.current_time() > due + interval_s:  # this process did not run: no catching up
                    start, rounds = trio.current_time(), 0
                await trio.sleep_until(due)

    async def _report(self, peer: str, timeout_s: float) -> None:
        try:
            reply = await self.client.call(peer, MEMBER_BEAT, self._status(), timeout_s)
            version = _parse_status(reply).get("version", "")
        except PeerUnavailable as error:
            before = self.table.get(peer)
            state = before.state if before is not None else None
            self.table.on_failure(peer, monotonic_ms(), refused=error.refused)
            after = self.table.get(peer)
            if after is not None and after.state != state:
                log.warning("member %s is %s: %s", peer, after.state, error.reason)
            return
        except ValueError as error:
            self.table.on_failure(peer, monotonic_ms())
            log.warning("member %s answered a malformed report: %s", peer, error)
            return
        finally:
            self._in_flight.discard(peer)
        before = self.table.get(peer)
        state = before.state if before is not None else None
        self.reports_sent += 1
        self.table.on_report(peer, monotonic_ms(), wall_ms(), str(version))
        if state is not None and state != "UP":
            log.info("member %s is UP again", peer)

    async def _follow_file(self) -> None:
        path = self.source.conf_file
        seen = _file_signature(path)
        while True:
            await trio.sleep(self.source.conf_poll_ms / 1000)
            current = _file_signature(path)
            if current == seen:
                continue
            seen = current
            self._apply(f"cluster.conf {path}", read_member_file, path)

    async def _follow_address_server(self) -> None:
        url = self.source.address_server
        while True:
            try:
                with trio.fail_after(self.source.address_poll_ms / 1000):
                    body = await http_get(url)
            except (OSError, PeerUnavailable, trio.TooSlowError) as error:
                log.warning("address server %s: %s", url, error)
            else:
                self._apply(f"address server {url}", _parse_body, body)
            await trio.sleep(self.source.address_poll_ms / 1000)

    def _apply(self, where: str, read: Callable[[Any], tuple[str, ...]], source: Any) -> None:
        try:
            addresses = read(source)
            changed = self.table.set_members(addresses, monotonic_ms())
        except (OSError, ValueError) as error:
            log.warning("keeping the member list: cannot use %s: %s", where, error)
            return
        if changed:
            log.info("members from %s: %s", where, ", ".join(self.table.healthy_addresses()))


def _parse_body(body: bytes) -> tuple[str, ...]:
    return parse_member_list(body.decode("utf-8"))


def _file_signature(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _parse_status(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        raise ValueError("member status is not JSON") from None
    if not isinstance(value, dict):
        raise ValueError("member status is not a JSON object")
    return value


def check_address_server_url(url: str) -> str:
    """``url`` if it is an ``http://host[:port]/path`` URL; ``ValueError`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the address server must be an http://host[:port]/path URL, got {url!r}")
    return url
