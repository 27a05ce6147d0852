"""``AsyncNamingClient``: the SDK's I/O shell on anyio, usable from Trio and asyncio applications.

The decisions live in the sans-I/O modules (``servers``, ``beats``, ``hosts``, ``pushwire``,
``diskcache``); this module owns the sockets, the tasks and the clock. Background tasks run in one
task group opened by ``async with``; leaving it cancels them and closes every socket.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import os
import random
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import anyio
import anyio.abc

from nacosfast.client import api, diskcache
from nacosfast.client.aio.transport import Transport, Unreachable, _unmapped
from nacosfast.client.api import USER_AGENT, InstanceSpec, ServicePage
from nacosfast.client.beats import BeatAction, BeatKey, BeatSchedule
from nacosfast.client.errors import InvalidResponse, NacosClientError, NoInstanceAvailable, NoServerAvailable
from nacosfast.client.hosts import Applied, HostReactor
from nacosfast.client.limits import (
    BEAT_CONCURRENCY,
    ENDPOINT_PATH,
    LISTENER_QUEUE,
    MAX_DATAGRAM_BYTES,
    MAX_SUBSCRIBED_SERVICES,
    POLL_CONCURRENCY,
)
from nacosfast.client.model import (
    DEFAULT_CLUSTER,
    DEFAULT_GROUP,
    DEFAULT_NAMESPACE,
    Instance,
    ServiceChange,
    ServiceInfo,
    cache_key,
    grouped_name,
    join_clusters,
    pick_weighted,
    select,
)
from nacosfast.client.pushwire import SERVICE_TYPES, PushDecodeError, ack_for, decode_push
from nacosfast.client.servers import Address, ServerList, parse_endpoint_answer
from nacosfast.client.timings import ClientTimings

log = logging.getLogger("nacosfast.client")

Listener = Callable[[ServiceChange], Awaitable[None] | None]
"""Called with every change of a subscribed service; a coroutine function is awaited. Listeners run
one at a time in the client's event loop: hand slow work to your own task or queue."""


def default_cache_dir(namespace: str) -> Path:
    """``~/nacos/naming/<namespace>``, where the Java client keeps its cache."""
    return Path.home() / "nacos" / "naming" / namespace


class _Wakeup:
    """A level-triggered wake-up for one loop: ``set`` from anywhere, ``wait`` until set or a deadline."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout_s: float | None) -> None:
        with anyio.move_on_after(timeout_s):
            await self._event.wait()
        if self._event.is_set():
            self._event = anyio.Event()


class AsyncNamingClient:
    """A Nacos 1.x naming client (v1 HTTP API, UDP push, beats, disk cache, failover).

    Use as ``async with AsyncNamingClient("10.0.0.1:8848,10.0.0.2:8848") as client: ...``.

    ``server_addresses``: comma-separated ``host[:port]`` (port 8848 by default). ``endpoint``: an
    address server ``host[:port]`` answering ``/nacos/serverlist``, asked every 30 s. ``cache_dir``:
    where the disk cache and failover files live (default ``~/nacos/naming/<namespace>``);
    ``disk_cache=False`` turns both off. ``push``: open a UDP port and ask the servers to push
    changes (``push_host``/``push_port`` choose where it binds).
    """

    def __init__(
        self,
        server_addresses: str = "",
        *,
        namespace: str = DEFAULT_NAMESPACE,
        endpoint: str = "",
        cache_dir: str | os.PathLike[str] | None = None,
        disk_cache: bool = True,
        load_cache_at_start: bool = True,
        push: bool = True,
        push_host: str = "0.0.0.0",
        push_port: int = 0,
        user_agent: str = USER_AGENT,
        timings: ClientTimings | None = None,
        max_services: int = MAX_SUBSCRIBED_SERVICES,
        rng: random.Random | None = None,
    ) -> None:
        self.namespace = namespace or DEFAULT_NAMESPACE
        self.timings = timings or ClientTimings()
        self._rng = rng or random.Random()
        self.servers = ServerList.from_text(server_addresses, endpoint, rng=self._rng)
        self.servers.refresh_ms = self.timings.endpoint_refresh_ms
        self._transport = Transport(
            self.servers,
            user_agent,
            connect_timeout_ms=self.timings.connect_timeout_ms,
            request_timeout_ms=self.timings.request_timeout_ms,
            on_recovered=self._server_recovered,
        )
        self.cache_dir: Path | None = None
        if disk_cache:
            self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(self.namespace)
        self._load_cache_at_start = load_cache_at_start
        self._push_enabled = push
        self._push_host = push_host
        self._push_port = push_port
        self._beats = BeatSchedule(default_interval_ms=self.timings.beat_interval_ms)
        self._hosts = HostReactor(
            retry_base_ms=self.timings.refresh_retry_base_ms,
            max_backoff_ms=self.timings.refresh_max_backoff_ms,
            max_services=max_services,
        )
        self._listeners: dict[str, list[Listener]] = {}
        self._events: deque[tuple[Listener, ServiceChange]] = deque(maxlen=LISTENER_QUEUE)
        self._waiters: dict[str, anyio.Event] = {}
        self._poll_errors: dict[str, str] = {}
        self._udp: anyio.abc.UDPSocket | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._closed = False
        self._poll_limiter: anyio.CapacityLimiter | None = None
        self._beat_limiter: anyio.CapacityLimiter | None = None
        self._beat_wakeup: _Wakeup | None = None
        self._poll_wakeup: _Wakeup | None = None
        self._event_wakeup: _Wakeup | None = None
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "polls",
                "poll_failures",
                "pushes_received",
                "pushes_applied",
                "pushes_acked",
                "pushes_rejected",
                "pushes_invalid",
                "beats",
                "beat_failures",
                "reregistered",
                "disk_writes",
                "disk_errors",
                "backups",
                "listener_errors",
                "events_dropped",
            ),
            0,
        )

    # --- lifecycle ------------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise RuntimeError("the client is already running")
        if self._closed:
            raise RuntimeError("a closed client cannot be reopened: create a new one")
        self._beat_wakeup, self._poll_wakeup, self._event_wakeup = _Wakeup(), _Wakeup(), _Wakeup()
        self._poll_limiter = anyio.CapacityLimiter(POLL_CONCURRENCY)
        self._beat_limiter = anyio.CapacityLimiter(BEAT_CONCURRENCY)
        if self.cache_dir is not None and self._load_cache_at_start:
            loaded = self._hosts.load(diskcache.load_dir(self.cache_dir, self._hosts.max_services))
            log.debug("loaded %d services from the disk cache %s", loaded, self.cache_dir)
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            if self._push_enabled:
                self._udp = await anyio.create_udp_socket(
                    local_host=self._push_host, local_port=self._push_port
                )
                task_group.start_soon(self._push_loop, self._udp)
            if self.servers.endpoint is not None:
                await self._refresh_servers()
                task_group.start_soon(self._endpoint_loop)
            if self.cache_dir is not None:
                self._check_failover_switch()
                task_group.start_soon(self._failover_loop)
            task_group.start_soon(self._beat_loop, task_group)
            task_group.start_soon(self._poll_loop, task_group)
            task_group.start_soon(self._event_loop)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> bool | None:
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return None
        self._closed = True
        task_group.cancel_scope.cancel()
        try:
            # The body's own exception is not handed to the task group: it propagates as itself, never
            # wrapped in an ExceptionGroup by the nursery.
            await task_group.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True):
                if self._udp is not None:
                    await self._udp.aclose()
                    self._udp = None
                await self._transport.aclose()
        return None

    async def aclose(self) -> None:
        """Stop the background tasks and close every socket (registered instances are left to expire,
        as with the Java client's ``shutDown``; deregister them first to remove them at once)."""
        await self.__aexit__(None, None, None)

    def _running(self) -> anyio.abc.TaskGroup:
        if self._task_group is None:
            raise RuntimeError("use the client inside 'async with' (or call it before aclose())")
        return self._task_group

    @staticmethod
    def _now_ms() -> int:
        return int(anyio.current_time() * 1000)

    @property
    def push_port(self) -> int:
        """The UDP port pushes are received on (0 without push)."""
        if self._udp is None:
            return 0
        port: int = self._udp.extra(anyio.abc.SocketAttribute.local_port)
        return port

    # --- instances ------------------------------------------------------------------------------------
    async def register_instance(
        self,
        service: str,
        ip: str,
        port: int,
        *,
        group: str = DEFAULT_GROUP,
        cluster: str = DEFAULT_CLUSTER,
        weight: float = 1.0,
        enabled: bool = True,
        healthy: bool = True,
        ephemeral: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Register an instance; an ephemeral one is then kept alive by beats until deregistered."""
        self._running()
        spec = InstanceSpec(
            grouped_name(service, group),
            ip,
            port,
            cluster,
            weight,
            enabled,
            healthy,
            ephemeral,
            metadata or {},
        )
        await self._transport.call(api.register(self.namespace, spec))
        if ephemeral:
            self._beats.add(spec, self._now_ms())
            self._wake(self._beat_wakeup)

    async def deregister_instance(
        self,
        service: str,
        ip: str,
        port: int,
        *,
        group: str = DEFAULT_GROUP,
        cluster: str = DEFAULT_CLUSTER,
        ephemeral: bool = True,
    ) -> None:
        """Stop beating for the instance and remove it."""
        self._running()
        spec = InstanceSpec(grouped_name(service, group), ip, port, cluster, ephemeral=ephemeral)
        self._beats.remove(BeatSchedule.key_of(spec))
        await self._transport.call(api.deregister(self.namespace, spec))

    async def update_instance(
        self,
        service: str,
        ip: str,
        port: int,
        *,
        group: str = DEFAULT_GROUP,
        cluster: str = DEFAULT_CLUSTER,
        weight: float = 1.0,
        enabled: bool = True,
        ephemeral: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Replace an instance's weight, enabled flag and metadata (fields left out take their
        defaults, as in Nacos). A beating instance beats with the new fields from now on."""
        self._running()
        spec = InstanceSpec(
            grouped_name(service, group), ip, port, cluster, weight, enabled, True, ephemeral, metadata or {}
        )
        await self._transport.call(api.update(self.namespace, spec))
        key = BeatSchedule.key_of(spec)
        if ephemeral and self._beats.get(key) is not None:
            self._beats.add(spec, self._now_ms())
            self._wake(self._beat_wakeup)

    async def get_all_instances(
        self,
        service: str,
        *,
        group: str = DEFAULT_GROUP,
        clusters: list[str] | str | None = None,
        subscribe: bool = True,
    ) -> list[Instance]:
        """Every instance of the service (healthy or not). With ``subscribe`` (the default) the answer
        comes from the local cache, which push and polling keep current; otherwise the server is
        asked directly."""
        info = await self._service_info(service, group, join_clusters(clusters), subscribe)
        return list(info.hosts)

    async def select_instances(
        self,
        service: str,
        *,
        group: str = DEFAULT_GROUP,
        clusters: list[str] | str | None = None,
        healthy: bool = True,
        subscribe: bool = True,
    ) -> list[Instance]:
        """Enabled instances with a positive weight whose health is ``healthy`` (Nacos
        ``selectInstances``)."""
        info = await self._service_info(service, group, join_clusters(clusters), subscribe)
        return select(info.hosts, healthy)

    async def select_one_healthy_instance(
        self,
        service: str,
        *,
        group: str = DEFAULT_GROUP,
        clusters: list[str] | str | None = None,
        subscribe: bool = True,
    ) -> Instance:
        """One healthy instance, chosen at random by weight; ``NoInstanceAvailable`` if there is none."""
        info = await self._service_info(service, group, join_clusters(clusters), subscribe)
        chosen = pick_weighted(select(info.hosts, healthy=True), self._rng)
        if chosen is None:
            raise NoInstanceAvailable(f"no healthy instance of {info.name} (clusters {info.clusters!r})")
        return chosen

    async def subscribe(
        self,
        service: str,
        listener: Listener,
        *,
        group: str = DEFAULT_GROUP,
        clusters: list[str] | str | None = None,
    ) -> None:
        """Call ``listener`` on every change of the service; it is first called with the current
        instances (all of them as ``added``) once they are known."""
        grouped, joined = grouped_name(service, group), join_clusters(clusters)
        key = self._track(grouped, joined)
        known = self._hosts.read(key)
        self._listeners.setdefault(key, []).append(listener)
        if known is None:  # the first answer reaches the listener as a change from nothing
            await self._wait_first(key)
        elif known.hosts:
            hosts = known.hosts
            self._queue_event(
                listener, ServiceChange(known.service, known.group, known.clusters, hosts, hosts)
            )

    async def unsubscribe(
        self,
        service: str,
        listener: Listener,
        *,
        group: str = DEFAULT_GROUP,
        clusters: list[str] | str | None = None,
    ) -> None:
        """Stop calling ``listener`` (the service stays cached and polled for reads)."""
        key = cache_key(grouped_name(service, group), join_clusters(clusters))
        listeners = self._listeners.get(key, [])
        with contextlib.suppress(ValueError):
            listeners.remove(listener)
        if not listeners:
            self._listeners.pop(key, None)

    async def get_services(
        self, *, page_no: int = 1, page_size: int = 100, group: str = DEFAULT_GROUP
    ) -> ServicePage:
        """One page of the namespace's service names in ``group``, and the total count."""
        self._running()
        reply = await self._transport.call(api.service_list(self.namespace, group, page_no, page_size))
        return api.decode_service_page(reply.body)

    async def server_healthy(self) -> bool:
        """Whether a server answers ``operator/metrics`` with status ``UP``."""
        self._running()
        try:
            reply = await self._transport.call(api.metrics())
            return api.decode_metrics_up(reply.body)
        except NacosClientError:
            return False

    @property
    def failover_on(self) -> bool:
        """Whether reads are served from the failover files."""
        return self._hosts.failover_on

    def beating(self) -> list[BeatKey]:
        """(grouped service, ip, port, cluster) of every instance this client beats for."""
        return self._beats.keys()

    # --- reads ----------------------------------------------------------------------------------------
    def cached(
        self, service: str, *, group: str = DEFAULT_GROUP, clusters: list[str] | str | None = None
    ) -> ServiceInfo | None:
        """The data a subscribed read would return now, without waiting or starting anything; ``None``
        when the service is not in use yet or nothing is known. Plain dictionary reads: safe to call
        from another thread (the blocking client's fast path)."""
        key = cache_key(grouped_name(service, group), join_clusters(clusters))
        if self._task_group is None or not self._hosts.is_tracked(key):
            return None
        return self._hosts.read(key)

    def _track(self, grouped: str, clusters: str) -> str:
        self._running()
        key = cache_key(grouped, clusters)
        if not self._hosts.is_tracked(key):
            self._hosts.track(grouped, clusters, self._now_ms())
            self._wake(self._poll_wakeup)
        return key

    async def _wait_first(self, key: str) -> ServiceInfo | None:
        """The cached (or failover) data for a tracked key, waiting a bounded time for the first answer
        when nothing is known yet."""
        info = self._hosts.read(key)
        if info is not None:
            return info
        waiter = self._waiters.setdefault(key, anyio.Event())
        with anyio.move_on_after(self.timings.first_read_wait_ms / 1000):
            await waiter.wait()
        return self._hosts.read(key)

    async def _service_info(self, service: str, group: str, clusters: str, subscribe: bool) -> ServiceInfo:
        grouped = grouped_name(service, group)
        if not subscribe:
            self._running()
            reply = await self._transport.call(api.list_instances(self.namespace, grouped, clusters))
            return ServiceInfo.decode(reply.body)
        key = self._track(grouped, clusters)
        info = await self._wait_first(key)
        if info is None:
            reason = self._poll_errors.get(key, "no answer yet")
            raise NoServerAvailable(f"no data for {key} and no server answered: {reason}")
        return info

    # --- polling --------------------------------------------------------------------------------------
    async def _poll_loop(self, task_group: anyio.abc.TaskGroup) -> None:
        assert self._poll_wakeup is not None
        while True:
            now = self._now_ms()
            for key, entry in self._hosts.due(now):
                task_group.start_soon(self._poll_one, key, entry.grouped, entry.clusters)
            deadline = self._hosts.next_deadline_ms()
            await self._poll_wakeup.wait(None if deadline is None else max(0, deadline - now) / 1000)

    async def _poll_one(self, key: str, grouped: str, clusters: str) -> None:
        assert self._poll_limiter is not None
        udp_port = self.push_port

        def build(local_ip: str) -> api.ApiCall:
            return api.list_instances(
                self.namespace, grouped, clusters, udp_port=udp_port, client_ip=local_ip
            )

        async with self._poll_limiter:
            self.stats["polls"] += 1
            try:
                reply = await self._transport.call(build)
                info = ServiceInfo.decode(reply.body)
            except NacosClientError as error:
                self.stats["poll_failures"] += 1
                self._poll_errors[key] = str(error)
                delay = self._hosts.poll_failed(key, self._now_ms())
                log.debug("poll of %s failed (next in %d ms): %s", key, delay, error)
            else:
                if info.key != key:  # the server echoes name and clusters; keep our key regardless
                    info = dataclasses.replace(info, name=grouped, clusters=clusters)
                self._poll_errors.pop(key, None)
                self._after_apply(info, self._hosts.polled(key, info, self._now_ms()))
            finally:
                waiter = self._waiters.pop(key, None)
                if waiter is not None:
                    waiter.set()
                self._wake(self._poll_wakeup)

    def _after_apply(self, info: ServiceInfo, applied: Applied) -> None:
        if applied.persist and self.cache_dir is not None:
            try:
                diskcache.write_service(self.cache_dir, info)
                self.stats["disk_writes"] += 1
            except OSError as error:
                self.stats["disk_errors"] += 1
                log.warning("cannot write the disk cache for %s: %s", info.key, error)
        if applied.change is not None:
            for listener in self._listeners.get(info.key, ()):
                self._queue_event(listener, applied.change)
        waiter = self._waiters.pop(info.key, None)
        if waiter is not None:
            waiter.set()

    # --- listeners ------------------------------------------------------------------------------------
    def _queue_event(self, listener: Listener, change: ServiceChange) -> None:
        if len(self._events) == self._events.maxlen:
            self.stats["events_dropped"] += 1
        self._events.append((listener, change))
        self._wake(self._event_wakeup)

    async def _event_loop(self) -> None:
        assert self._event_wakeup is not None
        while True:
            while self._events:
                listener, change = self._events.popleft()
                try:
                    result = listener(change)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    self.stats["listener_errors"] += 1
                    log.exception("a listener of %s raised", change.grouped_name)
            await self._event_wakeup.wait(None)

    # --- push -----------------------------------------------------------------------------------------
    async def _push_loop(self, udp: anyio.abc.UDPSocket) -> None:
        while True:
            try:
                datagram, (host, port) = await udp.receive()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return
            except OSError as error:  # an ICMP error reported on the socket: keep receiving
                log.debug("push socket: %s", error)
                continue
            source = _unmapped(str(host))
            if source not in self._transport.known_ips:
                self.stats["pushes_rejected"] += 1
                log.debug("push from unknown source %s:%s dropped", source, port)
                continue
            if len(datagram) > MAX_DATAGRAM_BYTES:
                continue
            try:
                packet = decode_push(datagram)
            except PushDecodeError as error:
                self.stats["pushes_invalid"] += 1
                log.debug("bad push from %s:%s: %s", source, port, error)
                continue
            self.stats["pushes_received"] += 1
            if packet.type in SERVICE_TYPES:
                try:
                    info = ServiceInfo.decode(packet.data)
                except InvalidResponse as error:
                    self.stats["pushes_invalid"] += 1
                    log.debug("push data from %s unreadable: %s", source, error)
                else:
                    applied = self._hosts.apply(info, from_push=True)
                    if applied.persist or applied.change is not None:
                        self.stats["pushes_applied"] += 1
                    self._after_apply(info, applied)
            try:
                await udp.sendto(ack_for(packet, self._dump), str(host), port)
                self.stats["pushes_acked"] += 1
            except OSError as error:
                log.debug("cannot ack a push to %s:%s: %s", source, port, error)

    def _dump(self) -> str:
        return json.dumps({info.key: info.to_json() for info in self._hosts.snapshot()}, ensure_ascii=False)

    # --- beats ----------------------------------------------------------------------------------------
    async def _beat_loop(self, task_group: anyio.abc.TaskGroup) -> None:
        assert self._beat_wakeup is not None
        while True:
            now = self._now_ms()
            for key, entry in self._beats.due(now):
                task_group.start_soon(
                    self._beat_one, key, entry.spec, entry.period_ms, entry.light, entry.generation
                )
            deadline = self._beats.next_deadline_ms()
            await self._beat_wakeup.wait(None if deadline is None else max(0, deadline - now) / 1000)

    async def _beat_one(
        self, key: BeatKey, spec: InstanceSpec, period_ms: int, light: bool, generation: int
    ) -> None:
        assert self._beat_limiter is not None
        async with self._beat_limiter:
            self.stats["beats"] += 1
            try:
                reply = await self._transport.call(api.beat(self.namespace, spec, period_ms, light=light))
                answer = api.decode_beat_reply(reply.body)
            except NacosClientError as error:
                self.stats["beat_failures"] += 1
                log.debug("beat for %s failed: %s", key, error)
                self._beats.on_failure(key, generation, self._now_ms())
            else:
                if self._beats.on_reply(key, generation, answer, self._now_ms()) is BeatAction.REGISTER:
                    self._server_recovered(reply.server)  # it lost our instance: our subscriptions too
                    try:
                        await self._transport.call(api.register(self.namespace, spec))
                        self.stats["reregistered"] += 1
                        log.info("registered %s again (the server had lost it)", key)
                    except NacosClientError as error:
                        log.warning("registering %s again failed: %s", key, error)
            finally:
                self._wake(self._beat_wakeup)

    def _server_recovered(self, server: Address) -> None:
        """A server is back after failing (or has lost its state): poll every service now, which
        renews the push subscriptions a restarted server no longer has."""
        log.info("server %s is back: refreshing %d services", server, len(self._hosts.tracked_keys()))
        self._hosts.poll_all_now(self._now_ms())
        self._wake(self._poll_wakeup)

    # --- server list ----------------------------------------------------------------------------------
    async def _refresh_servers(self) -> None:
        endpoint = self.servers.endpoint
        assert endpoint is not None
        found = None
        try:
            response = await self._transport.get(endpoint, ENDPOINT_PATH)
            if response.status == 200:
                found = parse_endpoint_answer(response.body)
            else:
                log.warning("address server %s answered %d", endpoint, response.status)
        except Unreachable as error:
            log.warning("address server %s unreachable: %s", endpoint, error)
        if self.servers.refreshed(found, self._now_ms()):
            self._transport.note_servers()
            log.info("server list from %s: %s", endpoint, ", ".join(map(str, self.servers.servers)))

    async def _endpoint_loop(self) -> None:
        while True:
            deadline = self.servers.next_refresh_ms()
            assert deadline is not None
            await anyio.sleep(max(0, deadline - self._now_ms()) / 1000)
            await self._refresh_servers()

    # --- failover -------------------------------------------------------------------------------------
    def _failover_dir(self) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / diskcache.FAILOVER_DIR

    def _check_failover_switch(self) -> None:
        directory = self._failover_dir()
        on = diskcache.switch_on(directory)
        if on and not self._hosts.failover_on:
            infos = diskcache.load_dir(directory, self._hosts.max_services)
            self._hosts.set_failover(infos)
            log.warning("failover switch on: serving reads from %d services in %s", len(infos), directory)
        elif not on and self._hosts.failover_on:
            self._hosts.set_failover(None)
            log.warning("failover switch off: serving reads from live data")

    def _backup(self) -> None:
        if self._hosts.failover_on:
            return  # the failover files are what is being served; keep them as the operator left them
        try:
            diskcache.write_all(self._failover_dir(), self._hosts.snapshot())
            self.stats["backups"] += 1
        except OSError as error:
            self.stats["disk_errors"] += 1
            log.warning("cannot back up the cache to %s: %s", self._failover_dir(), error)

    async def _failover_loop(self) -> None:
        timings = self.timings
        start = self._now_ms()
        next_backup = start + timings.failover_first_backup_ms
        first = True
        while True:
            now = self._now_ms()
            if now >= next_backup:
                if not first or not diskcache.has_backup(self._failover_dir()):
                    self._backup()
                first = False
                next_backup = now + timings.failover_backup_ms
            self._check_failover_switch()
            wait_ms = min(timings.failover_switch_check_ms, max(0, next_backup - self._now_ms()))
            await anyio.sleep(wait_ms / 1000)

    # --- helpers --------------------------------------------------------------------------------------
    @staticmethod
    def _wake(wakeup: _Wakeup | None) -> None:
        if wakeup is not None:
            wakeup.set()


__all__ = ["AsyncNamingClient", "Listener", "default_cache_dir"]
