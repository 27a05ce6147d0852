"""Load generator for a Nacos 1.x naming server (nacosfast or Java Nacos): registrations, beats, lists.

Trio and the standard library only. Each worker owns one persistent keep-alive HTTP/1.1 connection,
so the server sees many concurrent connections with one request in flight each, as it does from many
client processes. The client is hand-written on plain non-blocking sockets driven by
``trio.lowlevel.wait_readable``: one trip through the scheduler per request instead of the three or four
that ``trio.SocketStream`` takes (``docs/architecture.md``, *Why one hub per listener*), which lets one
core send the issue's 20,000 beats/s.

Modes (see ``bench/README.md``):

* ``scenario`` — register N ephemeral instances (spread over S services, 2 metadata keys each) and beat
  each one every ``--beat-interval`` seconds as the Java client does (a full beat first, then light
  beats ``PUT /instance/beat?serviceName=..&ip=..&port=..&clusterName=..``), list at ``--list-rate``,
  and sweep every service's list to catch any instance that turned unhealthy or vanished.
* ``register`` — registrations per second (and deregistrations with ``--deregister``).
* ``list`` — ``instance/list`` per second against N registered instances.

It prints throughput and p50/p90/p99/max latency per operation, error counts, unhealthy/missing
instances, the server's RSS per instance (``--pid``: ``/proc/<pid>/status`` VmRSS before and after
registering) and the server's CPU time per request.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import random
import resource
import socket
import sys
import time
import urllib.parse
import weakref
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import trio

# --- bounds ---------------------------------------------------------------------------------------------

RECV_BYTES: Final = 256 * 1024
"""One ``receive_some``: a 100-instance list answer is ~30 KiB; a pipelined burst of beats far less."""
MAX_RESPONSE_HEAD_BYTES: Final = 64 * 1024
"""A status line plus headers longer than this is a broken server."""
MAX_RESPONSE_BODY_BYTES: Final = 256 * 1024 * 1024
"""Largest response body accepted (a list of every instance of a huge service)."""
WATCHDOG_PERIOD_S: Final = 0.25
"""How often request timeouts are checked (a timeout fires up to this much late)."""
RECONNECT_BACKOFF_S: Final = 0.1
"""Pause after a failed connect before the next attempt."""
ERROR_SAMPLES: Final = 5
"""Distinct error messages kept per operation for the report."""
DEFAULT_USER_AGENT: Final = "Nacos-Java-Client:v1.4.8"
BEAT_OK_CODE: Final = b'"code":10200'
BEAT_NOT_FOUND_CODE: Final = b"20404"


class HttpError(Exception):
    """A connection-level failure: refused, reset, closed mid-response, malformed or too slow."""


# --- a small keep-alive HTTP/1.1 client ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """One response: status, body and the seconds from sending the request to its last byte."""

    status: int
    body: bytes
    latency_s: float


class Connection:
    """One persistent HTTP/1.1 connection. Requests may be pipelined with :meth:`exchange`.

    A request that gets no answer within ``timeout_s`` is ended by a :class:`Watchdog`, which closes
    the socket under it: cheaper than a cancel scope per request, which the generator cannot afford
    at tens of thousands of requests per second.
    """

    def __init__(
        self, host: str, port: int, user_agent: str, timeout_s: float, watchdog: Watchdog | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._head_suffix = f" HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {user_agent}\r\n".encode()
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self.connects = 0
        self.busy_since: float | None = None
        """``time.perf_counter()`` when the request in flight was sent; ``None`` when idle."""
        self._timed_out = False
        if watchdog is not None:
            watchdog.watch(self)

    def encode(self, method: str, target: str, form: str | None = None) -> bytes:
        """The bytes of one request; ``form`` is an urlencoded body."""
        head = method.encode() + b" " + target.encode() + self._head_suffix
        if form is None:
            return head + b"Content-Length: 0\r\n\r\n"
        body = form.encode()
        return (
            head
            + b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    async def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                with trio.fail_after(self.timeout_s):
                    try:
                        sock.connect((self.host, self.port))
                    except BlockingIOError:
                        await trio.lowlevel.wait_writable(sock)
                        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if error:
                            raise OSError(error, os.strerror(error)) from None
            except (OSError, trio.TooSlowError) as error:
                sock.close()
                raise HttpError(f"connect: {error or 'timed out'}") from error
            except BaseException:
                sock.close()
                raise
            self._sock = sock
            self._buffer.clear()
            self.connects += 1
        return self._sock

    async def aclose(self) -> None:
        """Close the socket (the next request reconnects); a task waiting on it gets an error."""
        sock, self._sock = self._sock, None
        if sock is not None:
            trio.lowlevel.notify_closing(sock)
            sock.close()
        await trio.lowlevel.checkpoint_if_cancelled()

    async def expire(self) -> None:
        """Called by the watchdog: end the request in flight (it raises ``HttpError``)."""
        self._timed_out = True
        await self.aclose()

    async def exchange(self, requests: Sequence[bytes]) -> list[Reply]:
        """Send ``requests`` in one write and read one response each; ``HttpError`` closes the socket."""
        try:
            sock = await self._connect()
            started = self.busy_since = time.perf_counter()
            data = b"".join(requests) if len(requests) > 1 else requests[0]
            await self._send_all(sock, data)
            replies = []
            for _ in requests:
                status, body, keep_alive = await self._read_response()
                replies.append(Reply(status, body, time.perf_counter() - started))
                if not keep_alive:
                    await self.aclose()
                    if len(replies) < len(requests):
                        raise HttpError("server closed a pipelined connection")
                    break
            self.busy_since = None
            return replies
        except (OSError, trio.ClosedResourceError, HttpError) as error:
            self.busy_since = None
            timed_out, self._timed_out = self._timed_out, False
            await self.aclose()
            if timed_out:
                raise HttpError(f"no response within {self.timeout_s} s") from None
            if isinstance(error, HttpError):
                raise
            raise HttpError(f"{type(error).__name__}: {error}") from error

    @staticmethod
    async def _send_all(sock: socket.socket, data: bytes) -> None:
        # A request fits the socket buffer: the first send nearly always takes it all, without a wait.
        view = memoryview(data)
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)
                continue
            view = view[sent:]

    async def _fill(self) -> None:
        # Wait first: right after a send the answer is not there yet, and a recv would only fail.
        sock = self._sock
        if sock is None:
            raise HttpError("connection closed")
        while True:
            await trio.lowlevel.wait_readable(sock)
            try:
                data = sock.recv(RECV_BYTES)
            except BlockingIOError:
                continue
            break
        if not data:
            raise HttpError("connection closed by the server")
        self._buffer += data

    async def _read_response(self) -> tuple[int, bytes, bool]:
        buffer = self._buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > MAX_RESPONSE_HEAD_BYTES:
                raise HttpError("response head too long")
            await self._fill()
        head = bytes(buffer[:end])
        del buffer[: end + 4]
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError(f"bad status line {lines[0][:100]!r}")
        try:
            status = int(parts[1])
        except ValueError:
            raise HttpError(f"bad status line {lines[0][:100]!r}") from None
        length = -1
        chunked = False
        keep_alive = parts[0] == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                token = value.strip().lower()
                keep_alive = token == b"keep-alive" or (keep_alive and token != b"close")
        if status in (204, 304) or 100 <= status < 200:
            return status, b"", keep_alive
        if chunked:
            return status, await self._read_chunked(), keep_alive
        if length < 0:  # body delimited by the end of the connection
            while True:
                try:
                    await self._fill()
                except HttpError:
                    break
                if len(buffer) > MAX_RESPONSE_BODY_BYTES:
                    raise HttpError("response body too large")
            body = bytes(buffer)
            buffer.clear()
            return status, body, False
        if length > MAX_RESPONSE_BODY_BYTES:
            raise HttpError("response body too large")
        while len(buffer) < length:
            await self._fill()
        body = bytes(buffer[:length])
        del buffer[:length]
        return status, body, keep_alive

    async def _read_chunked(self) -> bytes:
        buffer = self._buffer
        body = bytearray()
        while True:
            while (end := buffer.find(b"\r\n")) < 0:
                await self._fill()
            size = int(bytes(buffer[:end]).split(b";", 1)[0], 16)
            del buffer[: end + 2]
            if size == 0:
                while (end := buffer.find(b"\r\n")) != 0:  # trailers, then the empty line
                    if end > 0:
                        del buffer[: end + 2]
                    else:
                        await self._fill()
                del buffer[:2]
                return bytes(body)
            while len(buffer) < size + 2:
                await self._fill()
            body += buffer[:size]
            del buffer[: size + 2]
            if len(body) > MAX_RESPONSE_BODY_BYTES:
                raise HttpError("response body too large")


class Watchdog:
    """Closes connections whose request has waited longer than their timeout."""

    def __init__(self) -> None:
        self._connections: weakref.WeakSet[Connection] = weakref.WeakSet()

    def watch(self, connection: Connection) -> None:
        self._connections.add(connection)

    async def run(self) -> None:
        """Check every ``WATCHDOG_PERIOD_S`` until cancelled."""
        while True:
            await trio.sleep(WATCHDOG_PERIOD_S)
            now = time.perf_counter()
            for connection in list(self._connections):
                since = connection.busy_since
                if since is not None and now - since > connection.timeout_s:
                    await connection.expire()


# --- statistics ------------------------------------------------------------------------------------------


@dataclass
class OpStats:
    """Latencies (seconds) and errors of one kind of operation."""

    name: str
    latencies: array[float] = field(default_factory=lambda: array("d"))
    errors: int = 0
    error_samples: dict[str, int] = field(default_factory=dict)

    def ok(self, latency_s: float) -> None:
        self.latencies.append(latency_s)

    def error(self, message: str) -> None:
        self.errors += 1
        if message in self.error_samples or len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples[message] = self.error_samples.get(message, 0) + 1

    def summary(self, seconds: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        count = len(ordered)

        def quantile(q: float) -> float:
            if not ordered:
                return math.nan
            return ordered[min(count - 1, max(0, math.ceil(q * count) - 1))] * 1000.0

        return {
            "op": self.name,
            "ok": count,
            "errors": self.errors,
            "per_s": count / seconds if seconds > 0 else math.nan,
            "p50_ms": quantile(0.50),
            "p90_ms": quantile(0.90),
            "p99_ms": quantile(0.99),
            "p999_ms": quantile(0.999),
            "max_ms": ordered[-1] * 1000.0 if ordered else math.nan,
            "error_samples": dict(self.error_samples),
        }


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    print(
        f"{'op':<12}{'ok':>10}{'errors':>8}{'per s':>11}{'p50 ms':>9}{'p90 ms':>9}"
        f"{'p99 ms':>9}{'p99.9 ms':>10}{'max ms':>9}"
    )
    for row in rows:
        print(
            f"{row['op']:<12}{row['ok']:>10}{row['errors']:>8}{row['per_s']:>11.1f}{row['p50_ms']:>9.2f}"
            f"{row['p90_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['p999_ms']:>10.2f}{row['max_ms']:>9.2f}"
        )
        for message, times in row["error_samples"].items():
            print(f"    {times} x {message}")


# --- the server process (/proc) --------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """``VmRSS`` of ``pid`` in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by ``pid``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the workload ----------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What to send: instance identities and request targets (quoted pieces are computed once, since
    ``urlencode`` per request would cost the generator more than the server spends answering)."""

    host: str
    port: int
    namespace: str
    group: str
    cluster: str
    prefix: str
    instances: int
    services: int
    metadata: str
    user_agent: str
    timeout_s: float
    persistent: bool = False
    """Register persistent instances (``ephemeral=false``): no beats, the server checks them."""
    target_port: int = 0
    """With ``persistent``: instances are ``127.0.0.1:<target_port + k>``, k = index // services, so the
    server's TCP checks reach ``instances / services`` local listeners (``bench/check_targets.py``)."""
    _service_q: list[str] = field(init=False, repr=False)
    _ns_q: str = field(init=False, repr=False)
    _cluster_q: str = field(init=False, repr=False)
    _register_suffix: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        quote = urllib.parse.quote_plus
        self._service_q = [quote(f"{self.group}@@{self.prefix}-{k}") for k in range(self.services)]
        self._ns_q = quote(self.namespace)
        self._cluster_q = quote(self.cluster)
        self._register_suffix = "&" + urllib.parse.urlencode(
            {
                "groupName": self.group,
                "weight": "1.0",
                "enable": "true",
                "healthy": "true",
                "ephemeral": "false" if self.persistent else "true",
                "metadata": self.metadata,
                "app": "bench",
            }
        )

    def service(self, index: int) -> str:
        return f"{self.prefix}-{index % self.services}"

    def grouped(self, index: int) -> str:
        return f"{self.group}@@{self.service(index)}"

    def ip(self, index: int) -> str:
        """Loopback addresses: 127.1.0.0 onwards, one per instance (never contacted for ephemerals)."""
        if self.target_port:
            return "127.0.0.1"
        return f"127.{1 + (index >> 16)}.{(index >> 8) & 0xFF}.{index & 0xFF}"

    def instance_port(self, index: int) -> int:
        if self.target_port:
            return self.target_port + index // self.services
        return 8000 + index % 1000

    def _query(self, index: int) -> str:
        return (
            f"namespaceId={self._ns_q}&serviceName={self._service_q[index % self.services]}"
            f"&clusterName={self._cluster_q}&ip={self.ip(index)}&port={self.instance_port(index)}"
        )

    def register_target(self, index: int) -> str:
        """Java-client register: every parameter in the query string."""
        return "/nacos/v1/ns/instance?" + self._query(index) + self._register_suffix

    def deregister_target(self, index: int) -> str:
        return "/nacos/v1/ns/instance?" + self._query(index) + "&ephemeral=true"

    def light_beat_target(self, index: int) -> str:
        """What the Java client sends once the server said ``lightBeatEnabled``: no ``beat`` body."""
        return "/nacos/v1/ns/instance/beat?" + self._query(index)

    def full_beat_form(self, index: int) -> str:
        beat = {
            "port": self.instance_port(index),
            "ip": self.ip(index),
            "weight": 1.0,
            "serviceName": self.grouped(index),
            "cluster": self.cluster,
            "metadata": json.loads(self.metadata),
            "scheduled": False,
            "period": 5000,
            "stopped": False,
        }
        return urllib.parse.urlencode({"beat": json.dumps(beat, separators=(",", ":"))})

    def list_target(self, service_index: int, *, healthy_only: bool = False) -> str:
        return (
            f"/nacos/v1/ns/instance/list?namespaceId={self._ns_q}&serviceName={self._service_q[service_index]}"
            f"&clusters=&healthyOnly={'true' if healthy_only else 'false'}"
        )


@dataclass
class Run:
    """Shared state of one run."""

    plan: Plan
    stats: dict[str, OpStats]
    registered: bytearray
    """1 once the instance's registration was acknowledged."""
    unhealthy: set[int] = field(default_factory=set)
    missing: set[int] = field(default_factory=set)
    unhealthy_observations: int = 0
    beat_lag: array[float] = field(default_factory=lambda: array("d"))
    beats_not_found: int = 0
    all_registered: trio.Event = field(default_factory=trio.Event)
    watchdog: Watchdog = field(default_factory=Watchdog)
    registered_count: int = 0

    def op(self, name: str) -> OpStats:
        if name not in self.stats:
            self.stats[name] = OpStats(name)
        return self.stats[name]

    def mark_registered(self, index: int) -> None:
        if not self.registered[index]:
            self.registered[index] = 1
            self.registered_count += 1
            if self.registered_count == self.plan.instances:
                self.all_registered.set()


async def send(
    connection: Connection, requests: Sequence[bytes], stats: OpStats, deadline: float
) -> list[Reply] | None:
    """One exchange; on a connection failure record one error per request and back off."""
    try:
        return await connection.exchange(requests)
    except HttpError as error:
        for _ in requests:
            stats.error(str(error))
        if trio.current_time() < deadline:
            await trio.sleep(RECONNECT_BACKOFF_S)
        return None


def check_ok(reply: Reply, stats: OpStats, expect: bytes | None = b"ok") -> bool:
    if reply.status == 200 and (expect is None or reply.body == expect):
        stats.ok(reply.latency_s)
        return True
    stats.error(f"HTTP {reply.status}: {reply.body[:120]!r}")
    return False


async def register_worker(
    run: Run,
    indices: Sequence[int],
    pipeline: int,
    deadline: float,
    beat_interval: float | None,
    spread: bool = False,
) -> None:
    """Register ``indices``; with ``beat_interval`` keep beating them until ``deadline``, like a client
    that registers and starts its beat task. The first beat comes one interval after the registration,
    or (``spread``) at a random point of the first interval, so that beats arrive at an even rate as
    from a fleet that registered over time rather than in one burst."""
    plan = run.plan
    phases = random.Random(indices[0] if indices else 0)
    connection = Connection(plan.host, plan.port, plan.user_agent, plan.timeout_s, run.watchdog)
    register, beat, full_beat = run.op("register"), run.op("beat"), run.op("beat_full")
    pending = list(reversed(indices))
    due: list[tuple[float, int]] = []  # (due time, instance index)
    light: dict[int, bytes] = {}
    try:
        beat_turn = True  # due beats and registrations take turns, so neither starves the other
        while trio.current_time() < deadline:
            now = trio.current_time()
            beat_due = bool(due) and due[0][0] <= now
            if beat_due and (beat_turn or not pending):
                beat_turn = False
                batch: list[tuple[float, int]] = []
                while due and due[0][0] <= now and len(batch) < pipeline:
                    batch.append(heapq.heappop(due))
                requests = []
                for when, index in batch:
                    run.beat_lag.append(now - when)
                    encoded = light.get(index)
                    if encoded is None:  # the first beat is a full beat, as the Java client sends
                        requests.append(
                            connection.encode(
                                "PUT", plan.light_beat_target(index), plan.full_beat_form(index)
                            )
                        )
                    else:
                        requests.append(encoded)
                replies = await send(connection, requests, beat, deadline)
                for position, (when, index) in enumerate(batch):
                    heapq.heappush(due, (when + (beat_interval or 0.0), index))
                    if replies is None or position >= len(replies):
                        continue
                    reply = replies[position]
                    stats = beat if index in light else full_beat
                    if reply.status == 200 and BEAT_OK_CODE in reply.body:
                        stats.ok(reply.latency_s)
                        if index not in light:
                            light[index] = connection.encode("PUT", plan.light_beat_target(index))
                    elif reply.status == 200 and BEAT_NOT_FOUND_CODE in reply.body:
                        run.beats_not_found += 1  # the Java client re-registers: so do we
                        stats.ok(reply.latency_s)
                        pending.append(index)
                    else:
                        stats.error(f"HTTP {reply.status}: {reply.body[:120]!r}")
            elif pending:
                beat_turn = True
                batch_indices = [pending.pop() for _ in range(min(pipeline, len(pending)))]
                requests = [connection.encode("POST", plan.register_target(i)) for i in batch_indices]
                replies = await send(connection, requests, register, deadline)
                done = trio.current_time()
                for position, index in enumerate(batch_indices):
                    if replies is None or position >= len(replies):
                        pending.insert(0, index)  # connection failure: retried after the others
                    elif check_ok(replies[position], register):
                        run.mark_registered(index)
                        if beat_interval is not None:
                            first = beat_interval * phases.random() if spread else beat_interval
                            heapq.heappush(due, (done + first, index))
            elif due and beat_interval is not None:
                await trio.sleep_until(min(due[0][0], deadline))
            else:
                return
    finally:
        await connection.aclose()


async def deregister_worker(run: Run, indices: Sequence[int], pipeline: int, deadline: float) -> None:
    plan = run.plan
    connection = Connection(plan.host, plan.port, plan.user_agent, plan.timeout_s, run.watchdog)
    stats = run.op("deregister")
    try:
        for start in range(0, len(indices), pipeline):
            if trio.current_time() >= deadline:
                return
            chunk = indices[start : start + pipeline]
            requests = [connection.encode("DELETE", plan.deregister_target(i)) for i in chunk]
            replies = await send(connection, requests, stats, deadline)
            for reply in replies or ():
                check_ok(reply, stats)
    finally:
        await connection.aclose()


async def list_worker(run: Run, rate: float, deadline: float, seed: int) -> None:
    """``instance/list`` of random services at ``rate`` per second (0: as fast as possible)."""
    plan = run.plan
    connection = Connection(plan.host, plan.port, plan.user_agent, plan.timeout_s, run.watchdog)
    stats = run.op("list")
    chooser = random.Random(seed)
    period = 1.0 / rate if rate > 0 else 0.0
    next_at = trio.current_time() + chooser.random() * period
    try:
        while True:
            if period:
                if next_at >= deadline:
                    return
                await trio.sleep_until(next_at)
                next_at += period
            elif trio.current_time() >= deadline:
                return
            target = plan.list_target(chooser.randrange(plan.services))
            replies = await send(connection, [connection.encode("GET", target)], stats, deadline)
            if replies:
                check_ok(replies[0], stats, expect=None)
    finally:
        await connection.aclose()


async def sweep_worker(run: Run, service_indices: Sequence[int], period: float, deadline: float) -> None:
    """List each service with ``healthyOnly=false`` once per ``period``; note instances that are
    ``healthy:false`` or missing although their registration was acknowledged."""
    plan = run.plan
    connection = Connection(plan.host, plan.port, plan.user_agent, plan.timeout_s, run.watchdog)
    stats = run.op("sweep")
    members: dict[int, list[int]] = {s: [] for s in service_indices}
    for index in range(plan.instances):
        if index % plan.services in members:
            members[index % plan.services].append(index)
    spacing = period / max(1, len(service_indices))
    next_at = trio.current_time()
    try:
        while True:
            for service_index in service_indices:
                if next_at >= deadline:
                    return
                await trio.sleep_until(next_at)
                next_at += spacing
                target = plan.list_target(service_index)
                replies = await send(connection, [connection.encode("GET", target)], stats, deadline)
                if not replies or not check_ok(replies[0], stats, expect=None):
                    continue
                hosts = json.loads(replies[0].body).get("hosts", [])
                seen: dict[tuple[str, int], bool] = {(h["ip"], h["port"]): h["healthy"] for h in hosts}
                for index in members[service_index]:
                    if not run.registered[index]:
                        continue
                    healthy = seen.get((plan.ip(index), plan.instance_port(index)))
                    if healthy is None:
                        run.missing.add(index)
                    elif not healthy:
                        run.unhealthy.add(index)
                        run.unhealthy_observations += 1
    finally:
        await connection.aclose()


def split(items: Sequence[int], parts: int) -> list[list[int]]:
    """``items`` dealt round-robin into ``parts`` lists (so each part's beats spread over the period)."""
    return [list(items[k::parts]) for k in range(parts)]


async def run_workers(workers: Sequence[Callable[[], Awaitable[None]]]) -> None:
    async with trio.open_nursery() as nursery:
        for worker in workers:
            nursery.start_soon(worker)


# --- modes -----------------------------------------------------------------------------------------------


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, value: Any, text: str) -> None:
        self.values[key] = value
        self.lines.append(text)


def phase_rows(run: Run, names: Sequence[str], seconds: float) -> list[dict[str, Any]]:
    return [
        run.stats[name].summary(seconds)
        for name in names
        if name in run.stats and (run.stats[name].latencies or run.stats[name].errors)
    ]


async def scenario(run: Run, args: argparse.Namespace, report: Report) -> None:
    """Register and beat N instances, list at a rate, sweep for unhealthy ones; then report."""
    plan = run.plan
    pid = args.pid
    rss_before = rss_kib(pid) if pid else None
    started = trio.current_time()
    register_seconds = math.nan
    steady: dict[str, float] = {}
    clients = trio.CancelScope()  # the registering-and-beating workers: cancelled at the end

    async def driver(nursery: trio.Nursery) -> None:
        nonlocal register_seconds
        with trio.move_on_after(args.register_timeout):
            await run.all_registered.wait()
        register_seconds = trio.current_time() - started
        if not run.all_registered.is_set():
            report.add(
                "registration_incomplete",
                run.registered_count,
                f"registration did not finish within {args.register_timeout} s: "
                f"{run.registered_count}/{plan.instances}",
            )
        if pid:
            rss_after = rss_kib(pid)
            report.values["rss_after_register_kib"] = rss_after
            if rss_before is not None and run.registered_count:
                per = (rss_after - rss_before) * 1024 / run.registered_count
                report.add(
                    "rss_bytes_per_instance",
                    per,
                    f"server RSS: {rss_before / 1024:.1f} MiB before, {rss_after / 1024:.1f} MiB after "
                    f"registering {run.registered_count} instances -> {per:.0f} bytes per instance",
                )
        # Warm-up: let every instance send its first (full) beat and the generator drain the backlog
        # that registering built up; then the steady phase starts and is measured.
        await trio.sleep(args.beat_interval if args.warmup is None else args.warmup)
        for stats in run.stats.values():  # registration-phase beats are not steady-state figures
            stats.latencies = array("d")
            stats.errors = 0
            stats.error_samples = {}
        run.beat_lag = array("d")
        steady_start = trio.current_time()
        steady_end = steady_start + args.seconds
        steady["start"] = steady_start
        steady["cpu"] = cpu_seconds(pid) if pid else math.nan
        steady["own_cpu"] = own_cpu_seconds()
        if args.list_rate > 0:
            per_worker = args.list_rate / args.list_connections
            for k in range(args.list_connections):
                nursery.start_soon(list_worker, run, per_worker, steady_end, args.seed + k)
        if args.sweep_period > 0:
            for chunk in split(range(plan.services), args.sweep_connections):
                nursery.start_soon(sweep_worker, run, chunk, args.sweep_period, steady_end)
        await trio.sleep_until(steady_end)
        clients.cancel()
        steady["end"] = trio.current_time()
        steady["cpu_end"] = cpu_seconds(pid) if pid else math.nan
        steady["own_cpu_end"] = own_cpu_seconds()

    async def client_workers() -> None:
        with clients:
            async with trio.open_nursery() as inner:
                for indices in split(range(plan.instances), args.connections):
                    inner.start_soon(
                        register_worker, run, indices, args.pipeline, math.inf, args.beat_interval
                    )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(driver, nursery)
        nursery.start_soon(client_workers)

    seconds = steady["end"] - steady["start"]
    report.add(
        "register_seconds",
        register_seconds,
        f"registered {run.registered_count} in {register_seconds:.1f} s "
        f"({run.registered_count / register_seconds:.0f}/s, beating meanwhile)",
    )
    rows = phase_rows(run, ("beat", "beat_full", "register", "list", "sweep"), seconds)
    report.values["ops"] = rows
    beats = sum(row["ok"] + row["errors"] for row in rows if row["op"] in ("beat", "beat_full"))
    target = plan.instances / args.beat_interval
    lag = sorted(run.beat_lag)
    lag_p99 = lag[min(len(lag) - 1, math.ceil(0.99 * len(lag)) - 1)] * 1000 if lag else math.nan
    report.add(
        "beat_rate",
        beats / seconds,
        f"steady phase {seconds:.1f} s: {beats / seconds:.0f} beats/s sent (target {target:.0f}); "
        f"generator schedule lag p99 {lag_p99:.1f} ms, max {(lag[-1] * 1000 if lag else math.nan):.1f} ms",
    )
    report.add(
        "unhealthy_instances",
        len(run.unhealthy),
        f"instances seen healthy:false {len(run.unhealthy)} ({run.unhealthy_observations} observations); "
        f"missing from the list {len(run.missing)}; light beats answered 20404 {run.beats_not_found}",
    )
    report.values["missing_instances"] = len(run.missing)
    _cpu_lines(report, steady, rows)
    print_table(rows)


def _cpu_lines(report: Report, steady: dict[str, float], rows: Sequence[dict[str, Any]]) -> None:
    seconds = steady["end"] - steady["start"]
    requests = sum(row["ok"] + row["errors"] for row in rows)
    own = steady["own_cpu_end"] - steady["own_cpu"]
    report.add("generator_cpu", own / seconds, f"load generator CPU {100 * own / seconds:.0f} % of a core")
    if not math.isnan(steady["cpu"]):
        server = steady["cpu_end"] - steady["cpu"]
        per_request = server / requests * 1e6 if requests else math.nan
        report.add(
            "server_cpu_us_per_request",
            per_request,
            f"server CPU {100 * server / seconds:.0f} % of a core, {per_request:.1f} µs per request",
        )


async def register_mode(run: Run, args: argparse.Namespace, report: Report) -> None:
    """Registrations per second (then deregistrations with ``--deregister``)."""
    plan = run.plan
    pid = args.pid
    rss_before = rss_kib(pid) if pid else None
    cpu_before = cpu_seconds(pid) if pid else math.nan
    own_before = own_cpu_seconds()
    started = trio.current_time()
    deadline = started + args.register_timeout
    async with trio.open_nursery() as nursery:
        for indices in split(range(plan.instances), args.connections):
            nursery.start_soon(register_worker, run, indices, args.pipeline, deadline, None)
    seconds = trio.current_time() - started
    rows = phase_rows(run, ("register",), seconds)
    steady = {
        "start": started,
        "end": started + seconds,
        "cpu": cpu_before,
        "cpu_end": cpu_seconds(pid) if pid else math.nan,
        "own_cpu": own_before,
        "own_cpu_end": own_cpu_seconds(),
    }
    if pid and rss_before is not None and run.registered_count:
        rss_after = rss_kib(pid)
        per = (rss_after - rss_before) * 1024 / run.registered_count
        report.add(
            "rss_bytes_per_instance",
            per,
            f"server RSS: {rss_before / 1024:.1f} MiB before, {rss_after / 1024:.1f} MiB after -> "
            f"{per:.0f} bytes per instance",
        )
    report.add(
        "registrations_per_s",
        rows[0]["per_s"] if rows else 0.0,
        f"{run.registered_count} registrations in {seconds:.2f} s",
    )
    _cpu_lines(report, steady, rows)
    if args.deregister:
        started = trio.current_time()
        registered = [i for i in range(plan.instances) if run.registered[i]]
        async with trio.open_nursery() as nursery:
            for indices in split(registered, args.connections):
                nursery.start_soon(
                    deregister_worker, run, indices, args.pipeline, deadline + args.register_timeout
                )
        rows += phase_rows(run, ("deregister",), trio.current_time() - started)
    report.values["ops"] = rows
    print_table(rows)


async def list_mode(run: Run, args: argparse.Namespace, report: Report) -> None:
    """Register N instances (no beats), then list as fast as ``--list-connections`` workers can."""
    plan = run.plan
    if not args.no_register:
        deadline = trio.current_time() + args.register_timeout
        async with trio.open_nursery() as nursery:
            for indices in split(range(plan.instances), args.connections):
                nursery.start_soon(register_worker, run, indices, args.pipeline, deadline, None)
        report.add("registered", run.registered_count, f"registered {run.registered_count} instances")
    pid = args.pid
    started = trio.current_time()
    steady = {
        "start": started,
        "cpu": cpu_seconds(pid) if pid else math.nan,
        "own_cpu": own_cpu_seconds(),
    }
    end = started + args.seconds
    rate = args.list_rate / args.list_connections if args.list_rate > 0 else 0.0
    async with trio.open_nursery() as nursery:
        for k in range(args.list_connections):
            nursery.start_soon(list_worker, run, rate, end, args.seed + k)
    steady["end"] = trio.current_time()
    steady["cpu_end"] = cpu_seconds(pid) if pid else math.nan
    steady["own_cpu_end"] = own_cpu_seconds()
    rows = phase_rows(run, ("list",), steady["end"] - started)
    report.values["ops"] = rows
    _cpu_lines(report, steady, rows)
    print_table(rows)


# --- command line ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("scenario", "register", "list"))
    parser.add_argument("--url", default="http://127.0.0.1:8848", help="server base URL")
    parser.add_argument("--pid", type=int, default=0, help="server pid, for RSS and CPU (/proc)")
    parser.add_argument("--instances", "-n", type=int, default=1_000, help="N instances")
    parser.add_argument("--services", "-s", type=int, default=10, help="S services they spread over")
    parser.add_argument("--connections", "-c", type=int, default=64, help="register/beat connections")
    parser.add_argument("--beat-interval", type=float, default=5.0, help="seconds between beats (R = N/this)")
    parser.add_argument(
        "--no-spread",
        dest="spread",
        action="store_false",
        help="first beat exactly one interval after registering (bursty, as after a mass restart); "
        "default: at a random point of the first interval (an even beat rate)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="steady-phase (or list) duration")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="scenario: seconds between the last registration and the measured steady phase "
        "(default: one beat interval)",
    )
    parser.add_argument("--register-timeout", type=float, default=300.0, help="bound on the register phase")
    parser.add_argument(
        "--list-rate", type=float, default=0.0, help="lists per second (0: none; list mode: max)"
    )
    parser.add_argument("--list-connections", type=int, default=8)
    parser.add_argument(
        "--sweep-period", type=float, default=5.0, help="seconds per full health sweep (0: off)"
    )
    parser.add_argument("--sweep-connections", type=int, default=2)
    parser.add_argument("--pipeline", type=int, default=1, help="requests per write (1: no pipelining)")
    parser.add_argument("--deregister", action="store_true", help="register mode: also time deregistrations")
    parser.add_argument("--no-register", action="store_true", help="list mode: instances already exist")
    parser.add_argument(
        "--persistent",
        action="store_true",
        help="list mode: register persistent instances (the server health-checks them)",
    )
    parser.add_argument(
        "--target-port",
        type=int,
        default=0,
        help="with --persistent: instances are 127.0.0.1:<this + index // services> (0: 127.x.y.z:8000+)",
    )
    parser.add_argument("--namespace", default="public")
    parser.add_argument("--group", default="DEFAULT_GROUP")
    parser.add_argument("--cluster", default="DEFAULT")
    parser.add_argument("--prefix", default="bench", help="service names are <prefix>-<k>")
    parser.add_argument("--metadata-keys", type=int, default=2, help="metadata entries per instance")
    parser.add_argument("--user-agent", default=DEFAULT_USER_AGENT)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", dest="json_path", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    for name in ("instances", "services", "connections", "list_connections", "sweep_connections", "pipeline"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.beat_interval <= 0 or args.seconds <= 0 or args.timeout <= 0:
        parser.error("--beat-interval, --seconds and --timeout must be positive")
    return args


def build_run(args: argparse.Namespace) -> Run:
    url = urllib.parse.urlsplit(args.url)
    if url.scheme != "http" or not url.hostname:
        raise SystemExit(f"--url must be http://host:port, got {args.url}")
    metadata = {f"key{k}": f"value-{k}" for k in range(args.metadata_keys)}
    plan = Plan(
        host=url.hostname,
        port=url.port or 80,
        namespace=args.namespace,
        group=args.group,
        cluster=args.cluster,
        prefix=args.prefix,
        instances=args.instances,
        services=min(args.services, args.instances),
        metadata=json.dumps(metadata, separators=(",", ":")),
        user_agent=args.user_agent,
        timeout_s=args.timeout,
        persistent=args.persistent,
        target_port=args.target_port if args.persistent else 0,
    )
    return Run(plan=plan, stats={}, registered=bytearray(args.instances))


async def amain(args: argparse.Namespace) -> Report:
    run = build_run(args)
    report = Report()
    mode: Callable[[Run, argparse.Namespace, Report], Awaitable[None]] = {
        "scenario": scenario,
        "register": register_mode,
        "list": list_mode,
    }[args.mode]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run.watchdog.run)
        await mode(run, args, report)
        nursery.cancel_scope.cancel()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"# {' '.join(sys.argv)}")
    report = trio.run(amain, args)
    for line in report.lines:
        print(line)
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as handle:
            json.dump(report.values, handle, indent=2, default=str)
    failed = any(row["errors"] for row in report.values.get("ops", ()))
    failed = (
        failed
        or bool(report.values.get("unhealthy_instances"))
        or bool(report.values.get("missing_instances"))
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
