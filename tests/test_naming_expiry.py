"""Beat expiry and empty-service cleanup (compatibility.md §8.2–8.3), driven with plain integer clocks."""

from __future__ import annotations

import json

from nacosfast._core.registry import Instance
from nacosfast.limits import EMPTY_SERVICE_CLEAN_PERIOD_MS, REAPER_PERIOD_MS
from nacosfast.naming import effects, expiry
from nacosfast.naming.app import NamingApp
from nacosfast.naming.journal import replay
from nacosfast.naming.meta import DEFAULT_SERVICE_META, ServiceMeta
from nacosfast.naming.state import NamingState
from tests.instance_helpers import BEAT_PATH, SERVICE, hosts, register
from tests.naming_helpers import MemoryJournal, RecordingPush, call

KEY = "10.0.0.1:8080:unknown:DEFAULT"


def _health(state: NamingState, key: str = KEY, *, service: str = SERVICE) -> bool | None:
    """The instance's health, or ``None`` once it is gone."""
    snapshot = state.registry.get("public", service)
    instance = snapshot.get(key, True) if snapshot is not None else None
    return None if instance is None else instance.healthy


def _beat(app: NamingApp, now_ms: int, port: int = 8080) -> None:
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": port}
    assert call(app, "PUT", BEAT_PATH, params, now_ms=now_ms).status == 200


def test_expiry_unhealthy_after_15s_removed_after_30s_one_push_each(
    app: NamingApp, naming_state: NamingState, push: RecordingPush
) -> None:
    register(app, now_ms=0)
    assert len(push.changed) == 1
    expiry.sweep(naming_state, 14_900)
    assert _health(naming_state) is True
    expiry.sweep(naming_state, 15_000)  # strictly more than the timeout
    assert _health(naming_state) is True
    expiry.sweep(naming_state, 15_100)
    assert _health(naming_state) is False
    assert len(push.changed) == 2
    for now_ms in range(16_000, 30_001, REAPER_PERIOD_MS):
        expiry.sweep(naming_state, now_ms)
    assert _health(naming_state) is False
    assert len(push.changed) == 2
    expiry.sweep(naming_state, 30_100)
    assert _health(naming_state) is None
    assert len(push.changed) == 3
    assert push.changed == [("public", SERVICE)] * 3
    assert effects.beat_key("public", SERVICE, KEY) not in naming_state.beats
    expiry.sweep(naming_state, 40_000)
    assert len(push.changed) == 3


def test_expiry_straight_to_removal_pushes_once(
    app: NamingApp, naming_state: NamingState, push: RecordingPush
) -> None:
    register(app, now_ms=0)
    expiry.sweep(naming_state, 31_000)  # a late reaper: past both timeouts at once
    assert _health(naming_state) is None
    assert len(push.changed) == 2


def test_expiry_preserved_metadata_overrides_timeouts(app: NamingApp, naming_state: NamingState) -> None:
    timeouts = '{"preserved.heart.beat.timeout":"3000","preserved.ip.delete.timeout":"6000"}'
    register(app, now_ms=0, metadata=timeouts)
    register(app, port=1, now_ms=0, metadata='{"preserved.heart.beat.timeout":"3s"}')  # not digits: 15 s
    expiry.sweep(naming_state, 3_001)
    assert _health(naming_state) is False
    assert _health(naming_state, "10.0.0.1:1:unknown:DEFAULT") is True
    expiry.sweep(naming_state, 6_001)
    assert _health(naming_state) is None
    expiry.sweep(naming_state, 15_001)
    assert _health(naming_state, "10.0.0.1:1:unknown:DEFAULT") is False


def test_expiry_beats_keep_an_instance_alive(app: NamingApp, naming_state: NamingState) -> None:
    register(app, now_ms=0)
    for now_ms in range(5_000, 60_001, 5_000):
        _beat(app, now_ms)
        expiry.sweep(naming_state, now_ms + 4_999)
        assert _health(naming_state) is True


def test_expiry_beat_revives_then_timer_restarts(
    app: NamingApp, naming_state: NamingState, push: RecordingPush
) -> None:
    register(app, now_ms=0)
    expiry.sweep(naming_state, 20_000)
    assert _health(naming_state) is False
    _beat(app, 25_000)
    assert _health(naming_state) is True
    assert len(push.changed) == 3
    expiry.sweep(naming_state, 40_000)
    assert _health(naming_state) is True
    expiry.sweep(naming_state, 40_001)
    assert _health(naming_state) is False
    expiry.sweep(naming_state, 55_001)
    assert _health(naming_state) is None


def test_expiry_reregistration_restarts_the_timer(app: NamingApp, naming_state: NamingState) -> None:
    register(app, now_ms=0)
    register(app, now_ms=10_000)
    expiry.sweep(naming_state, 24_000)
    assert _health(naming_state) is True
    expiry.sweep(naming_state, 25_001)
    assert _health(naming_state) is False


def test_expiry_never_touches_persistent_instances(
    app: NamingApp, naming_state: NamingState, push: RecordingPush
) -> None:
    register(app, now_ms=0, ephemeral="false")
    expiry.sweep(naming_state, 10 * 60_000)
    assert [h["healthy"] for h in hosts(app)] == [True]
    assert len(push.changed) == 1


def test_expiry_never_touches_marked_instances(naming_state: NamingState) -> None:
    marked = Instance("10.0.0.1", 8080, marked=True)
    naming_state.registry.put_instance("public", SERVICE, marked, DEFAULT_SERVICE_META)
    effects.track(naming_state, "public", SERVICE, marked, 0)
    assert len(naming_state.beats) == 0
    expiry.sweep(naming_state, 60_000)
    assert _health(naming_state) is True


def test_expiry_pauses_while_health_checks_are_off(app: NamingApp, naming_state: NamingState) -> None:
    register(app, now_ms=0)
    naming_state.switches.healthCheckEnabled = False
    expiry.sweep(naming_state, 40_000)
    assert _health(naming_state) is True
    naming_state.switches.healthCheckEnabled = True
    expiry.sweep(naming_state, 40_001)
    assert _health(naming_state) is None


def test_expiry_follows_metadata_batch_timeouts(app: NamingApp, naming_state: NamingState) -> None:
    register(app, now_ms=0)
    params = {
        "serviceName": SERVICE,
        "consistencyType": "ephemeral",
        "metadata": '{"preserved.heart.beat.timeout":"2000"}',
    }
    assert call(app, "PUT", "/v1/ns/instance/metadata/batch", params).status == 200
    expiry.sweep(naming_state, 2_001)
    assert _health(naming_state) is False


def test_expiry_ignores_a_beat_key_whose_instance_is_gone(naming_state: NamingState) -> None:
    naming_state.beats.track(effects.beat_key("public", SERVICE, KEY), 0, 15_000, 30_000)
    naming_state.beats.track("not-a-tuple", 0, 15_000, 30_000)
    expiry.sweep(naming_state, 15_001)
    expiry.sweep(naming_state, 30_001)
    assert naming_state.registry.service_count == 0
    assert len(naming_state.beats) == 0


# --- empty services --------------------------------------------------------------------------------


def _run(state: NamingState, start_ms: int, end_ms: int) -> None:
    for now_ms in range(start_ms, end_ms + 1, REAPER_PERIOD_MS):
        expiry.sweep(state, now_ms)


def test_empty_service_removed_on_the_fifth_empty_check(app: NamingApp, naming_state: NamingState) -> None:
    register(app, now_ms=0)
    call(app, "DELETE", "/v1/ns/instance", {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080})
    register(app, service="G@@busy", ephemeral="false")
    expiry.sweep(naming_state, 0)  # schedules the first check one period later
    period = EMPTY_SERVICE_CLEAN_PERIOD_MS
    _run(naming_state, REAPER_PERIOD_MS, 4 * period)
    assert naming_state.registry.get("public", SERVICE) is not None
    assert naming_state.empty_services[("public", SERVICE)][1] == 4
    _run(naming_state, 4 * period + REAPER_PERIOD_MS, 5 * period)
    assert naming_state.registry.get("public", SERVICE) is None
    assert naming_state.registry.get("public", "G@@busy") is not None
    assert naming_state.empty_services == {}


def test_empty_service_count_restarts_after_a_write(app: NamingApp, naming_state: NamingState) -> None:
    register(app, now_ms=0)
    call(app, "DELETE", "/v1/ns/instance", {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080})
    expiry.sweep(naming_state, 0)
    period = EMPTY_SERVICE_CLEAN_PERIOD_MS
    _run(naming_state, REAPER_PERIOD_MS, 3 * period)
    register(app, now_ms=3 * period + 10)
    call(app, "DELETE", "/v1/ns/instance", {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080})
    _run(naming_state, 3 * period + REAPER_PERIOD_MS, 7 * period)
    assert naming_state.registry.get("public", SERVICE) is not None
    _run(naming_state, 7 * period + REAPER_PERIOD_MS, 8 * period)
    assert naming_state.registry.get("public", SERVICE) is None


def test_empty_service_never_removed_within_a_minute(naming_state: NamingState) -> None:
    revision = naming_state.registry.set_meta("public", SERVICE, DEFAULT_SERVICE_META).service.revision
    naming_state.empty_services[("public", SERVICE)] = (revision, 10, 0)
    assert expiry.clean_empty_services(naming_state, 59_999) == []
    assert expiry.clean_empty_services(naming_state, 60_000) == [("public", SERVICE)]


def test_empty_persisted_service_removal_is_journaled(
    naming_state: NamingState, journal: MemoryJournal
) -> None:
    naming_state.registry.set_meta("public", SERVICE, ServiceMeta(persisted=True))
    for check in range(5):
        expiry.clean_empty_services(naming_state, check * EMPTY_SERVICE_CLEAN_PERIOD_MS)
    assert naming_state.registry.get("public", SERVICE) is None
    assert [json.loads(p)["deleted"] for p in journal.payloads] == [True]
    fresh = NamingState(push=RecordingPush(), journal=MemoryJournal())
    fresh.registry.set_meta("public", SERVICE, ServiceMeta(persisted=True))
    replay(fresh, journal.payloads)
    assert fresh.registry.get("public", SERVICE) is None


def test_empty_service_cleanup_keeps_services_with_instances(
    app: NamingApp, naming_state: NamingState
) -> None:
    register(app, ephemeral="false")
    for check in range(10):
        expiry.clean_empty_services(naming_state, check * EMPTY_SERVICE_CLEAN_PERIOD_MS)
    assert naming_state.registry.get("public", SERVICE) is not None
    assert naming_state.empty_services == {}
