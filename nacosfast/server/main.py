"""Wire a node together: durable log, naming application, HTTP, UDP push, reaper, signals, and in
cluster mode membership, the peer transport and forwarding to owners (``ClusterNode``)."""

from __future__ import annotations

import itertools
import logging
import signal
from bisect import bisect_left
from dataclasses import dataclass
from functools import partial
from time import perf_counter_ns
from typing import Protocol

import trio

from nacosfast._core.fastpath import FastPath
from nacosfast.auth.gate import AuthGate
from nacosfast.cluster.auth import PeerVerifier
from nacosfast.cluster.distro import Distro, DistroConfig
from nacosfast.cluster.members import MemberTable, MemberTimings
from nacosfast.config import ConfigError, Settings, read_cluster_secret
from nacosfast.front import API_PREFIX, Front
from nacosfast.limits import STORE_CLOSE_TIMEOUT_MS
from nacosfast.metrics import MetricsRegistry
from nacosfast.naming import journal
from nacosfast.naming.app import NamingApp
from nacosfast.naming.fast import build_fast_path
from nacosfast.naming.healthcheck import HealthChecker
from nacosfast.naming.metrics import FORWARDED, RequestStats, SweepStats, naming_families
from nacosfast.naming.node import build_state
from nacosfast.naming.push import PushConfig, PushHub
from nacosfast.naming.routing import reregistration
from nacosfast.naming.state import NamingState, ServerIdentity
from nacosfast.server.auth import bootstrap_admin, load_auth_config, read_admin_password, run_password_worker
from nacosfast.server.checker import run_checks
from nacosfast.server.clock import monotonic_ms, wall_ms
from nacosfast.server.cluster_metrics import ClusterFigures
from nacosfast.server.distro_runner import DistroRunner
from nacosfast.server.durability import Durability
from nacosfast.server.etcd import EtcdStore, etcd_client, warn_unimported_log
from nacosfast.server.forwarder import Forwarder, owner_handlers
from nacosfast.server.host import run_host_sampler
from nacosfast.server.http import Handler, serve_http
from nacosfast.server.membership import Membership, MemberSource, read_member_file
from nacosfast.server.peers import PEER_PATH_PREFIX, PeerClient, PeerRouter
from nacosfast.server.process_metrics import ProcessFigures
from nacosfast.server.reaper import run_reaper
from nacosfast.server.udp import PushServer
from nacosfast.store.etcd_keys import check_prefix
from nacosfast.store.log import AppendLog, StoreError
from nacosfast.wire.message import Request, Response

log = logging.getLogger("nacosfast.server")


@dataclass(slots=True)
class ClusterNode:
    """The cluster parts of one node: what the Distro runner (and any other cluster task) needs."""

    state: NamingState
    members: MemberTable
    client: PeerClient
    router: PeerRouter
    forwarder: Forwarder
    membership: Membership
    distro: DistroRunner


@dataclass(frozen=True, slots=True)
class RunningServer:
    """What a started node reports: its HTTP port and UDP push address; its state and cluster parts
    (for in-process tests and embedding)."""

    http_port: int
    push_address: tuple[str, int] | None
    state: NamingState
    cluster: ClusterNode | None = None
    fast_path: FastPath | None = None
    """The compiled request path, if the node runs one (its ``counts()`` show what it answered)."""


def build_cluster(settings: Settings, state: NamingState, app: NamingApp) -> ClusterNode:
    """Membership, peer transport and forwarding for ``state`` (``ConfigError`` if unusable)."""
    secret = read_cluster_secret(settings.cluster_secret_file)
    if settings.cluster_conf:
        try:
            initial = read_member_file(settings.cluster_conf)
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot use cluster_conf {settings.cluster_conf}: {error}") from None
    else:
        initial = settings.member_list()  # the address server's list arrives once it answers
    timings = MemberTimings(
        report_interval_ms=settings.member_report_ms,
        suspicious_after_ms=settings.member_suspicious_ms,
        down_after_ms=settings.member_down_ms,
        settle_ms=settings.membership_settle_ms,
    )
    me = settings.self_address
    members = MemberTable(me, initial, monotonic_ms(), timings)
    if me not in initial and not settings.address_server:
        log.warning("this node (%s) is not in its member list; it is added to its own view", me)
    client = PeerClient(me, secret)
    router = PeerRouter(PeerVerifier(secret))

    def handle_here(request: Request) -> Response:
        return app.handle(request, monotonic_ms(), wall_ms(), forwarded=True)

    def reregister(namespace: str, name: str, key: str) -> Request | None:
        return reregistration(state, namespace, name, key)

    forwarder = Forwarder(client, handle_here, reregister=reregister, timeout_ms=settings.forward_timeout_ms)
    for kind, handler in owner_handlers(app).items():
        router.register(kind, handler)
    source = MemberSource(
        members=settings.member_list(),
        conf_file=settings.cluster_conf,
        address_server=settings.address_server,
    )
    membership = Membership(members, client, router, source)
    state.members = members
    state.forwarding = forwarder
    distro_config = DistroConfig(
        sync_delay_ms=settings.distro_sync_delay_ms,
        anti_entropy_period_ms=settings.distro_anti_entropy_ms,
        fetch_pause_ms=settings.distro_fetch_pause_ms,
        warmup_timeout_ms=settings.distro_warmup_timeout_ms,
    )
    # From here on the node is not ready (state.ready) until it has loaded a peer's snapshot.
    distro = Distro(state, members, wall_ms(), monotonic_ms(), distro_config)
    runner = DistroRunner(distro, client.call)
    runner.register(router)
    return ClusterNode(state, members, client, router, forwarder, membership, runner)


async def run_cluster(
    cluster: ClusterNode, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the cluster tasks of a node until cancelled: forwarding, membership and Distro."""
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(cluster.forwarder.run)
            await nursery.start(cluster.membership.run)
            await nursery.start(cluster.distro.run)
            task_status.started()
    finally:
        with trio.CancelScope(shield=True):
            await cluster.client.aclose()


def node_handler(front: Front, router: PeerRouter | None, requests: RequestStats) -> Handler:
    """The HTTP handler: peer requests to ``router`` (cluster mode), the naming API straight to the
    application, the rest (metrics, console) through ``front``; every answer counted in ``requests``.

    Counting costs two clock reads and one histogram observation per request (``bench/
    metrics_overhead.py``). A forwarded write's answer is not known yet: it counts as ``forwarded``.
    """
    by_path = requests.by_path
    histograms = requests.histograms
    api_handle = front.app.handle
    front_handle = front.handle
    peer_handle = router.handle if router is not None else None

    def handle(request: Request) -> Response:
        started_ns = perf_counter_ns()
        path = request.path
        if peer_handle is not None and path.startswith(PEER_PATH_PREFIX):
            response = peer_handle(request, monotonic_ms(), wall_ms())
        elif path.startswith(API_PREFIX):
            response = api_handle(request, monotonic_ms(), wall_ms())
        else:
            response = front_handle(request, monotonic_ms(), wall_ms())
        elapsed_ns = perf_counter_ns() - started_ns
        # RequestStats.record, inlined (it runs on every request): the path's histograms, one observation.
        by_status = by_path.get(path) or histograms(path)
        histogram = by_status[response.status // 100 if response.deferred is None else FORWARDED]
        histogram.counts[bisect_left(histogram.bounds_ns, elapsed_ns)] += 1
        histogram.sum_ns += elapsed_ns
        return response

    return handle


async def serve(
    settings: Settings, *, task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run one node until cancelled; ``task_status`` gets the bound addresses."""
    settings.validate()
    gate = AuthGate(load_auth_config(settings))
    admin_password = read_admin_password(settings) if settings.auth_enabled else None
    # Persistent data: in etcd (docs/etcd.md), or in the data directory's log.
    store = None if settings.etcd else AppendLog.open(settings.data_dir)
    client = etcd_client(settings) if settings.etcd else None
    try:
        # The callbacks read ``state``, built just below; nothing appends or snapshots before replay
        # has finished and the flusher task has started. Auth records are few: they are listed on the
        # Trio thread, so the worker thread that writes the snapshot never iterates a changing table.
        durability: Durability | EtcdStore
        if client is None:
            assert store is not None
            durability = Durability(
                store,
                snapshot_source=lambda: itertools.chain(journal.snapshot(state), list(gate.store.snapshot())),
                on_durable=lambda through: journal.settle(state, through),
                on_refused=lambda through: journal.undo(state, through, monotonic_ms()),
            )
        else:
            warn_unimported_log(settings.data_dir)
            durability = EtcdStore(
                client,
                check_prefix(settings.etcd_prefix),
                observe=lambda key, payload: journal.observe(state, key, payload, monotonic_ms()),
                on_durable=lambda through: journal.settle(state, through),
                on_refused=lambda through: journal.undo(state, through, monotonic_ms()),
            )
        push_config = PushConfig(
            coalesce_ms=settings.push_coalesce_ms,
            retry_ms=settings.push_retry_ms,
            give_up_ms=settings.push_give_up_ms,
            repeat_ms=settings.push_repeat_ms,
            push_to_client_ip=settings.push_to_client_ip,
        )
        state = build_state(
            durability,
            wall_ms,
            identity=ServerIdentity(settings.host, settings.port, standalone=not settings.cluster_mode),
            push_config=push_config,
        )
        hub = state.push
        assert isinstance(hub, PushHub)
        if store is not None:
            replayed = journal.replay(state, store.replay(), gate.store.replayers())
            log.info(
                "loaded %d durable records from %s: %d services, %d instances",
                replayed,
                settings.data_dir,
                state.registry.service_count,
                state.registry.instance_count,
            )
        app = NamingApp(state, auth=gate)
        cluster = build_cluster(settings, state, app) if settings.cluster_mode else None
        metrics = MetricsRegistry()
        requests = RequestStats()
        sweeps = SweepStats()
        metrics.register("process", ProcessFigures().families)
        metrics.register("requests", requests.families)
        metrics.register("naming", lambda: naming_families(state))
        metrics.register("expiry", sweeps.families)
        metrics.register("log", durability.families)
        if cluster is not None:
            metrics.register("cluster", ClusterFigures(cluster.membership, cluster.forwarder).families)
            metrics.register("distro", cluster.distro.figures.families)
        # Auth checks every caller: the compiled path, which answers unchecked, stays off there. On a
        # cluster member (built after ``build_cluster`` set the node's routing) it answers only what
        # this member answers itself (``naming/fast.py``).
        use_fast_path = settings.fast_path and not gate.enabled
        fast_path = build_fast_path(state, auth=gate) if use_fast_path else None
        if fast_path is not None:
            requests.count_answered_elsewhere(fast_path.counts)
        front = Front(app, metrics)
        handle = node_handler(front, cluster.router if cluster is not None else None, requests)

        async with trio.open_nursery() as nursery:
            await nursery.start(durability.run)  # on etcd: once every record is read into memory
            if isinstance(durability, EtcdStore):
                log.info(
                    "persistent data in etcd under %r, at revision %d",
                    settings.etcd_prefix,
                    durability.revision,
                )
            admin_seq = await bootstrap_admin(gate, durability, admin_password)
            if admin_seq:
                await durability.wait_durable(admin_seq)
            if gate.enabled:
                nursery.start_soon(run_password_worker, gate, handle)
                log.info("auth enabled: %d users", len(gate.store.users))
            push_address = None
            if settings.push_enabled:
                push_server = PushServer(hub, settings.push_host or settings.host, settings.push_port)
                push_address = await nursery.start(push_server.run)
            else:
                state.switches.pushEnabled = False
            nursery.start_soon(partial(run_reaper, state, stats=sweeps))
            nursery.start_soon(run_host_sampler, state)
            # Created after replay: the replayed instances' stored health is re-checked, not trusted.
            nursery.start_soon(run_checks, HealthChecker(state))
            http_scope = trio.CancelScope()

            async def run_http(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
                with http_scope:
                    await serve_http(
                        handle,
                        durability.wait_durable,
                        settings.host,
                        settings.port,
                        fast_path=fast_path,
                        metrics=metrics,
                        task_status=task_status,
                    )
                # HTTP is done (answers in flight were given their grace); now stop the rest.
                nursery.cancel_scope.cancel()

            http_port = await nursery.start(run_http)
            log.info("nacosfast serving Nacos naming on http://%s:%d/nacos", settings.host, http_port)
            if cluster is not None:  # once peers can reach this node (until then it forwards nothing)
                await nursery.start(run_cluster, cluster)
                log.info(
                    "cluster member %s; members: %s",
                    cluster.members.self_address,
                    ", ".join(member.address for member in cluster.members.members()),
                )
            task_status.started(RunningServer(http_port, push_address, state, cluster, fast_path))
            nursery.start_soon(_stop_on_signal, http_scope)
    finally:
        if store is not None:
            await close_store(store)
        if client is not None:
            with trio.CancelScope(shield=True):
                await client.aclose()


class Closable(Protocol):
    """What ``close_store`` needs of a store."""

    def close(self) -> None:
        """Flush and close; may block on the disk."""
        ...


async def close_store(store: Closable, timeout_ms: int = STORE_CLOSE_TIMEOUT_MS) -> bool:
    """Close ``store`` in a worker thread, never blocking the event loop, waiting at most ``timeout_ms``.

    Runs shielded (it is called while the node is being cancelled). True once closed; False when the
    bound passed first (a hung disk): the thread is abandoned and the node stops anyway. An error
    from ``close`` is raised.
    """
    with trio.CancelScope(shield=True), trio.move_on_after(timeout_ms / 1000):
        await trio.to_thread.run_sync(store.close, abandon_on_cancel=True)
        return True
    log.error("closing the data log took more than %d ms (a hung disk?); stopping without it", timeout_ms)
    return False


async def _stop_on_signal(http_scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("received %s: shutting down", signal.Signals(signum).name)
            http_scope.cancel()
            return


def run_server(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; the process exit status."""
    status = 0
    try:
        trio.run(serve, settings)
    except* ConfigError as group:
        log.error("cannot start: %s", group.exceptions[0])
        status = 2
    except* StoreError as group:
        log.error("cannot open the data directory %s: %s", settings.data_dir, group.exceptions[0])
        status = 1
    except* OSError as group:
        log.error("cannot start: %s", group.exceptions[0])
        status = 1
    log.info("stopped" if status == 0 else "not started")
    return status
