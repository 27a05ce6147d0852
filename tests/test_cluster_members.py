"""MemberTable: states from reports and silence, the healthy list, ownership, version and stability."""

from __future__ import annotations

from collections import Counter

import pytest
from xxhash import xxh3_64_intdigest

from nacosfast.cluster.member_list import check_address, parse_member_list
from nacosfast.cluster.members import DOWN, SUSPICIOUS, UP, MemberTable, MemberTimings, service_key

A, B, C = "10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"
TIMINGS = MemberTimings(
    report_interval_ms=2_000, suspicious_after_ms=5_000, down_after_ms=9_000, fail_limit=3, settle_ms=10_000
)


def table(now_ms: int = 0, me: str = A) -> MemberTable:
    return MemberTable(me, [A, B, C], now_ms, TIMINGS)


def state_of(members: MemberTable, address: str) -> str:
    member = members.get(address)
    assert member is not None
    return member.state


def test_members_start_up_sorted_with_self_and_peers() -> None:
    members = table(me=B)
    assert members.healthy_addresses() == (A, B, C)
    assert members.peers() == (A, C)
    assert members.others() == (A, C)
    assert [member.state for member in members.members()] == [UP, UP, UP]


def test_members_self_is_added_and_always_healthy() -> None:
    members = MemberTable(A, [B], 0, TIMINGS)
    assert members.healthy_addresses() == (A, B)
    members.tick(60_000, 1)
    assert members.healthy_addresses() == (A,)  # no reachable peer: the self-beat keeps A healthy
    assert state_of(members, A) == UP
    assert members.is_owner(service_key("public", "DEFAULT_GROUP@@svc"))


def test_members_silence_makes_suspicious_then_down_and_a_report_up_again() -> None:
    members = table()
    version = members.version
    members.tick(4_999, 1)
    assert state_of(members, B) == UP
    members.on_report(B, 3_000, 3)
    members.tick(5_000, 2)
    assert (state_of(members, B), state_of(members, C)) == (UP, SUSPICIOUS)
    assert members.healthy_addresses() == (A, B, C)  # SUSPICIOUS still counts, as in Nacos
    members.on_report(B, 8_000, 3)
    members.tick(9_000, 3)
    assert state_of(members, C) == DOWN
    assert members.healthy_addresses() == (A, B)
    assert members.version == version + 2
    assert members.on_report(C, 9_500, 4, "1.4.8")
    member = members.get(C)
    assert member is not None
    assert (member.state, member.last_report_wall_ms, member.version) == (UP, 4, "1.4.8")
    assert members.healthy_addresses() == (A, B, C)


def test_members_failures_and_refusals() -> None:
    members = table()
    members.on_failure(B, 10)
    assert state_of(members, B) == SUSPICIOUS
    members.on_failure(B, 20)
    members.on_failure(B, 30)
    assert state_of(members, B) == DOWN
    members.on_failure(C, 40, refused=True)
    assert state_of(members, C) == DOWN
    members.on_failure(A, 50, refused=True)  # never itself
    assert members.healthy_addresses() == (A,)
    assert not members.on_report("10.9.9.9:1", 60, 1)  # unknown senders are not members


def test_members_stable_only_after_the_settle_window() -> None:
    members = table(now_ms=1_000)
    assert not members.stable(10_999)
    assert members.stable(11_000)
    members.on_failure(B, 12_000)
    assert not members.stable(21_999)
    assert members.stable(22_000)
    members.on_report(B, 22_000, 1)  # UP again: a change
    assert not members.stable(22_001)
    members.on_report(B, 23_000, 1)  # no change
    assert members.stable(32_000)


def test_members_set_members_adds_and_removes_but_keeps_self() -> None:
    members = table()
    version = members.version
    assert members.set_members([B, "10.0.0.4:8848"], 5)
    assert members.healthy_addresses() == (A, B, "10.0.0.4:8848")
    assert members.version == version + 1
    assert not members.set_members([A, B, "10.0.0.4:8848"], 6)
    assert members.version == version + 1


def test_members_ownership_is_xxh3_modulo_the_sorted_healthy_list() -> None:
    tables = [MemberTable(me, [C, A, B], 0, TIMINGS) for me in (A, B, C)]
    keys = [service_key("public", f"DEFAULT_GROUP@@svc{index}") for index in range(3_000)]
    for key in keys:
        owner = (A, B, C)[xxh3_64_intdigest(key.encode()) % 3]
        assert {members.owner_of(key) for members in tables} == {owner}
        assert [members.is_owner(key) for members in tables] == [me == owner for me in (A, B, C)]
    spread = Counter(tables[0].owner_of(key) for key in keys)
    assert min(spread.values()) > 800  # each member owns about a third
    # The namespace is part of the key (unlike Nacos, which hashes the name only).
    owners = {tables[0].owner_of(service_key(f"ns{index}", "DEFAULT_GROUP@@svc")) for index in range(50)}
    assert owners == {A, B, C}


def test_member_timings_are_checked() -> None:
    with pytest.raises(ValueError, match="report interval"):
        MemberTimings(report_interval_ms=10, suspicious_after_ms=5, down_after_ms=20)
    with pytest.raises(ValueError, match="at least 1"):
        MemberTimings(report_interval_ms=0)


def test_member_list_parses_nacos_cluster_conf() -> None:
    text = "# members\n10.0.0.2:8848\r\n10.0.0.1 # no port\n\n10.0.0.3:9000,10.0.0.2:8848\nhost-a:1\n"
    assert parse_member_list(text) == ("10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:9000", "host-a:1")
    assert parse_member_list("") == ()
    for bad in ("10.0.0.1:0", "10.0.0.1:99999", "10.0.0.1:x", ":80", "a b:1", "http://x:1"):
        with pytest.raises(ValueError, match="member"):
            parse_member_list(bad)
    assert check_address("h", 7) == "h:7"


def test_members_a_stalled_node_does_not_judge_its_peers_by_the_stall() -> None:
    members = table()
    members.tick(1_000, 1)
    members.tick(41_000, 2)  # this node did not run for 40 s: its peers' silence says nothing
    assert members.healthy_addresses() == (A, B, C)
    assert state_of(members, B) == UP
    members.tick(46_000, 3)  # but silence after the resume counts
    assert state_of(members, B) == SUSPICIOUS
