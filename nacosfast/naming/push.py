"""UDP push, sans-I/O: subscribers, coalescing, packets, acks, retries (compatibility.md §7).

``PushHub`` holds the subscriber table and the push/ack state machine. It never touches a socket or
a clock: callers pass ``now_ms`` (the monotonic clock, in ms) and the Trio shell
(``nacosfast.server.udp``) sends the ``Datagram`` effects that :meth:`PushHub.poll` returns and feeds
acks back through :meth:`PushHub.on_ack`.

How a change reaches a client:

1. ``instance/list`` with ``udpPort > 0`` calls :meth:`PushHub.subscribe`, which adds or refreshes the
   subscriber ``clientIP:udpPort`` of (namespace, service, clusters, agent). Packets go to ``udpPort``
   at the address the list request came from (``peer_ip``); ``clientIP`` names the subscriber but does
   not aim packets, so nobody can point pushes at a third party — unless ``push_to_client_ip`` is set
   (Nacos's behaviour, for clients behind address-rewriting proxies). A subscriber that has not
   polled for more than ``zombie_ms`` (10 s, strict ``>``) is a zombie: skipped and later swept.
2. A write calls :meth:`PushHub.service_changed`, which only marks the service dirty (O(1)).
3. ``coalesce_ms`` later, :meth:`PushHub.poll` renders the list for every live subscriber and emits one
   packet each: ``{"type":"dom","data":"<list JSON as a string>","lastRefTime":N}``, gzipped whole at
   ≥ 1024 bytes. ``N`` is a per-server sequence below 2**53. Subscribers whose rendered list is the
   same share one encoded (and compressed) packet and one ``N``; acks are matched on
   (source ip, source port, ``N``), so each (address, ``N``) still names exactly one packet.
4. An ack from the address pushed to settles the packet. Otherwise it is resent every ``retry_ms``
   and abandoned ``give_up_ms`` after its first send (Nacos: resend at 10 s, give up at 20 s). A newer
   change supersedes a pending older packet to the same subscriber.
5. Optionally (``repeat_ms`` > 0) the latest state is re-sent periodically to subscribers whose last
   packet was not acked.

Work is bounded: at most one pending packet per subscriber, a bounded table of subscribers and of
dirty services (overflow drops the oldest dirty service and counts it; clients still poll), and
:meth:`PushHub.poll` does at most ``budget`` units of work per call.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import json
import logging
import re
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from nacosfast.limits import (
    PUSH_BATCH,
    PUSH_CACHE_MILLIS,
    PUSH_COALESCE_MS,
    PUSH_GIVE_UP_MS,
    PUSH_GZIP_LEVEL,
    PUSH_GZIP_MIN_BYTES,
    PUSH_MAX_ACK_BYTES,
    PUSH_MAX_DATAGRAM_BYTES,
    PUSH_MAX_DIRTY_SERVICES,
    PUSH_MAX_FIELD_LENGTH,
    PUSH_MAX_SUBSCRIBERS,
    PUSH_REPEAT_MS,
    PUSH_RETRY_MS,
    PUSH_SEQ_LIMIT,
    PUSH_STATE_DETAIL_MAX,
    PUSH_ZOMBIE_SWEEP_MS,
)
from nacosfast.naming.names import DEFAULT_GROUP, GROUP_SEPARATOR

__all__ = [
    "Datagram",
    "PushConfig",
    "PushHub",
    "Render",
    "Subscriber",
    "decode_packet",
    "encode_packet",
    "parse_ack",
]

log = logging.getLogger("nacosfast.push")

Render = Callable[[str, str, str, str, str], bytes]
"""``render(namespace, service, clusters, agent, client_ip) -> bytes``: the ``instance/list`` JSON body
for one subscriber (``cacheMillis`` 10000). Called from :meth:`PushHub.poll`, never from a request."""

_GZIP_MAGIC: Final = b"\x1f\x8b"
_GZIP_WBITS: Final = 31  # zlib: gzip header and trailer
_PACKET_HEAD: Final = b'{"type":"dom","data":'
_PACKET_SEQ: Final = b',"lastRefTime":'
_LOOPBACK: Final = "127.0.0.1"
# The acks real clients send, Java {"type": "push-ack", "lastRefTime":"N", "data":""} and Node
# {"type":"push-ack","lastRefTime":N,"data":""}, parsed without the JSON decoder (4x faster).
_FAST_ACK: Final = re.compile(
    rb'[ \t\r\n]*\{[ \t\r\n]*"type"[ \t\r\n]*:[ \t\r\n]*"[a-z-]{0,16}"[ \t\r\n]*,'
    rb'[ \t\r\n]*"lastRefTime"[ \t\r\n]*:[ \t\r\n]*(?:"([0-9]{1,16})"|([1-9][0-9]{0,15}))[ \t\r\n]*,'
    rb'[ \t\r\n]*"data"[ \t\r\n]*:[ \t\r\n]*""[ \t\r\n]*\}[ \t\r\n]*'
)


class Datagram(NamedTuple):
    """One UDP packet to send: ``sock.sendto(payload, addr)``. ``seq`` identifies it to the hub."""

    payload: bytes
    addr: tuple[str, int]
    seq: int


@dataclass(frozen=True, slots=True)
class PushConfig:
    """Push timing and bounds; every default is a named constant in ``nacosfast.limits``."""

    coalesce_ms: int = PUSH_COALESCE_MS
    retry_ms: int = PUSH_RETRY_MS
    """Resend period of an unacked packet; 0 = never resend (one send, then wait for ``give_up_ms``)."""
    give_up_ms: int = PUSH_GIVE_UP_MS
    repeat_ms: int = PUSH_REPEAT_MS
    """Periodic re-push to subscribers whose last packet went unacked; 0 = off (Nacos)."""
    zombie_ms: int = PUSH_CACHE_MILLIS
    sweep_ms: int = PUSH_ZOMBIE_SWEEP_MS
    gzip_min_bytes: int = PUSH_GZIP_MIN_BYTES
    max_datagram_bytes: int = PUSH_MAX_DATAGRAM_BYTES
    max_subscribers: int = PUSH_MAX_SUBSCRIBERS
    max_dirty_services: int = PUSH_MAX_DIRTY_SERVICES
    max_field_length: int = PUSH_MAX_FIELD_LENGTH
    first_seq: int = 1
    push_to_client_ip: bool = False
    """Send packets to the ``clientIP`` a subscriber names (Nacos) instead of the address its list
    request came from. Lets anyone who can list aim pushes at any host: only behind a trusted proxy."""

    def __post_init__(self) -> None:
        for name in ("coalesce_ms", "retry_ms", "repeat_ms", "zombie_ms", "gzip_min_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"push {name} must not be negative")
        for name in ("give_up_ms", "sweep_ms", "max_datagram_bytes", "max_subscribers"):
            if getattr(self, name) <= 0:
                raise ValueError(f"push {name} must be positive")
        if self.max_dirty_services <= 0 or self.max_field_length <= 0:
            raise ValueError("push bounds must be positive")
        if not 0 < self.first_seq < PUSH_SEQ_LIMIT:
            raise ValueError(f"push first_seq must be within 1..{PUSH_SEQ_LIMIT - 1}")


class Subscriber:
    """One push subscriber ``ip:port`` of (namespace, service, clusters, agent); its packets go to
    ``addr`` (``target:port``; the target is ``ip`` unless the subscription came from elsewhere)."""

    __slots__ = (
        "addr",
        "agent",
        "alive",
        "app",
        "clusters",
        "ip",
        "key",
        "last_ref_ms",
        "namespace",
        "packet",
        "port",
        "service",
        "tenant",
    )

    def __init__(
        self,
        namespace: str,
        service: str,
        clusters: str,
        ip: str,
        port: int,
        agent: str,
        app: str,
        tenant: str,
        now_ms: int,
        key: tuple[str, str, int, str, str],
        target: str = "",
    ) -> None:
        self.namespace = namespace
        self.service = service
        self.clusters = clusters
        self.ip = ip
        self.port = port
        self.addr = (target or ip, port)
        self.agent = agent
        self.app = app
        self.tenant = tenant
        self.last_ref_ms = now_ms
        self.key = key
        self.alive = True
        self.packet: _Packet | None = None

    @property
    def addr_str(self) -> str:
        """``ip:port`` as Nacos shows it."""
        return f"{self.ip}:{self.port}"

    def to_json(self) -> dict[str, str]:
        """The Nacos ``Subscriber`` object of ``/service/subscribers``."""
        return {
            "addrStr": self.addr_str,
            "agent": self.agent,
            "app": self.app,
            "ip": self.ip,
            "namespaceId": self.namespace,
            "serviceName": self.service,
        }

    def __repr__(self) -> str:
        where = f"{self.namespace}##{self.service} {self.clusters!r}"
        return f"Subscriber({where} {self.addr_str} {self.agent!r})"


class _Packet:
    """A sent packet waiting for its ack."""

    __slots__ = ("due_ms", "first_ms", "key", "last_sent_ms", "live", "payload", "seq", "sub")

    def __init__(self, sub: Subscriber, seq: int, payload: bytes, now_ms: int) -> None:
        self.sub = sub
        self.seq = seq
        self.payload = payload
        self.key = (sub.addr[0], sub.port, seq)
        self.first_ms = now_ms
        self.last_sent_ms = now_ms
        self.due_ms = now_ms
        self.live = True


class _Job:
    """Subscribers to (re)render and push, worked through in bounded steps."""

    __slots__ = ("groups", "index", "label", "subs")

    def __init__(self, label: str, subs: list[Subscriber]) -> None:
        self.label = label
        self.subs = subs
        self.index = 0
        # body → (seq, payload or None when too large, addresses already given this seq)
        self.groups: dict[bytes, tuple[int, bytes | None, set[tuple[str, int]]]] = {}


def encode_packet(body: bytes, seq: int, gzip_min_bytes: int = PUSH_GZIP_MIN_BYTES) -> bytes:
    """The Nacos push packet for one ``instance/list`` body: ``data`` is that JSON as a JSON string.

    Raises ``UnicodeDecodeError`` if ``body`` is not UTF-8.
    """
    data = json.dumps(body.decode("utf-8"), ensure_ascii=False).encode("utf-8")
    raw = b"".join((_PACKET_HEAD, data, _PACKET_SEQ, str(seq).encode("ascii"), b"}"))
    if len(raw) >= gzip_min_bytes:
        return zlib.compress(raw, PUSH_GZIP_LEVEL, _GZIP_WBITS)
    return raw


def decode_packet(payload: bytes, max_bytes: int = 16 * PUSH_MAX_DATAGRAM_BYTES) -> bytes:
    """A packet's JSON text: gunzipped when it starts with the gzip magic (``IoUtils.tryDecompress``).

    Raises ``ValueError`` for a broken or oversized gzip stream.
    """
    if not payload.startswith(_GZIP_MAGIC):
        return payload
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        text = inflater.decompress(payload, max_bytes)
    except zlib.error as error:
        raise ValueError(f"bad gzip packet: {error}") from error
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError("gzip packet too large or truncated")
    return text


def parse_ack(datagram: bytes) -> int | None:
    """The sequence number an ack settles, or ``None`` if this is not an ack.

    Java acks ``{"type":"push-ack","lastRefTime":"<N>","data":""}`` (a string), Node sends the same
    with a JSON number. Like Nacos, any ``type`` is accepted (``unknown-ack`` also proves receipt).
    """
    if len(datagram) > PUSH_MAX_ACK_BYTES:
        return None
    fast = _FAST_ACK.fullmatch(datagram)
    if fast is not None:
        seq = int(fast[1] or fast[2])
        return seq if 0 < seq < PUSH_SEQ_LIMIT else None
    try:
        message = json.loads(decode_packet(datagram, PUSH_MAX_ACK_BYTES))
    except (ValueError, RecursionError):  # bad JSON/UTF-8/gzip are ValueErrors; deep nesting recurses
        return None
    if not isinstance(message, dict):
        return None
    value = message.get("lastRefTime")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        seq = value
    elif isinstance(value, float):
        if not value.is_integer():
            return None
        seq = int(value)
    elif isinstance(value, str) and value.isascii() and value.strip().isdigit():
        seq = int(value)
    else:
        return None
    return seq if 0 < seq < PUSH_SEQ_LIMIT else None


def _normalize_ip(client_ip: str) -> str | None:
    """The push target as an IP literal (IPv4-mapped IPv6 as IPv4); ``None`` for host names.

    A blank ``clientIP`` means loopback (Nacos resolves the empty host). Host names are refused:
    resolving them would block, and Nacos acks are matched on the resolved address anyway.
    """
    text = client_ip.strip()
    if not text:
        return _LOOPBACK
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return None
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
    return str(address)


class PushHub:
    """Subscriber table and push/ack state machine. See the module docstring."""

    def __init__(self, render: Render, config: PushConfig | None = None) -> None:
        self._render = render
        self.config = config or PushConfig()
        self._services: dict[tuple[str, str], dict[tuple[str, str, int, str, str], Subscriber]] = {}
        # Every subscriber, oldest poll first: zombies are swept from the front in O(swept).
        self._by_age: OrderedDict[Subscriber, None] = OrderedDict()
        # Dirty services → when to push. The window is constant, so insertion order is due order.
        self._dirty: dict[tuple[str, str], int] = {}
        self._acks: dict[tuple[str, int, int], _Packet] = {}
        self._timers: list[tuple[int, int, _Packet]] = []
        self._timer_ids = itertools.count()
        self._stale_timers = 0
        # With ``repeat_ms`` > 0: subscribers whose last packet was not acked → when it failed. The
        # period is constant, so insertion order is re-push order.
        self._unacked: OrderedDict[Subscriber, int] = OrderedDict()
        self._job: _Job | None = None
        self._seq = self.config.first_seq
        self._started = False
        self._next_sweep_ms: int | None = None
        self._wakeup: Callable[[], None] | None = None
        self._stats: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._rtt_sum_ms = 0
        self._rtt_max_ms = 0

    # --- the application's side ---------------------------------------------------------------------

    def subscribe(
        self,
        namespace: str,
        service: str,
        clusters: str,
        client_ip: str,
        udp_port: int,
        agent: str,
        app: str,
        tenant: str,
        now_ms: int,
        *,
        peer_ip: str,
    ) -> None:
        """Add or refresh the subscriber ``client_ip:udp_port`` (from ``instance/list``, O(1)).

        ``peer_ip`` is the address the list request came from: packets go there (to ``udp_port``),
        or to ``client_ip`` when ``config.push_to_client_ip`` is set. Refused (counted in
        ``subscribe_rejected``, the client simply polls) for a port outside 1..65535, a host name
        instead of an IP, over-long fields, or a full table.
        """
        aimed = self.config.push_to_client_ip
        key = (clusters, client_ip, udp_port, agent, "" if aimed else peer_ip)
        subs = self._services.get((namespace, service))
        if subs is not None:
            sub = subs.get(key)
            if sub is not None:
                sub.last_ref_ms = now_ms
                sub.app = app
                sub.tenant = tenant
                self._by_age.move_to_end(sub)
                return
        self._first_use(now_ms)
        limit = self.config.max_field_length
        ip = _normalize_ip(client_ip) if 0 < udp_port <= 65535 else None
        target = ip if aimed else _normalize_ip(peer_ip)
        if ip is None or target is None or max(len(clusters), len(agent), len(app), len(tenant)) > limit:
            self._stats["subscribe_rejected"] += 1
            log.debug("push: refused subscriber %r:%r for %s##%s", client_ip, udp_port, namespace, service)
            return
        if len(self._by_age) >= self.config.max_subscribers:
            self._sweep(now_ms)
            if len(self._by_age) >= self.config.max_subscribers:
                self._stats["subscribe_rejected"] += 1
                log.debug("push: subscriber table full, refused %s:%d", ip, udp_port)
                return
            subs = self._services.get((namespace, service))  # the sweep may have dropped it
        sub = Subscriber(namespace, service, clusters, ip, udp_port, agent, app, tenant, now_ms, key, target)
        if subs is None:
            subs = self._services[(namespace, service)] = {}
        subs[key] = sub
        was_empty = not self._by_age
        self._by_age[sub] = None
        self._stats["subscribed"] += 1
        log.debug("push: new subscriber %r", sub)
        if was_empty and self._wakeup is not None:
            self._wakeup()  # the zombie sweep now has a deadline

    def service_changed(self, namespace: str, service: str, now_ms: int) -> None:
        """Mark a service's visible instance list as changed: O(1), never blocks, never renders."""
        key = (namespace, service)
        if key not in self._services or key in self._dirty:
            return
        dirty = self._dirty
        if len(dirty) >= self.config.max_dirty_services:
            del dirty[next(iter(dirty))]
            self._stats["dropped"] += 1
        was_idle = not dirty
        dirty[key] = now_ms + self.config.coalesce_ms
        if was_idle and self._wakeup is not None:
            self._wakeup()

    def subscribers(self, namespace: str, service: str) -> list[Subscriber]:
        """The subscribers of one service (zombies included until swept, as Nacos lists them)."""
        subs = self._services.get((namespace, service))
        return list(subs.values()) if subs else []

    def subscribers_fuzzy(self, namespace: str, service: str) -> list[Subscriber]:
        """Nacos ``getClientsFuzzy``: namespace prefix, substring match on name and on group."""
        group, _, name = service.rpartition(GROUP_SEPARATOR)
        group = group or DEFAULT_GROUP
        found: list[Subscriber] = []
        for (space, grouped), subs in self._services.items():
            their_group, _, their_name = grouped.rpartition(GROUP_SEPARATOR)
            their_group = their_group or DEFAULT_GROUP
            if space.startswith(namespace) and name in their_name and group in their_group:
                found.extend(subs.values())
        return found

    @property
    def subscriber_count(self) -> int:
        """Subscribers held now (zombies included until swept)."""
        return len(self._by_age)

    def counters(self) -> dict[str, Any]:
        """Push statistics: Nacos's ``succeed``/``total``/``ratio`` plus ours.

        As in Nacos, ``succeed = total - failed - pending`` (a packet still waiting for its ack counts
        as not yet succeeded) and ``ratio`` is 0 until something was pushed.
        """
        stats = self._stats
        pending = len(self._acks)
        total = stats["total"]
        succeed = total - stats["failed"] - pending
        acked = stats["acked"]
        result: dict[str, Any] = {
            "succeed": succeed,
            "total": total,
            "ratio": succeed / total if total > 0 else 0,
            **stats,
            "pending": pending,
            "subscribers": len(self._by_age),
            "services": len(self._services),
            "dirty": len(self._dirty),
            "unacked_subscribers": len(self._unacked),
            "timers": len(self._timers),
            "ack_rtt_avg_ms": self._rtt_sum_ms / acked if acked else 0,
            "ack_rtt_max_ms": self._rtt_max_ms,
        }
        return result

    def push_state(self, detail: bool = False, reset: bool = False) -> dict[str, Any]:
        """The ``/operator/push/state`` answer.

        ``detail`` lists in-flight packets as text (gunzipped, unlike Nacos, which shows raw bytes).
        ``reset`` zeroes the statistics; unlike Nacos it does not abandon in-flight packets.
        """
        counters = self.counters()
        result: dict[str, Any] = {
            "succeed": counters["succeed"],
            "total": counters["total"],
            "ratio": counters["ratio"],
        }
        if detail:
            data: list[str] = []
            for packet in itertools.islice(self._acks.values(), PUSH_STATE_DETAIL_MAX):
                try:
                    data.append(decode_packet(packet.payload).decode("utf-8"))
                except ValueError:
                    data.append("[encoding failure]")
            result["data"] = data
        if reset:
            self.reset_counters()
        result["reset"] = reset
        return result

    def reset_counters(self) -> None:
        """Zero the statistics. In-flight packets stay in flight (and count again once settled)."""
        self._stats = dict.fromkeys(_COUNTERS, 0)
        self._stats["total"] = len(self._acks)
        self._rtt_sum_ms = 0
        self._rtt_max_ms = 0

    # --- the shell's side ---------------------------------------------------------------------------

    def set_wakeup(self, wakeup: Callable[[], None] | None) -> None:
        """A callable run (synchronously) when work becomes due sooner than the shell expects."""
        self._wakeup = wakeup

    def seed_sequence(self, first_seq: int) -> None:
        """Start packet numbers at ``first_seq`` (the shell picks a random start, so acks for another
        process's packets do not match). Ignored once a packet was sent."""
        if self._stats["total"] == 0 and not self._acks and 0 < first_seq < PUSH_SEQ_LIMIT:
            self._seq = first_seq

    def next_deadline_ms(self, now_ms: int) -> int | None:
        """When :meth:`poll` has work next (``<= now_ms`` means now); ``None`` when idle."""
        if self._job is not None:
            return now_ms
        deadline: int | None = None
        if self._dirty:
            # Clamp: a due time further away than one window can only come from a foreign clock.
            deadline = min(next(iter(self._dirty.values())), now_ms + self.config.coalesce_ms)
        timers = self._timers
        while timers and not timers[0][2].live:
            heapq.heappop(timers)
            self._stale_timers -= 1
        if timers and (deadline is None or timers[0][0] < deadline):
            deadline = timers[0][0]
        for extra in (self._next_sweep_ms if self._by_age else None, self._repeat_deadline()):
            if extra is not None and (deadline is None or extra < deadline):
                deadline = extra
        return deadline

    def poll(self, now_ms: int, budget: int = PUSH_BATCH) -> list[Datagram]:
        """Do up to ``budget`` units of due work; return the datagrams to send now.

        Work is: resends and give-ups that are due, the zombie sweep, the periodic re-push, and
        pushes of dirty services whose coalescing window has passed.
        """
        self._first_use(now_ms)
        out: list[Datagram] = []
        work = self._run_timers(now_ms, out, budget)
        if self._next_sweep_ms is not None and now_ms >= self._next_sweep_ms:
            self._sweep(now_ms)
            self._next_sweep_ms = now_ms + self.config.sweep_ms
        while work < budget:
            job = self._job
            if job is None:
                job = self._job = self._next_job(now_ms)
                if job is None:
                    break
            work += self._run_job(job, now_ms, out, budget - work)
            if job.index >= len(job.subs):
                self._job = None
                log.debug("push: %s done", job.label)
        return out

    def on_ack(self, datagram: bytes, ip: str, port: int, now_ms: int) -> bool:
        """An ack arrived from ``ip:port``; ``True`` if it settled a pending packet.

        Only the address the packet was sent to can settle it; anything else is counted and dropped.
        """
        seq = parse_ack(datagram)
        if seq is None:
            self._stats["acks_invalid"] += 1
            log.debug("push: invalid ack from %s:%d: %r", ip, port, datagram[:200])
            return False
        packet = self._acks.pop((ip, port, seq), None)
        if packet is None:
            self._stats["acks_unmatched"] += 1
            log.debug("push: unmatched ack %d from %s:%d", seq, ip, port)
            return False
        self._settle(packet)
        self._stats["acked"] += 1
        rtt = max(0, now_ms - packet.last_sent_ms)
        self._rtt_sum_ms += rtt
        self._rtt_max_ms = max(self._rtt_max_ms, rtt)
        self._unacked.pop(packet.sub, None)
        return True

    def send_failed(self, datagram: Datagram, now_ms: int, permanent: bool) -> None:
        """The shell could not send ``datagram``. A permanent error (bad address, too large) fails the
        packet now, as Nacos does; a transient one (no buffer space) leaves it to the retry timer."""
        self._stats["send_errors"] += 1
        if not permanent:
            return
        packet = self._acks.pop((datagram.addr[0], datagram.addr[1], datagram.seq), None)
        if packet is not None:
            self._fail(packet, now_ms)
            log.debug("push: send to %s:%d failed at %d", datagram.addr[0], datagram.addr[1], now_ms)

    # --- internals ----------------------------------------------------------------------------------

    def _first_use(self, now_ms: int) -> None:
        if not self._started:
            self._started = True
            self._next_sweep_ms = now_ms + self.config.sweep_ms

    def _repeat_deadline(self) -> int | None:
        if not self._unacked:
            return None
        return next(iter(self._unacked.values())) + self.config.repeat_ms

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = seq + 1 if seq + 1 < PUSH_SEQ_LIMIT else 1
        return seq

    def _next_job(self, now_ms: int) -> _Job | None:
        unacked = self._unacked
        if unacked:
            cutoff = now_ms - self.config.repeat_ms
            zombie_ms = self.config.zombie_ms
            subs: list[Subscriber] = []
            while unacked:
                sub, failed_ms = next(iter(unacked.items()))
                if failed_ms > cutoff:
                    break
                del unacked[sub]
                if now_ms - sub.last_ref_ms <= zombie_ms:
                    subs.append(sub)
            if subs:
                self._stats["repushed"] += len(subs)
                return _Job("re-push", subs)
        dirty = self._dirty
        while dirty:
            key, due = next(iter(dirty.items()))
            if due > now_ms + self.config.coalesce_ms:
                due = now_ms  # a foreign clock; never let a bogus due time stall the queue
            if due > now_ms:
                return None
            del dirty[key]
            table = self._services.get(key)
            if table:
                return _Job(f"push of {key[0]}##{key[1]}", list(table.values()))
        return None

    def _run_job(self, job: _Job, now_ms: int, out: list[Datagram], budget: int) -> int:
        subs = job.subs
        start = job.index
        end = min(len(subs), start + budget)
        zombie_ms = self.config.zombie_ms
        groups = job.groups
        for index in range(start, end):
            sub = subs[index]
            if not sub.alive:
                continue
            if now_ms - sub.last_ref_ms > zombie_ms:
                self._stats["zombies_skipped"] += 1
                continue
            try:
                body = self._render(sub.namespace, sub.service, sub.clusters, sub.agent, sub.ip)
                group = groups.get(body)
                if group is None or sub.addr in group[2]:
                    fresh = self._encode(body)
                    if group is None:
                        groups[body] = fresh
                    group = fresh
            except Exception:
                self._stats["render_errors"] += 1
                if self._stats["render_errors"] % 1000 == 1:
                    log.exception("push: cannot render %r", sub)
                continue
            seq, payload, addrs = group
            addrs.add(sub.addr)
            self._push(sub, seq, payload, now_ms, out)
        job.index = end
        return max(1, end - start)

    def _encode(self, body: bytes) -> tuple[int, bytes | None, set[tuple[str, int]]]:
        seq = self._next_seq()
        payload = encode_packet(body, seq, self.config.gzip_min_bytes)
        if len(payload) > self.config.max_datagram_bytes:
            log.warning(
                "push: packet of %d bytes exceeds %d; subscribers will poll",
                len(payload),
                self.config.max_datagram_bytes,
            )
            return seq, None, set()
        return seq, payload, set()

    def _push(
        self, sub: Subscriber, seq: int, payload: bytes | None, now_ms: int, out: list[Datagram]
    ) -> None:
        stats = self._stats
        old = sub.packet
        if old is not None:
            del self._acks[old.key]
            self._settle(old)
            stats["superseded"] += 1
        stats["total"] += 1
        self._unacked.pop(sub, None)
        if payload is None:
            stats["oversize"] += 1
            stats["failed"] += 1
            self._mark_unacked(sub, now_ms)
            return
        packet = _Packet(sub, seq, payload, now_ms)
        sub.packet = packet
        self._acks[packet.key] = packet
        self._schedule(packet, now_ms + self._first_wait())
        stats["sent"] += 1
        out.append(Datagram(payload, sub.addr, seq))

    def _first_wait(self) -> int:
        retry, give_up = self.config.retry_ms, self.config.give_up_ms
        return min(retry, give_up) if retry > 0 else give_up

    def _schedule(self, packet: _Packet, due_ms: int) -> None:
        packet.due_ms = due_ms
        heapq.heappush(self._timers, (due_ms, next(self._timer_ids), packet))

    def _settle(self, packet: _Packet) -> None:
        """Take a packet out of flight (its timer entry goes stale; the ack key is already gone)."""
        packet.live = False
        if packet.sub.packet is packet:
            packet.sub.packet = None
        self._stale_timers += 1
        # Bound: timer entries ≤ 2 × packets in flight + 1024 (a rebuild costs O(live) per O(live) acks).
        if self._stale_timers > 1024 and self._stale_timers > len(self._acks):
            self._timers = [entry for entry in self._timers if entry[2].live]
            heapq.heapify(self._timers)
            self._stale_timers = 0

    def _fail(self, packet: _Packet, now_ms: int) -> None:
        self._settle(packet)
        self._stats["failed"] += 1
        if packet.sub.alive:
            self._mark_unacked(packet.sub, now_ms)

    def _mark_unacked(self, sub: Subscriber, now_ms: int) -> None:
        if self.config.repeat_ms > 0:
            self._unacked.pop(sub, None)
            self._unacked[sub] = now_ms

    def _run_timers(self, now_ms: int, out: list[Datagram], budget: int) -> int:
        timers = self._timers
        work = 0
        give_up_ms = self.config.give_up_ms
        retry_ms = self.config.retry_ms
        while timers and work < budget and timers[0][0] <= now_ms:
            due, _, packet = heapq.heappop(timers)
            if not packet.live:
                self._stale_timers -= 1
                continue
            work += 1
            deadline = packet.first_ms + give_up_ms
            if due >= deadline:
                del self._acks[packet.key]
                self._fail(packet, now_ms)
                self._stats["gave_up"] += 1
                log.debug("push: gave up on %d to %s", packet.seq, packet.sub.addr_str)
                continue
            packet.last_sent_ms = now_ms
            self._stats["retried"] += 1
            self._stats["sent"] += 1
            out.append(Datagram(packet.payload, packet.sub.addr, packet.seq))
            self._schedule(packet, min(due + retry_ms, deadline))
        return work

    def _sweep(self, now_ms: int) -> None:
        """Remove zombies: subscribers whose last poll is more than ``zombie_ms`` old."""
        by_age = self._by_age
        zombie_ms = self.config.zombie_ms
        swept = 0
        while by_age:
            sub = next(iter(by_age))
            if now_ms - sub.last_ref_ms <= zombie_ms:
                break
            self._remove(sub, now_ms)
            swept += 1
        if swept:
            self._stats["zombies_swept"] += swept
            log.debug("push: swept %d zombie subscribers", swept)

    def _remove(self, sub: Subscriber, now_ms: int) -> None:
        sub.alive = False
        del self._by_age[sub]
        self._unacked.pop(sub, None)
        service_key = (sub.namespace, sub.service)
        subs = self._services[service_key]
        del subs[sub.key]
        if not subs:
            del self._services[service_key]
        packet = sub.packet
        if packet is not None:
            del self._acks[packet.key]
            self._fail(packet, now_ms)

    def debug_sizes(self) -> dict[str, int]:
        """Sizes of every internal table (for soak tests: none of them may grow without bound)."""
        return {
            "subscribers": len(self._by_age),
            "services": len(self._services),
            "dirty": len(self._dirty),
            "acks": len(self._acks),
            "timers": len(self._timers),
            "unacked": len(self._unacked),
            "job": len(self._job.subs) - self._job.index if self._job else 0,
        }


_COUNTERS: Final[tuple[str, ...]] = (
    "total",
    "sent",
    "acked",
    "retried",
    "failed",
    "gave_up",
    "superseded",
    "dropped",
    "oversize",
    "send_errors",
    "render_errors",
    "repushed",
    "subscribed",
    "subscribe_rejected",
    "zombies_skipped",
    "zombies_swept",
    "acks_invalid",
    "acks_unmatched",
)
