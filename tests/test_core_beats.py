"""Unit tests of the compiled heartbeat table: strict thresholds, one report per transition, slots."""

from __future__ import annotations

import pytest

from nacosfast import limits
from nacosfast._core.beats import BEAT_OK, BEAT_REVIVED, BEAT_UNKNOWN, BeatTable

KEY = ("public", "DEFAULT_GROUP@@orders", "10.0.0.5:8080:unknown:DEFAULT")


def tracked(now: int = 0, timeout: int = 15_000, delete: int = 30_000) -> BeatTable:
    table = BeatTable()
    table.track(KEY, now, timeout, delete)
    return table


def test_beat_constants_are_the_documented_values() -> None:
    assert (BEAT_UNKNOWN, BEAT_OK, BEAT_REVIVED) == (0, 1, 2)


def test_beat_on_untracked_key_is_unknown() -> None:
    table = BeatTable()
    assert table.beat(KEY, 5) == BEAT_UNKNOWN
    assert KEY not in table
    assert len(table) == 0
    assert table.last_beat(KEY) is None
    assert table.is_healthy(KEY) is None


def test_beat_records_the_time_and_is_ok_while_healthy() -> None:
    table = tracked()
    assert table.beat(KEY, 4_000) == BEAT_OK
    assert table.last_beat(KEY) == 4_000
    assert table.is_healthy(KEY) is True


def test_sweep_unhealthy_threshold_is_strictly_greater() -> None:
    table = tracked(now=1_000)
    assert table.sweep(16_000) == ([], [])  # exactly 15 s: still healthy
    assert table.sweep(16_001) == ([KEY], [])
    assert table.is_healthy(KEY) is False


def test_sweep_expiry_threshold_is_strictly_greater() -> None:
    table = tracked(now=1_000)
    assert table.sweep(31_000) == ([KEY], [])  # exactly 30 s: unhealthy, not expired
    assert table.sweep(31_001) == ([], [KEY])
    assert KEY not in table
    assert table.beat(KEY, 31_002) == BEAT_UNKNOWN


def test_sweep_reports_each_transition_once() -> None:
    table = tracked()
    assert table.sweep(20_000) == ([KEY], [])
    assert table.sweep(25_000) == ([], [])
    assert table.sweep(40_000) == ([], [KEY])
    assert table.sweep(50_000) == ([], [])


def test_sweep_expired_key_is_not_also_listed_unhealthy() -> None:
    table = tracked()
    assert table.sweep(30_001) == ([], [KEY])


def test_beat_after_unhealthy_revives_once() -> None:
    table = tracked()
    table.sweep(15_001)
    assert table.beat(KEY, 15_002) == BEAT_REVIVED
    assert table.beat(KEY, 15_003) == BEAT_OK
    assert table.is_healthy(KEY) is True
    assert table.sweep(30_003) == ([], [])  # the last beat counts from 15_003


def test_track_unhealthy_is_revived_by_the_next_beat() -> None:
    table = BeatTable()
    table.track(KEY, 0, 15_000, 30_000, healthy=False)
    assert table.is_healthy(KEY) is False
    assert table.sweep(20_000) == ([], [])  # already reported unhealthy
    assert table.beat(KEY, 20_001) == BEAT_REVIVED


def test_track_again_resets_time_timeouts_and_health() -> None:
    table = tracked()
    table.sweep(16_000)
    table.track(KEY, 16_000, 1_000, 2_000)
    assert len(table) == 1
    assert table.is_healthy(KEY) is True
    assert table.last_beat(KEY) == 16_000
    assert table.sweep(17_001) == ([KEY], [])
    assert table.sweep(18_001) == ([], [KEY])


def test_untrack_reports_whether_the_key_was_tracked() -> None:
    table = tracked()
    assert table.untrack(KEY) is True
    assert table.untrack(KEY) is False
    assert table.sweep(10**9) == ([], [])


def test_set_timeouts_changes_one_key() -> None:
    table = tracked()
    table.track("other", 0, 15_000, 30_000)
    assert table.set_timeouts(KEY, 3_000, 6_000) is True
    assert table.set_timeouts("missing", 1, 2) is False
    assert table.sweep(3_001) == ([KEY], [])
    assert table.sweep(6_001) == ([], [KEY])
    assert "other" in table


def test_touch_all_resets_last_beat_but_not_reported_health() -> None:
    table = tracked()
    table.track("fresh", 0, 15_000, 30_000)
    table.sweep(15_001)  # both unhealthy
    table.touch_all(29_000)
    assert table.last_beat(KEY) == 29_000
    assert table.last_beat("fresh") == 29_000
    assert table.is_healthy(KEY) is False
    assert table.sweep(58_000) == ([], [])  # touched: not expired at the old deadline
    assert table.beat(KEY, 58_001) == BEAT_REVIVED


def test_per_key_timeouts_are_independent() -> None:
    table = BeatTable()
    table.track("short", 0, 1_000, 2_000)
    table.track("long", 0, 15_000, 30_000)
    assert table.sweep(1_001) == (["short"], [])
    assert table.sweep(2_001) == ([], ["short"])
    assert table.sweep(15_001) == (["long"], [])


def test_table_grows_past_capacity_hint_and_reuses_freed_slots() -> None:
    table = BeatTable(capacity_hint=1)
    for key in range(5_000):
        table.track(key, key, 10, 20)
    assert len(table) == 5_000
    for key in range(0, 5_000, 2):
        assert table.untrack(key)
    for key in range(5_000, 7_500):
        table.track(key, 10_000, 10, 20)
    assert len(table) == 5_000
    assert all(table.last_beat(key) == key for key in range(1, 5_000, 2))
    unhealthy, expired = table.sweep(10_015)
    assert set(unhealthy) == set(range(5_000, 7_500))
    assert len(unhealthy) == 2_500
    assert set(expired) == set(range(1, 5_000, 2))
    assert len(expired) == 2_500


def test_negative_capacity_hint_is_harmless() -> None:
    table = BeatTable(capacity_hint=-5)
    table.track(KEY, 0, 1, 2)
    assert KEY in table


@pytest.mark.parametrize("now", [limits.CORE_MAX_ABS_MS, -limits.CORE_MAX_ABS_MS])
def test_times_outside_the_safe_range_are_rejected(now: int) -> None:
    table = tracked()
    for call in (
        lambda: table.beat(KEY, now),
        lambda: table.sweep(now),
        lambda: table.touch_all(now),
        lambda: table.track("k", now, 1, 2),
    ):
        with pytest.raises(ValueError, match="out of range"):
            call()
    assert table.last_beat(KEY) == 0


@pytest.mark.parametrize(("timeout", "delete"), [(-1, 2), (1, -2), (limits.CORE_MAX_ABS_MS, 2)])
def test_timeouts_outside_the_safe_range_are_rejected(timeout: int, delete: int) -> None:
    table = tracked()
    with pytest.raises(ValueError, match="out of range"):
        table.track("k", 0, timeout, delete)
    with pytest.raises(ValueError, match="out of range"):
        table.set_timeouts(KEY, timeout, delete)
    assert "k" not in table


def test_extreme_but_valid_times_do_not_overflow() -> None:
    edge = limits.CORE_MAX_ABS_MS - 1
    table = BeatTable()
    table.track("k", -edge, edge, edge)
    assert table.sweep(edge) == ([], ["k"])


def test_unhashable_key_raises_type_error() -> None:
    table = BeatTable()
    with pytest.raises(TypeError):
        table.track([], 0, 1, 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        table.beat([], 0)  # type: ignore[arg-type]
    assert len(table) == 0
