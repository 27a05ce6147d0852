"""Active health checks of persistent instances, sans-I/O: which checks to run and what they mean.

Persistent instances do not beat; the server checks them (docs/compatibility.md §8.4, and
docs/healthcheck.md). ``HealthChecker`` is the planner (shaped like ``PushHub``):
:meth:`HealthChecker.poll` says which ``Check`` effects to run now, the Trio shell
(``nacosfast.server.checker``) runs them (TCP connect, HTTP GET, MySQL query) and reports each
``Outcome`` through :meth:`HealthChecker.on_result`; :meth:`HealthChecker.next_deadline_ms` says when
to poll again. It never touches a socket or a clock.

As in Nacos 1.4.8 (``HealthCheckTask``, ``HealthCheckCommon``):

* One task per cluster holding persistent instances. The registry is scanned once when the checker
  starts; after that, ``effects.notify`` reports every write (:meth:`HealthChecker.service_changed`)
  and the changed services are looked at every ``HEALTH_CHECK_SCAN_MS``, so 100,000 ephemeral-only
  services cost nothing per round. First round ``2000 + rand(0, rand(0, tcpHealthParams.max))`` ms after the
  task appears, then one round every ``checkRtNormalized`` ms. That period follows the response times:
  ``factor * old + (1 - factor) * rt`` clamped to the checker type's [min, max] switch (TCP 1–5 s, HTTP
  0.5–5 s, MySQL 2–3 s); a timeout or busy answer counts as twice the current period, an error as the
  max, and an instance whose previous check is still running is skipped and counts as twice the period.
* A round checks every unmarked persistent instance of the cluster with the cluster's checker (``NONE``:
  nothing), on the instance port or the cluster's ``checkPort`` (``useInstancePort4Check``); MySQL
  always uses the instance port.
* Health flips after ``checkTimes`` consecutive failures (healthy instance) or successes (unhealthy
  instance); a definite failure (connection refused, unexpected HTTP status, SQL error) flips at once.
* Rounds run only while ``healthCheckEnabled`` is on (or the service is in ``healthCheckWhiteList``) and
  ``should_check(namespace, service)`` is true: always, standalone; the owner test in cluster mode.

Where nacosfast differs, on purpose:

* Work is bounded: at most ``max_in_flight`` checks run at once and at most ``max_rate`` start per
  second (a token bucket), so 10,000 instances cannot crowd out the HTTP answers; a round that hits
  either bound goes on at the next poll, and its next round is scheduled from its end.
* HTTP health is ``status == expectedResponseCode`` (Nacos 1.4.8 parses that field but only accepts 200).
* A health flip is a registry write plus a push, but no journal record: health is observed, not
  acknowledged data (Nacos keeps it out of the CP store too), and journaling it would rewrite a
  whole service record per flip. After a restart, the stored flag is not trusted: the first result
  for each instance that was already registered at start decides its health at once; later
  instances start from the health they were registered with, as in Nacos.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from nacosfast._core.registry import Instance, Service
from nacosfast.cluster.members import service_key
from nacosfast.javaparse import LONG_MAX
from nacosfast.limits import (
    HEALTH_CHECK_FIRST_DELAY_MS,
    HEALTH_CHECK_MAX_IN_FLIGHT,
    HEALTH_CHECK_MAX_RATE,
    HEALTH_CHECK_RATE_BURST,
    HEALTH_CHECK_SCAN_MS,
    HTTP_CHECK_TIMEOUT_MS,
    MYSQL_CHECK_TIMEOUT_MS,
    TCP_CHECK_TIMEOUT_MS,
)
from nacosfast.naming import effects
from nacosfast.naming.checkers import HTTP, MYSQL, NONE, TCP
from nacosfast.naming.meta import ClusterConfig, ServiceMeta
from nacosfast.naming.state import NamingState

__all__ = ["Check", "CheckRt", "HealthChecker", "Outcome", "ShouldCheck", "http_outcome"]

log = logging.getLogger("nacosfast.healthcheck")

_TIMEOUTS: Final = MappingProxyType(
    {TCP: TCP_CHECK_TIMEOUT_MS, HTTP: HTTP_CHECK_TIMEOUT_MS, MYSQL: MYSQL_CHECK_TIMEOUT_MS}
)
_PARAMS_SWITCH: Final = MappingProxyType(
    {TCP: "tcpHealthParams", HTTP: "httpHealthParams", MYSQL: "mysqlHealthParams"}
)
_HTTP_BUSY: Final = frozenset({302, 503})

ShouldCheck = Callable[[str, str], bool]
"""``should_check(namespace, grouped_service) -> bool``: whether this node checks that service."""


class Outcome(enum.Enum):
    """What one check found, in Nacos's three verdicts (the failure kinds differ in their RT)."""

    OK = "ok"
    """Healthy: connected, the expected HTTP status, the query answered on a writable server."""
    BUSY = "busy"
    """A failure that may pass (timeout, HTTP 503 or 302): ``checkFail``, RT counts as 2x the period."""
    FAIL = "fail"
    """Any other error, or a read-only MySQL server: ``checkFail``, RT counts as the max."""
    FAIL_NOW = "fail-now"
    """A definite failure (refused, other HTTP status, SQL error): ``checkFailNow``, flips at once."""


def http_outcome(status: int, expected: int) -> Outcome:
    """An HTTP check's verdict from the answer's status (``HttpHealthCheckProcessor``)."""
    if status == expected:
        return Outcome.OK
    if status in _HTTP_BUSY:
        return Outcome.BUSY
    return Outcome.FAIL_NOW


class Check(NamedTuple):
    """One check to run: connect to ``ip:port`` with ``kind`` (TCP, HTTP, MYSQL) within ``timeout_ms``.

    ``settings`` is the cluster's checker (HTTP ``path``/``headers``/``expectedResponseCode``, MySQL
    ``user``/``pwd``/``cmd``). Report the result with ``on_result(check_id, ...)``.
    """

    check_id: int
    kind: str
    ip: str
    port: int
    timeout_ms: int
    settings: Mapping[str, Any]


class CheckRt(NamedTuple):
    """A cluster's response-time figures as ``/catalog/rt/service`` shows them."""

    best: int
    worst: int
    normalized: int


class _InstanceState:
    """Consecutive results of one instance (Nacos ``okCount``/``failCount``/``beingChecked``)."""

    __slots__ = ("fail_count", "healthy", "in_flight", "ok_count", "settled")

    def __init__(self, settled: bool) -> None:
        self.healthy = True
        """The instance's health when its current check started (results count against it)."""
        self.ok_count = 0
        self.fail_count = 0
        self.in_flight = False
        self.settled = settled


class _ClusterTask:
    """One cluster's check schedule and RT figures (Nacos ``HealthCheckTask``)."""

    __slots__ = (
        "alive",
        "cluster",
        "due_ms",
        "instances",
        "name",
        "namespace",
        "pending",
        "rt_best",
        "rt_last",
        "rt_normalized",
        "rt_worst",
        "unsettled",
    )

    def __init__(self, namespace: str, name: str, cluster: str, first_delay_ms: int, now_ms: int) -> None:
        self.namespace = namespace
        self.name = name
        self.cluster = cluster
        self.rt_normalized = first_delay_ms
        self.rt_best = LONG_MAX  # Nacos: Long.MAX_VALUE before the first check
        self.rt_worst = 0
        self.rt_last = -1
        self.due_ms = now_ms + first_delay_ms
        self.alive = True
        self.instances: dict[str, _InstanceState] = {}
        self.pending: deque[tuple[Instance, _InstanceState]] = deque()
        self.unsettled: set[str] = set()
        """Keys of instances registered before the checker started (their stored health is stale)."""


class _InFlight(NamedTuple):
    task: _ClusterTask
    key: str
    state: _InstanceState
    kind: str
    started_ms: int


class HealthChecker:
    """Plans active checks of one node's persistent instances and applies their results.

    Creating it attaches it to ``state.health_checks``; the instances registered at that moment are
    the ones whose stored health is not trusted (see the module docstring).
    """

    def __init__(
        self,
        state: NamingState,
        *,
        should_check: ShouldCheck | None = None,
        max_in_flight: int = HEALTH_CHECK_MAX_IN_FLIGHT,
        max_rate: int = HEALTH_CHECK_MAX_RATE,
        rate_burst: int = HEALTH_CHECK_RATE_BURST,
        scan_ms: int = HEALTH_CHECK_SCAN_MS,
        rng: random.Random | None = None,
    ) -> None:
        if max_in_flight <= 0 or max_rate <= 0 or rate_burst <= 0 or scan_ms <= 0:
            raise ValueError("health check bounds must be positive")
        self._state = state
        self.should_check = should_check or self._owns
        """Default: this node owns the service (always, standalone; ``state.members`` in a cluster)."""
        self._max_in_flight = max_in_flight
        self._max_rate = max_rate
        self._burst = rate_burst
        self._scan_ms = scan_ms
        self._rng = rng or random.Random()
        self._tasks: dict[tuple[str, str, str], _ClusterTask] = {}
        self._seen: dict[tuple[str, str], frozenset[str]] = {}
        """Services with tasks → the clusters that have one."""
        self._dirty: set[tuple[str, str]] = set()
        """Services whose clusters may have changed since the last refresh."""
        self._wakeup: Callable[[], None] | None = None
        self._heap: list[tuple[int, int, _ClusterTask]] = []
        self._order = itertools.count()
        self._rounds: deque[_ClusterTask] = deque()
        self._in_flight: dict[int, _InFlight] = {}
        self._ids = itertools.count(1)
        self._tokens = float(rate_burst)
        self._tokens_ms: int | None = None
        self._next_scan_ms: int | None = None
        self._stale = self._present_instances()
        self._dirty.update((namespace, name) for namespace, name, _ in self._stale)
        state.health_checks = self  # writes now report here (effects.notify); rt figures are read here
        self._counters = dict.fromkeys(("started", "ok", "failed", "skipped_busy", "flips"), 0)

    # --- what the shell calls ---------------------------------------------------------------------

    def poll(self, now_ms: int) -> list[Check]:
        """Checks to start now (at most the free in-flight slots and the rate tokens)."""
        if self._dirty and (self._next_scan_ms is None or now_ms >= self._next_scan_ms):
            self._refresh(now_ms)
            self._next_scan_ms = now_ms + self._scan_ms
        self._refill(now_ms)
        heap = self._heap
        while heap and heap[0][0] <= now_ms:
            due_ms, _, task = heapq.heappop(heap)
            if task.alive and task.due_ms == due_ms:
                self._start_round(task, now_ms)
        out: list[Check] = []
        rounds = self._rounds
        while rounds and self._room() > 0:
            task = rounds[0]
            self._emit(task, now_ms, out)
            if task.pending and task.alive:
                break  # out of slots or tokens: go on at the next poll
            rounds.popleft()
            if task.alive:
                self._schedule(task, now_ms + task.rt_normalized)
        return out

    def on_result(self, check_id: int, outcome: Outcome, now_ms: int, detail: str = "") -> None:
        """Apply one check's result: the cluster's RT estimate, then the instance's health."""
        flight = self._in_flight.pop(check_id, None)
        if flight is None:
            return
        task, key, instance_state = flight.task, flight.key, flight.state
        instance_state.in_flight = False
        rt = now_ms - flight.started_ms
        self._counters["ok" if outcome is Outcome.OK else "failed"] += 1
        if outcome is Outcome.OK:
            self._reevaluate(task, flight.kind, rt)
        elif outcome is Outcome.BUSY:
            self._reevaluate(task, flight.kind, task.rt_normalized * 2)
        else:
            self._reevaluate(task, flight.kind, self._params(flight.kind)[0])
        if not task.alive or not self._enabled(task.namespace, task.name):
            return
        before = instance_state.healthy
        healthy = self._verdict(instance_state, before, outcome, task, key)
        if healthy is None or healthy == before:
            return
        # A flip: only now look the instance up, and apply it only to what was checked.
        service = self._state.registry.get(task.namespace, task.name)
        instance = service.get(key, False) if service is not None else None
        if service is None or instance is None or instance.marked:
            return
        if task.instances.get(key) is not instance_state:
            return
        if _meta(service).cluster(task.cluster).health_checker.get("type") != flight.kind:
            return  # the checker changed while this check ran
        instance_state.healthy = healthy
        change = self._state.registry.set_healthy(task.namespace, task.name, key, False, healthy)
        if change is None:
            return
        self._counters["flips"] += 1
        effects.notify(self._state, change, now_ms)
        log.info(
            "health check: %s %s %s is %s (%s %s)",
            task.namespace,
            task.name,
            key,
            "healthy" if healthy else "unhealthy",
            flight.kind,
            detail or outcome.value,
        )

    def next_deadline_ms(self, now_ms: int) -> int | None:
        """When :meth:`poll` has work next; ``now_ms`` or earlier means at once."""
        deadline = None
        if self._dirty:
            deadline = now_ms if self._next_scan_ms is None else max(now_ms, self._next_scan_ms)
        if self._heap:
            deadline = self._heap[0][0] if deadline is None else min(deadline, self._heap[0][0])
        if self._rounds and len(self._in_flight) < self._max_in_flight:
            self._refill(now_ms)
            missing = 1.0 - self._tokens
            wait = 0 if missing <= 0 else math.ceil(missing * 1000 / self._max_rate)
            deadline = now_ms + wait if deadline is None else min(deadline, now_ms + wait)
        return deadline

    @property
    def waiting_for_slot(self) -> bool:
        """A round is held back only by the in-flight bound: a finished check should wake the shell."""
        return bool(self._rounds) and len(self._in_flight) >= self._max_in_flight

    @property
    def in_flight(self) -> int:
        """Checks started and not yet reported."""
        return len(self._in_flight)

    def check_rt(self, namespace: str, service: str, cluster: str) -> CheckRt | None:
        """A cluster's RT figures, or ``None`` when this node does not check it."""
        task = self._tasks.get((namespace, service, cluster))
        if task is None:
            return None
        return CheckRt(task.rt_best, task.rt_worst, task.rt_normalized)

    def counters(self) -> dict[str, int]:
        """Checks started, passed, failed, skipped (previous one still running) and health flips."""
        return {**self._counters, "in_flight": len(self._in_flight), "clusters": len(self._tasks)}

    # --- discovery ---------------------------------------------------------------------------------

    def service_changed(self, namespace: str, name: str, service: Service | None) -> None:
        """A write changed this service (``effects.notify``): look at its clusters at the next refresh.

        O(1), and nothing is kept for services that neither hold persistent instances nor have tasks.
        """
        key = (namespace, name)
        if (service is not None and service.persistent_count) or key in self._seen:
            first = not self._dirty
            self._dirty.add(key)
            if first and self._wakeup is not None:
                self._wakeup()

    def set_wakeup(self, wakeup: Callable[[], None] | None) -> None:
        """Called when a write gives :meth:`poll` work that ``next_deadline_ms`` did not announce."""
        self._wakeup = wakeup

    def _refresh(self, now_ms: int) -> None:
        """Start and stop the tasks of the services that changed (at most once per ``scan_ms``)."""
        dirty, self._dirty = self._dirty, set()
        registry = self._state.registry
        for namespace, name in dirty:
            service = registry.get(namespace, name)
            clusters: frozenset[str] = frozenset()
            if service is not None and service.persistent_count:
                clusters = frozenset(i.cluster for i in service.instances(ephemeral=False))
            before = self._seen.get((namespace, name), frozenset())
            for cluster in before - clusters:
                self._drop_task((namespace, name, cluster))
            for cluster in clusters - before:
                self._add_task(namespace, name, cluster, now_ms)
        self._stale.clear()  # what the first refresh did not find is gone

    def _present_instances(self) -> dict[tuple[str, str, str], set[str]]:
        """Persistent instance keys per cluster, as registered when this checker starts."""
        present: dict[tuple[str, str, str], set[str]] = {}
        registry = self._state.registry
        for namespace in registry.namespaces():
            for name in registry.services(namespace):
                service = registry.get(namespace, name)
                if service is not None and service.persistent_count:
                    for instance in service.instances(ephemeral=False):
                        present.setdefault((namespace, name, instance.cluster), set()).add(instance.key)
        return present

    def _add_task(self, namespace: str, name: str, cluster: str, now_ms: int) -> None:
        tcp_max = int(self._params(TCP)[0])
        first_delay = HEALTH_CHECK_FIRST_DELAY_MS + self._rng.randint(0, self._rng.randint(0, tcp_max))
        task = _ClusterTask(namespace, name, cluster, first_delay, now_ms)
        # Instances registered before this checker started (replayed at start-up) have stale health.
        task.unsettled = self._stale.pop((namespace, name, cluster), set())
        self._tasks[(namespace, name, cluster)] = task
        self._seen[(namespace, name)] = self._seen.get((namespace, name), frozenset()) | {cluster}
        self._schedule(task, task.due_ms)

    def _drop_task(self, key: tuple[str, str, str]) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.alive = False
            task.pending.clear()
        service = (key[0], key[1])
        clusters = self._seen.get(service, frozenset()) - {key[2]}
        if clusters:
            self._seen[service] = clusters
        else:
            self._seen.pop(service, None)

    # --- rounds -----------------------------------------------------------------------------------

    def _schedule(self, task: _ClusterTask, due_ms: int) -> None:
        task.due_ms = due_ms
        heapq.heappush(self._heap, (due_ms, next(self._order), task))

    def _start_round(self, task: _ClusterTask, now_ms: int) -> None:
        """Queue the cluster's instances for checking, or reschedule when there is nothing to do."""
        service = self._state.registry.get(task.namespace, task.name)
        if service is None:
            self._drop_task((task.namespace, task.name, task.cluster))
            return
        kind = _meta(service).cluster(task.cluster).health_checker.get("type", TCP)
        if kind == NONE or kind not in _TIMEOUTS or not self._enabled(task.namespace, task.name):
            self._schedule(task, now_ms + task.rt_normalized)
            return
        states: dict[str, _InstanceState] = {}
        for instance in service.instances(ephemeral=False):
            if instance.cluster != task.cluster:
                continue
            key = instance.key
            instance_state = task.instances.get(key)
            if instance_state is None:
                instance_state = _InstanceState(settled=key not in task.unsettled)
            states[key] = instance_state
            if instance.marked:
                continue
            if instance_state.in_flight:
                self._counters["skipped_busy"] += 1
                self._reevaluate(task, kind, task.rt_normalized * 2)
                continue
            task.pending.append((instance, instance_state))
        if not states:  # the cluster holds no persistent instance any more
            self._drop_task((task.namespace, task.name, task.cluster))
            return
        task.instances = states
        if task.unsettled:
            task.unsettled.intersection_update(states)
        if task.pending:
            self._rounds.append(task)
        else:
            self._schedule(task, now_ms + task.rt_normalized)

    def _emit(self, task: _ClusterTask, now_ms: int, out: list[Check]) -> None:
        """Start checks from the task's pending instances while slots and tokens last."""
        if not task.alive:
            return
        service = self._state.registry.get(task.namespace, task.name)
        if service is None:
            self._drop_task((task.namespace, task.name, task.cluster))
            return
        config = _meta(service).cluster(task.cluster)
        kind = config.health_checker.get("type", TCP)
        if kind not in _TIMEOUTS:
            task.pending.clear()
            return
        timeout = _TIMEOUTS[kind]
        pending = task.pending
        while pending and self._room() > 0:
            instance, instance_state = pending.popleft()
            if instance_state.in_flight:
                continue
            self._tokens -= 1
            check_id = next(self._ids)
            instance_state.in_flight = True
            instance_state.healthy = instance.healthy
            self._in_flight[check_id] = _InFlight(task, instance.key, instance_state, kind, now_ms)
            self._counters["started"] += 1
            port = _port(kind, instance, config)
            out.append(Check(check_id, kind, instance.ip, port, timeout, config.health_checker))

    # --- verdicts and RT --------------------------------------------------------------------------

    def _verdict(
        self, instance_state: _InstanceState, healthy: bool, outcome: Outcome, task: _ClusterTask, key: str
    ) -> bool | None:
        """The new health after this result, or ``None`` to leave it (``HealthCheckCommon``)."""
        if not instance_state.settled:
            instance_state.settled = True
            task.unsettled.discard(key)
            return outcome is Outcome.OK
        check_times = self._state.switches.checkTimes
        if outcome is Outcome.OK:
            instance_state.fail_count = 0
            if not healthy:
                instance_state.ok_count += 1
                if instance_state.ok_count >= check_times:
                    return True
            return None
        instance_state.ok_count = 0
        if not healthy:
            return None
        if outcome is Outcome.FAIL_NOW:
            return False
        instance_state.fail_count += 1
        if instance_state.fail_count >= check_times:
            return False
        return None

    def _reevaluate(self, task: _ClusterTask, kind: str, rt: float) -> None:
        """Nacos ``reEvaluateCheckRT``: record the RT and move the period towards it, clamped."""
        high, low, factor = self._params(kind)
        rt_ms = int(rt)
        task.rt_last = rt_ms
        task.rt_worst = max(task.rt_worst, rt_ms)
        task.rt_best = min(task.rt_best, rt_ms)
        normalized = int(factor * task.rt_normalized + (1 - factor) * rt_ms)
        task.rt_normalized = int(max(low, min(high, normalized)))

    def _params(self, kind: str) -> tuple[float, float, float]:
        """(max, min, factor) of the checker type's period switch."""
        params = getattr(self._state.switches, _PARAMS_SWITCH.get(kind, "tcpHealthParams"))
        return float(params["max"]), float(params["min"]), float(params["factor"])

    def _owns(self, namespace: str, name: str) -> bool:
        members = self._state.members
        return members is None or members.is_owner(service_key(namespace, name))

    def _enabled(self, namespace: str, name: str) -> bool:
        switches = self._state.switches
        on = switches.healthCheckEnabled or name in switches.healthCheckWhiteList
        return on and self.should_check(namespace, name)

    def _room(self) -> int:
        return min(self._max_in_flight - len(self._in_flight), int(self._tokens))

    def _refill(self, now_ms: int) -> None:
        if self._tokens_ms is not None and now_ms > self._tokens_ms:
            self._tokens = min(
                float(self._burst), self._tokens + (now_ms - self._tokens_ms) * self._max_rate / 1000
            )
        if self._tokens_ms is None or now_ms > self._tokens_ms:
            self._tokens_ms = now_ms


def _meta(service: Service) -> ServiceMeta:
    meta = service.meta
    return meta if isinstance(meta, ServiceMeta) else ServiceMeta()


def _port(kind: str, instance: Instance, config: ClusterConfig) -> int:
    """The port checked: the instance's (always for MySQL), else the cluster's ``checkPort``."""
    if kind == MYSQL or config.use_instance_port:
        return instance.port
    return config.check_port
