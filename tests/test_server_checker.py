"""The check task with the planner, on virtual time: deadlines, the in-flight bound, flips over time.

Probes here are Trio functions that sleep and answer as the test says (no real I/O, so
``autojump_clock`` is safe); the real probes are tested against real servers in
``test_server_checker_probes`` and end to end in ``test_server_healthcheck_e2e``.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import trio
import trio.testing

from nacosfast.naming.app import NamingApp
from nacosfast.naming.healthcheck import Check, HealthChecker, Outcome
from nacosfast.naming.state import NamingState
from nacosfast.server.checker import Probe, run_checks
from tests.instance_helpers import SERVICE, register

FLIP_DEADLINE_S = 20.0
"""The issue's bound: a changed target is seen within 20 s."""
POLL_S = 0.05


def healthy_flags(state: NamingState) -> dict[str, bool]:
    service = state.registry.get("public", SERVICE)
    assert service is not None
    return {i.ip: i.healthy for i in service.instances(ephemeral=False)}


def probe_from(answer: Callable[[Check], Outcome], delay_s: float = 0.001) -> Probe:
    async def probe(check: Check) -> tuple[Outcome, str]:
        await trio.sleep(delay_s)
        return answer(check), "fake"

    return probe


def start_checks(checker: HealthChecker, probe: Probe) -> Callable[..., Awaitable[None]]:
    """``run_checks`` with ``probe`` for TCP, for ``nursery.start``."""

    async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await run_checks(checker, probes={"TCP": probe}, task_status=task_status)

    return run


async def wait_for(state: NamingState, ip: str, healthy: bool) -> float:
    """Virtual seconds until ``ip`` has the given health (fails after FLIP_DEADLINE_S)."""
    start = trio.current_time()
    with trio.fail_after(FLIP_DEADLINE_S):
        for _ in range(int(FLIP_DEADLINE_S / POLL_S) + 1):
            if healthy_flags(state)[ip] == healthy:
                break
            await trio.sleep(POLL_S)
    return trio.current_time() - start


async def test_flips_both_ways_within_the_deadline_on_virtual_time(
    autojump_clock: trio.testing.MockClock, app: NamingApp, naming_state: NamingState
) -> None:
    up = {"10.0.0.1": True}
    probe = probe_from(lambda check: Outcome.OK if up[check.ip] else Outcome.FAIL_NOW)
    checker = HealthChecker(naming_state, rng=random.Random(11))
    async with trio.open_nursery() as nursery:
        await nursery.start(start_checks(checker, probe))
        await trio.sleep(5)  # the task idles with nothing to check
        register(app, "10.0.0.1", ephemeral="false")  # the write wakes it
        await trio.sleep(10)
        assert checker.counters()["ok"] >= 1
        assert healthy_flags(naming_state)["10.0.0.1"]
        up["10.0.0.1"] = False
        down_after = await wait_for(naming_state, "10.0.0.1", False)
        up["10.0.0.1"] = True
        up_after = await wait_for(naming_state, "10.0.0.1", True)
        nursery.cancel_scope.cancel()
    # The period starts at the first delay and moves towards the response time (a FailNow pushes it
    # towards the TCP max, 5 s): refused is seen at the next round, recovery takes checkTimes rounds.
    assert down_after <= 5.2
    assert 2.0 <= up_after <= 3 * 5.2


async def test_a_probe_that_hangs_is_a_timeout(
    autojump_clock: trio.testing.MockClock, app: NamingApp, naming_state: NamingState
) -> None:
    checker = HealthChecker(naming_state, rng=random.Random(2))
    register(app, "10.0.0.1", ephemeral="false")  # registered while running: checkTimes applies
    register(app, "10.0.0.2", ephemeral="false")
    probe = probe_from(lambda check: Outcome.OK, delay_s=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(start_checks(checker, probe))
        await wait_for(naming_state, "10.0.0.1", False)  # three timeouts (BUSY) in a row
        nursery.cancel_scope.cancel()
    counters = checker.counters()
    assert counters["failed"] >= 6  # both instances, three rounds
    assert counters["ok"] == 0
    rt = checker.check_rt("public", SERVICE, "DEFAULT")
    assert rt is not None
    assert rt.normalized == 5_000  # timeouts push the period to the TCP max


async def test_in_flight_checks_never_exceed_the_bound(
    autojump_clock: trio.testing.MockClock, app: NamingApp, naming_state: NamingState
) -> None:
    for n in range(40):
        register(app, f"10.0.2.{n}", ephemeral="false")
    running = 0
    most = 0

    async def probe(check: Check) -> tuple[Outcome, str]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await trio.sleep(0.2)
        finally:
            running -= 1
        return Outcome.OK, "slow"

    checker = HealthChecker(naming_state, max_in_flight=5, rng=random.Random(4))
    async with trio.open_nursery() as nursery:
        await nursery.start(start_checks(checker, probe))
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert most == 5
    assert checker.counters()["ok"] >= 40  # every instance got checked, five at a time


async def test_a_failing_planner_does_not_kill_the_task(
    autojump_clock: trio.testing.MockClock, app: NamingApp, naming_state: NamingState
) -> None:
    register(app, "10.0.0.1", ephemeral="false")
    checker = HealthChecker(naming_state, rng=random.Random(9))
    calls = 0
    real_poll = checker.poll

    def flaky_poll(now_ms: int) -> list[Check]:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError("planner bug")
        return real_poll(now_ms)

    checker.poll = flaky_poll  # type: ignore[method-assign]
    probe = probe_from(lambda check: Outcome.OK)
    async with trio.open_nursery() as nursery:
        await nursery.start(start_checks(checker, probe))
        await trio.sleep(20)
        nursery.cancel_scope.cancel()
    assert checker.counters()["ok"] > 0
