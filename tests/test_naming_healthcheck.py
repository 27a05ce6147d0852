"""The health-check planner alone: schedule, verdicts, bounds, switches, gates (no sockets, no clock)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from nacosfast.cluster.members import MemberTable, service_key
from nacosfast.javaparse import LONG_MAX
from nacosfast.naming.app import NamingApp
from nacosfast.naming.healthcheck import (
    Check,
    HealthChecker,
    Outcome,
    http_outcome,
)
from nacosfast.naming.state import NamingState
from tests.instance_helpers import SERVICE, deregister, register
from tests.naming_helpers import MemoryJournal, RecordingPush, call, json_body

NAMESPACE = "public"
FIRST_ROUND_LATEST_MS = 2_000 + 5_000
"""The first round comes 2 s plus at most ``tcpHealthParams.max`` (5 s) after the cluster appears."""


def persistent(app: NamingApp, ip: str, port: int = 8080, **extra: Any) -> None:
    register(app, ip, port, ephemeral="false", **extra)


def put_cluster(app: NamingApp, checker: dict[str, Any], **extra: str) -> None:
    params = {
        "serviceName": SERVICE,
        "clusterName": "DEFAULT",
        "checkPort": "80",
        "useInstancePort4Check": "true",
        "healthChecker": json.dumps(checker),
        **extra,
    }
    response = call(app, "PUT", "/v1/ns/cluster", params)
    assert (response.status, response.body) == (200, b"ok")


def healthy(state: NamingState, ip: str, port: int = 8080) -> bool:
    service = state.registry.get(NAMESPACE, SERVICE)
    assert service is not None
    instance = service.get(f"{ip}:{port}:unknown:DEFAULT", False)
    assert instance is not None
    return instance.healthy


def first_round(checker: HealthChecker, start_ms: int = 0) -> tuple[int, list[Check]]:
    """Poll every 10 ms until the first checks come; (when, checks)."""
    for now in range(start_ms, start_ms + FIRST_ROUND_LATEST_MS + 20, 10):
        checks = checker.poll(now)
        if checks:
            return now, checks
    raise AssertionError("no first round within 2 s + tcpHealthParams.max")


def next_round(checker: HealthChecker, start_ms: int, limit_ms: int = 10_000) -> tuple[int, list[Check]]:
    for now in range(start_ms, start_ms + limit_ms, 10):
        checks = checker.poll(now)
        if checks:
            return now, checks
    raise AssertionError(f"no round within {limit_ms} ms of {start_ms}")


def report(checker: HealthChecker, checks: list[Check], outcome: Outcome, now_ms: int) -> None:
    for check in checks:
        checker.on_result(check.check_id, outcome, now_ms)


@pytest.fixture
def checker(naming_state: NamingState) -> HealthChecker:
    return HealthChecker(naming_state, rng=random.Random(7))


def test_http_outcome_follows_nacos_with_the_expected_code() -> None:
    assert http_outcome(200, 200) is Outcome.OK
    assert http_outcome(204, 204) is Outcome.OK
    assert http_outcome(200, 204) is Outcome.FAIL_NOW
    assert http_outcome(503, 200) is Outcome.BUSY
    assert http_outcome(302, 200) is Outcome.BUSY
    assert http_outcome(500, 200) is Outcome.FAIL_NOW
    assert http_outcome(404, 200) is Outcome.FAIL_NOW


def test_first_round_comes_after_two_seconds_plus_jitter(app: NamingApp, naming_state: NamingState) -> None:
    persistent(app, "10.0.0.1")
    firsts = set()
    for seed in range(20):
        when, checks = first_round(HealthChecker(naming_state, rng=random.Random(seed)))
        assert 2_000 <= when <= FIRST_ROUND_LATEST_MS
        assert [(c.kind, c.ip, c.port) for c in checks] == [("TCP", "10.0.0.1", 8080)]
        firsts.add(when)
    assert len(firsts) > 1  # jitter spreads clusters apart


def test_only_unmarked_persistent_instances_are_checked(app: NamingApp, checker: HealthChecker) -> None:
    persistent(app, "10.0.0.1")
    register(app, "10.0.0.2")  # ephemeral: beats, not checks
    _, checks = first_round(checker)
    assert [c.ip for c in checks] == ["10.0.0.1"]


def test_none_checker_checks_nothing(app: NamingApp, checker: HealthChecker) -> None:
    persistent(app, "10.0.0.1")
    put_cluster(app, {"type": "NONE"})
    assert all(checker.poll(now) == [] for now in range(0, 20_000, 100))


def test_check_port_and_settings_come_from_the_cluster(app: NamingApp, checker: HealthChecker) -> None:
    persistent(app, "10.0.0.1")
    checker_json = {"type": "HTTP", "path": "/ping", "headers": "a:b", "expectedResponseCode": 204}
    put_cluster(app, checker_json, checkPort="9090", useInstancePort4Check="false")
    _, checks = first_round(checker)
    (check,) = checks
    assert (check.kind, check.ip, check.port, check.timeout_ms) == ("HTTP", "10.0.0.1", 9090, 1_000)
    assert dict(check.settings) == checker_json


def test_mysql_always_checks_the_instance_port(app: NamingApp, checker: HealthChecker) -> None:
    persistent(app, "10.0.0.1", 3306)
    put_cluster(app, {"type": "MYSQL", "user": "u", "pwd": "p"}, checkPort="9090", useInstancePort4Check="f")
    _, checks = first_round(checker)
    assert [(c.kind, c.port) for c in checks] == [("MYSQL", 3306)]


def test_health_flips_after_check_times_failures_and_successes(
    app: NamingApp, naming_state: NamingState, checker: HealthChecker, push: RecordingPush
) -> None:
    persistent(app, "10.0.0.1")
    now, checks = first_round(checker)
    # Registered after the checker started: it follows Nacos's checkTimes from its registered health.
    for round_number in range(3):
        assert healthy(naming_state, "10.0.0.1"), round_number
        push.changed.clear()
        report(checker, checks, Outcome.FAIL, now + 5)
        now, checks = next_round(checker, now + 10)
    assert not healthy(naming_state, "10.0.0.1")
    assert push.changed == [(NAMESPACE, SERVICE)]
    for round_number in range(3):
        assert not healthy(naming_state, "10.0.0.1"), round_number
        report(checker, checks, Outcome.OK, now + 5)
        now, checks = next_round(checker, now + 10)
    assert healthy(naming_state, "10.0.0.1")
    assert checker.counters()["flips"] == 2


def test_a_success_resets_the_failure_count(
    app: NamingApp, naming_state: NamingState, checker: HealthChecker
) -> None:
    persistent(app, "10.0.0.1")
    now, checks = first_round(checker)
    for outcome in (Outcome.FAIL, Outcome.BUSY, Outcome.OK, Outcome.FAIL, Outcome.FAIL):
        report(checker, checks, outcome, now + 5)
        now, checks = next_round(checker, now + 10)
    assert healthy(naming_state, "10.0.0.1")
    report(checker, checks, Outcome.FAIL, now + 5)
    assert not healthy(naming_state, "10.0.0.1")


def test_check_times_switch_is_obeyed(
    app: NamingApp, naming_state: NamingState, checker: HealthChecker
) -> None:
    response = call(app, "PUT", "/v1/ns/operator/switches", {"entry": "healthCheckTimes", "value": "1"})
    assert response.status == 200
    persistent(app, "10.0.0.1")
    now, checks = first_round(checker)
    report(checker, checks, Outcome.BUSY, now + 5)
    assert not healthy(naming_state, "10.0.0.1")


def test_fail_now_flips_at_once_and_is_not_journaled(
    app: NamingApp, naming_state: NamingState, checker: HealthChecker, journal: MemoryJournal
) -> None:
    persistent(app, "10.0.0.1")
    records = len(journal.payloads)
    now, checks = first_round(checker)
    report(checker, checks, Outcome.FAIL_NOW, now + 5)
    assert not healthy(naming_state, "10.0.0.1")
    assert len(journal.payloads) == records


def test_results_show_in_the_instance_list(app: NamingApp, checker: HealthChecker) -> None:
    persistent(app, "10.0.0.1")
    persistent(app, "10.0.0.2")  # keeps the healthy ratio above the protect threshold
    now, checks = first_round(checker)
    down = [c for c in checks if c.ip == "10.0.0.1"]
    report(checker, down, Outcome.FAIL_NOW, now + 5)
    report(checker, [c for c in checks if c.ip == "10.0.0.2"], Outcome.OK, now + 5)
    hosts = json_body(call(app, "GET", "/v1/ns/instance/list", {"serviceName": SERVICE}))["hosts"]
    assert {h["ip"]: h["healthy"] for h in hosts} == {"10.0.0.1": False, "10.0.0.2": True}


def test_instances_present_at_start_take_their_first_result(
    app: NamingApp, naming_state: NamingState
) -> None:
    persistent(app, "10.0.0.1")
    persistent(app, "10.0.0.2", healthy="false")
    checker = HealthChecker(naming_state, rng=random.Random(1))  # "after a restart": both already there
    now, checks = first_round(checker)
    outcomes = {"10.0.0.1": Outcome.BUSY, "10.0.0.2": Outcome.OK}
    for check in checks:
        checker.on_result(check.check_id, outcomes[check.ip], now + 5)
    assert not healthy(naming_state, "10.0.0.1")
    assert healthy(naming_state, "10.0.0.2")
    # From then on, Nacos's rule: one failure does not flip it back.
    now, checks = next_round(checker, now + 10)
    report(checker, [c for c in checks if c.ip == "10.0.0.2"], Outcome.FAIL, now + 5)
    assert healthy(naming_state, "10.0.0.2")


def test_switch_off_stops_checks_and_the_white_list_keeps_a_service(
    app: NamingApp, naming_state: NamingState, checker: HealthChecker
) -> None:
    persistent(app, "10.0.0.1")
    naming_state.switches.healthCheckEnabled = False
    assert all(checker.poll(now) == [] for now in range(0, 15_000, 100))
    naming_state.switches.healthCheckWhiteList = [SERVICE]
    _, checks = next_round(checker, 15_000)
    assert [c.ip for c in checks] == ["10.0.0.1"]


def test_should_check_gates_the_service(app: NamingApp, naming_state: NamingState) -> None:
    persistent(app, "10.0.0.1")
    persistent(app, "10.0.0.9", service="DEFAULT_GROUP@@other")
    asked: set[tuple[str, str]] = set()

    def owner(namespace: str, service: str) -> bool:
        asked.add((namespace, service))
        return service == SERVICE

    checker = HealthChecker(naming_state, should_check=owner, rng=random.Random(3))
    seen = {c.ip for now in range(0, 20_000, 50) for c in checker.poll(now)}
    assert seen == {"10.0.0.1"}
    assert (NAMESPACE, "DEFAULT_GROUP@@other") in asked


def test_an_instance_still_being_checked_is_skipped(app: NamingApp, checker: HealthChecker) -> None:
    persistent(app, "10.0.0.1")
    now, _ = first_round(checker)
    before = checker.check_rt(NAMESPACE, SERVICE, "DEFAULT")
    assert before is not None
    for later in range(now + 10, now + 20_000, 10):
        assert checker.poll(later) == []
    assert checker.counters()["skipped_busy"] >= 1
    after = checker.check_rt(NAMESPACE, SERVICE, "DEFAULT")
    assert after is not None
    assert after.normalized == 5_000  # doubled towards the TCP max each skipped round


def test_in_flight_and_rate_bounds(app: NamingApp, naming_state: NamingState) -> None:
    for n in range(50):
        persistent(app, f"10.0.1.{n}")
    rng = random.Random(5)
    checker = HealthChecker(naming_state, max_in_flight=8, max_rate=1_000, rate_burst=20, rng=rng)
    now, checks = first_round(checker)
    assert len(checks) == 8  # the in-flight bound
    assert checker.poll(now) == []
    assert checker.waiting_for_slot
    assert checker.next_deadline_ms(now) is None  # nothing to do until a result frees a slot
    report(checker, checks, Outcome.OK, now)
    more = checker.poll(now)
    assert len(more) == 8
    report(checker, more, Outcome.OK, now)
    last = checker.poll(now)
    assert len(last) == 4  # the rate bound: a bucket of 20 tokens, 16 spent
    assert checker.in_flight == 4
    assert checker.next_deadline_ms(now) == now + 1  # one token a millisecond
    assert len(checker.poll(now + 5)) == 4  # five tokens, but four free slots


def test_round_time_adapts_to_response_times(app: NamingApp, checker: HealthChecker) -> None:
    persistent(app, "10.0.0.1")
    now, checks = first_round(checker)
    first = checker.check_rt(NAMESPACE, SERVICE, "DEFAULT")
    assert first is not None
    assert (first.best, first.worst) == (LONG_MAX, 0)
    times = []
    for _ in range(30):
        report(checker, checks, Outcome.OK, now + 3)  # a 3 ms answer
        nxt, checks = next_round(checker, now + 10)
        times.append(nxt - now)
        now = nxt
    rt = checker.check_rt(NAMESPACE, SERVICE, "DEFAULT")
    assert rt is not None
    assert (rt.best, rt.worst, rt.normalized) == (3, 3, 1_000)  # clamped to tcpHealthParams.min
    assert times[-1] == 1_000
    assert times[0] > times[-1]


def test_rt_service_shows_the_checked_clusters(
    app: NamingApp, naming_state: NamingState, checker: HealthChecker
) -> None:
    persistent(app, "10.0.0.1")
    assert naming_state.health_checks is checker
    now, checks = first_round(checker)
    report(checker, checks, Outcome.OK, now + 4)
    answer = json_body(call(app, "GET", "/v1/ns/catalog/rt/service", {"serviceName": SERVICE}))
    (cluster,) = answer["clusters"]
    assert (cluster["name"], cluster["checkRTBest"], cluster["checkRTWorst"]) == ("DEFAULT", 4, 4)
    assert 1_000 <= cluster["checkRTNormalized"] <= 7_000


def test_results_for_removed_or_changed_instances_are_ignored(
    app: NamingApp, naming_state: NamingState, checker: HealthChecker
) -> None:
    persistent(app, "10.0.0.1")
    persistent(app, "10.0.0.2")
    now, checks = first_round(checker)
    deregister(app, "10.0.0.1", ephemeral="false")
    put_cluster(app, {"type": "NONE"})
    report(checker, checks, Outcome.FAIL_NOW, now + 5)
    assert healthy(naming_state, "10.0.0.2")  # the checker changed while it ran
    checker.on_result(123_456, Outcome.FAIL_NOW, now)  # unknown ids are ignored


def test_tasks_follow_clusters_coming_and_going(app: NamingApp, checker: HealthChecker) -> None:
    persistent(app, "10.0.0.1")
    persistent(app, "10.0.0.2", clusterName="B")
    now, _ = first_round(checker)
    assert checker.counters()["clusters"] == 2
    deregister(app, "10.0.0.2", ephemeral="false", clusterName="B")
    checker.poll(now + 2_000)
    assert checker.counters()["clusters"] == 1
    assert checker.check_rt(NAMESPACE, SERVICE, "B") is None


def test_bounds_must_be_positive(naming_state: NamingState) -> None:
    with pytest.raises(ValueError, match="positive"):
        HealthChecker(naming_state, max_in_flight=0)


def test_ephemeral_only_services_cost_nothing(app: NamingApp, naming_state: NamingState) -> None:
    checker = HealthChecker(naming_state, rng=random.Random(8))
    for n in range(100):
        register(app, f"10.0.3.{n}", service=f"DEFAULT_GROUP@@eph{n}")
    assert checker.next_deadline_ms(0) is None  # nothing to look at, no timer
    assert checker.poll(0) == []
    assert checker.counters()["clusters"] == 0
    persistent(app, "10.0.0.1")
    assert checker.next_deadline_ms(0) == 0
    checker.poll(0)
    assert checker.counters()["clusters"] == 1


def test_a_write_with_persistent_instances_wakes_the_shell(app: NamingApp, naming_state: NamingState) -> None:
    checker = HealthChecker(naming_state, rng=random.Random(8))
    checker.poll(0)
    wakes: list[int] = []
    checker.set_wakeup(lambda: wakes.append(1))
    register(app, "10.0.3.1", service="DEFAULT_GROUP@@eph")
    assert wakes == []
    persistent(app, "10.0.0.1")
    persistent(app, "10.0.0.2")
    assert wakes == [1]  # once per batch of changes, not per write


def test_in_a_cluster_only_the_owner_checks(app: NamingApp, naming_state: NamingState) -> None:
    services = [f"DEFAULT_GROUP@@own{n}" for n in range(12)]
    for n, service in enumerate(services):
        persistent(app, f"10.0.4.{n}", service=service)
    me, other = "10.9.0.1:8848", "10.9.0.2:8848"
    naming_state.members = MemberTable(me, [other], 0)
    mine = {s for s in services if naming_state.members.is_owner(service_key(NAMESPACE, s))}
    assert 0 < len(mine) < len(services)  # the hash splits them between the two nodes
    checker = HealthChecker(naming_state, rng=random.Random(12))
    checked = {c.ip for now in range(0, 10_000, 50) for c in checker.poll(now)}
    assert checked == {f"10.0.4.{services.index(s)}" for s in mine}
