"""The sans-I/O push hub: subscribers, zombies, coalescing, packets, acks, retries, bounds."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nacosfast.limits import PUSH_MAX_ACK_BYTES, PUSH_SEQ_LIMIT
from nacosfast.naming.push import (
    Datagram,
    PushConfig,
    PushHub,
    decode_packet,
    encode_packet,
    parse_ack,
)

NS = "public"
SVC = "DEFAULT_GROUP@@orders"
JAVA_UA = "Nacos-Java-Client:v1.4.8"
NODE_UA = "Nacos-Java-Client:v1.0.0"


@dataclass
class FakeRender:
    """Renders an instance/list-like body from a settable host list, counting calls."""

    hosts: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    calls: int = 0
    fail_for: set[str] = field(default_factory=set)
    per_client: bool = False

    def __call__(self, namespace: str, service: str, clusters: str, agent: str, client_ip: str) -> bytes:
        self.calls += 1
        if client_ip in self.fail_for:
            raise RuntimeError("render failed")
        body: dict[str, Any] = {
            "hosts": self.hosts.get((namespace, service), []),
            "dom": service,
            "name": service,
            "cacheMillis": 10000,
            "lastRefTime": 1_700_000_000_000,
            "clusters": clusters,
        }
        if self.per_client:
            body["env"] = client_ip
        return json.dumps(body, separators=(",", ":")).encode()

    def set_hosts(self, count: int, namespace: str = NS, service: str = SVC) -> None:
        self.hosts[(namespace, service)] = [
            {"ip": f"10.0.{i // 250}.{i % 250}", "port": 8080, "healthy": True, "weight": 1.0}
            for i in range(count)
        ]


def make_hub(**config: Any) -> tuple[PushHub, FakeRender]:
    render = FakeRender()
    render.set_hosts(2)
    return PushHub(render, PushConfig(**config)), render


def sub(
    hub: PushHub,
    now: int,
    ip: str = "127.0.0.1",
    port: int = 40000,
    clusters: str = "",
    agent: str = JAVA_UA,
    service: str = SVC,
    namespace: str = NS,
    peer: str | None = None,
) -> None:
    """Subscribe ``ip:port``; the list request came from ``peer`` (default: ``ip`` itself)."""
    hub.subscribe(
        namespace, service, clusters, ip, port, agent, "app", "tid", now, peer_ip=ip if peer is None else peer
    )


def packet_json(datagram: Datagram) -> dict[str, Any]:
    """Parse a push packet the way the Java and Node clients do."""
    payload = datagram.payload
    text = gzip.decompress(payload) if payload[:2] == b"\x1f\x8b" else payload
    packet: dict[str, Any] = json.loads(text)
    return packet


def ack(seq: int, *, as_string: bool = True) -> bytes:
    """A Java-style (string) or Node-style (number) push-ack."""
    value: Any = str(seq) if as_string else seq
    return json.dumps({"type": "push-ack", "lastRefTime": value, "data": ""}).encode()


# --- subscribers ----------------------------------------------------------------------------------


def test_subscribe_adds_and_refreshes_one_subscriber() -> None:
    hub, _ = make_hub()
    sub(hub, 0)
    sub(hub, 5_000)
    assert hub.subscriber_count == 1
    [only] = hub.subscribers(NS, SVC)
    assert only.last_ref_ms == 5_000
    assert only.to_json() == {
        "addrStr": "127.0.0.1:40000",
        "agent": JAVA_UA,
        "app": "app",
        "ip": "127.0.0.1",
        "namespaceId": NS,
        "serviceName": SVC,
    }


def test_subscribe_keys_on_clusters_address_and_agent() -> None:
    hub, _ = make_hub()
    sub(hub, 0)
    sub(hub, 0, clusters="DEFAULT")
    sub(hub, 0, port=40001)
    sub(hub, 0, agent=NODE_UA + "x")
    sub(hub, 0, service="DEFAULT_GROUP@@other")
    assert len(hub.subscribers(NS, SVC)) == 4
    assert hub.subscriber_count == 5


@pytest.mark.parametrize(
    ("client_ip", "port"),
    [("push.example", 40000), ("127.0.0.1", 0), ("127.0.0.1", 65536), ("fe80::1%eth0", 1)],
)
def test_subscribe_refuses_unusable_targets(client_ip: str, port: int) -> None:
    hub, _ = make_hub()
    sub(hub, 0, ip=client_ip, port=port)
    assert hub.subscriber_count == 0
    assert hub.counters()["subscribe_rejected"] == 1


@pytest.mark.parametrize(
    ("client_ip", "target"),
    [("", "127.0.0.1"), ("  10.1.2.3 ", "10.1.2.3"), ("::FFFF:10.1.2.3", "10.1.2.3"), ("::1", "::1")],
)
def test_subscribe_normalizes_the_target_ip(client_ip: str, target: str) -> None:
    hub, _ = make_hub()
    sub(hub, 0, ip=client_ip)
    [only] = hub.subscribers(NS, SVC)
    assert only.addr == (target, 40000)


def test_packets_go_to_the_requesting_address_not_to_the_client_ip() -> None:
    hub, _ = make_hub(coalesce_ms=0)
    sub(hub, 0, ip="127.0.0.2", peer="127.0.0.1")  # a list naming clientIP=127.0.0.2, sent from .1
    hub.service_changed(NS, SVC, 0)
    [datagram] = hub.poll(0)
    assert datagram.addr == ("127.0.0.1", 40000)
    [only] = hub.subscribers(NS, SVC)
    assert (only.to_json()["ip"], only.addr_str) == ("127.0.0.2", "127.0.0.2:40000")  # still its name
    assert not hub.on_ack(ack(datagram.seq), "127.0.0.2", 40000, 1)  # only the pushed address acks
    assert hub.on_ack(ack(datagram.seq), "127.0.0.1", 40000, 1)


def test_the_same_client_ip_from_two_addresses_is_two_subscribers() -> None:
    hub, _ = make_hub(coalesce_ms=0)
    sub(hub, 0, ip="10.0.0.5", peer="127.0.0.1")
    sub(hub, 0, ip="10.0.0.5", peer="127.0.0.3")  # cannot redirect the first one's packets
    hub.service_changed(NS, SVC, 0)
    assert sorted(datagram.addr for datagram in hub.poll(0)) == [("127.0.0.1", 40000), ("127.0.0.3", 40000)]


def test_push_to_client_ip_sends_where_the_client_ip_says() -> None:
    hub, _ = make_hub(coalesce_ms=0, push_to_client_ip=True)
    sub(hub, 0, ip="127.0.0.2", peer="127.0.0.1")
    sub(hub, 0, ip="127.0.0.2", peer="127.0.0.3")  # the same subscriber, as in Nacos
    assert hub.subscriber_count == 1
    hub.service_changed(NS, SVC, 0)
    [datagram] = hub.poll(0)
    assert datagram.addr == ("127.0.0.2", 40000)


def test_subscribe_refuses_oversized_fields() -> None:
    hub, _ = make_hub(max_field_length=32)
    sub(hub, 0, clusters="c" * 33)
    sub(hub, 0, agent="a" * 33)
    assert hub.subscriber_count == 0
    sub(hub, 0, clusters="c" * 32)
    assert hub.subscriber_count == 1


def test_subscriber_table_is_bounded_and_makes_room_from_zombies() -> None:
    hub, _ = make_hub(max_subscribers=3)
    for port in (1, 2, 3, 4):
        sub(hub, 0, port=port)
    assert hub.subscriber_count == 3
    assert hub.counters()["subscribe_rejected"] == 1
    sub(hub, 10_001, port=5)  # the first three are zombies now: swept to make room
    assert [s.port for s in hub.subscribers(NS, SVC)] == [5]


def test_fuzzy_subscribers_match_name_and_group_substrings() -> None:
    hub, _ = make_hub()
    sub(hub, 0, service="DEFAULT_GROUP@@orders-api")
    sub(hub, 0, service="G2@@orders")
    sub(hub, 0, service="DEFAULT_GROUP@@billing")
    found = {s.service for s in hub.subscribers_fuzzy(NS, "orders")}
    assert found == {"DEFAULT_GROUP@@orders-api"}
    # Substring matches, as Nacos: group "G" is in "DEFAULT_GROUP" too.
    assert {s.service for s in hub.subscribers_fuzzy(NS, "G@@ord")} == {
        "G2@@orders",
        "DEFAULT_GROUP@@orders-api",
    }
    assert {s.service for s in hub.subscribers_fuzzy(NS, "G2@@ord")} == {"G2@@orders"}


# --- zombies ----------------------------------------------------------------------------------------


def test_zombie_rule_is_strictly_greater_than_the_window() -> None:
    hub, _ = make_hub(coalesce_ms=0)
    sub(hub, 0)
    hub.service_changed(NS, SVC, 10_000)
    assert len(hub.poll(10_000)) == 1  # exactly 10 s since the poll: still alive
    sub(hub, 10_000, port=40001)
    hub.service_changed(NS, SVC, 10_001)
    sent = hub.poll(10_001)
    assert [d.addr[1] for d in sent] == [40001]  # 10.001 s: a zombie, skipped
    assert hub.counters()["zombies_skipped"] == 1


def test_zombies_are_swept_on_the_sweep_period_and_their_packets_fail() -> None:
    hub, _ = make_hub(coalesce_ms=0, sweep_ms=20_000)
    sub(hub, 0)
    hub.service_changed(NS, SVC, 0)
    [first] = hub.poll(0)
    assert hub.counters()["pending"] == 1
    assert hub.next_deadline_ms(0) == 10_000  # the resend comes before the sweep
    hub.poll(19_999)
    assert hub.subscriber_count == 1
    hub.poll(20_000)
    counters = hub.counters()
    assert hub.subscriber_count == 0
    assert counters["zombies_swept"] == 1
    assert counters["pending"] == 0
    assert counters["failed"] == 1
    assert not hub.on_ack(ack(first.seq), "127.0.0.1", 40000, 20_000)


def test_change_to_a_service_without_subscribers_is_ignored() -> None:
    hub, _ = make_hub()
    hub.service_changed(NS, SVC, 0)
    assert hub.next_deadline_ms(0) is None
    assert hub.counters()["dirty"] == 0


# --- coalescing ---------------------------------------------------------------------------------------


def test_changes_within_the_window_become_one_packet_per_subscriber() -> None:
    hub, render = make_hub(coalesce_ms=50)
    for port in range(40000, 40010):
        sub(hub, 0, port=port)
    woken: list[int] = []
    hub.set_wakeup(lambda: woken.append(1))
    for t in range(0, 50, 5):
        hub.service_changed(NS, SVC, 100 + t)
    assert woken == [1]  # one wake-up for the first change only
    assert hub.next_deadline_ms(100) == 150
    assert hub.poll(149) == []
    sent = hub.poll(150)
    assert sorted(d.addr[1] for d in sent) == list(range(40000, 40010))
    assert render.calls == 10
    assert hub.poll(150) == []
    # A change after the flush schedules a new one.
    hub.service_changed(NS, SVC, 151)
    assert hub.next_deadline_ms(151) == 201


def test_subscribers_with_the_same_list_share_one_encoded_packet() -> None:
    hub, _ = make_hub(coalesce_ms=0)
    for port in range(40000, 40005):
        sub(hub, 0, port=port)
    hub.service_changed(NS, SVC, 0)
    sent = hub.poll(0)
    assert len(sent) == 5
    assert len({d.seq for d in sent}) == 1
    assert len({id(d.payload) for d in sent}) == 1


def test_one_address_with_two_subscriptions_gets_distinct_sequence_numbers() -> None:
    hub, _ = make_hub(coalesce_ms=0)
    sub(hub, 0, agent=JAVA_UA)
    sub(hub, 0, agent=NODE_UA)  # same address, same clusters: the same rendered list
    sub(hub, 0, clusters="DEFAULT")
    hub.service_changed(NS, SVC, 0)
    sent = hub.poll(0)
    assert len(sent) == 3
    assert len({d.seq for d in sent}) == 3
    for datagram in sent:
        assert hub.on_ack(ack(datagram.seq), *datagram.addr, 1)
    assert hub.counters()["pending"] == 0


def test_poll_respects_its_budget_and_reports_remaining_work() -> None:
    hub, _ = make_hub(coalesce_ms=0)
    for port in range(1, 26):
        sub(hub, 0, port=port)
    hub.service_changed(NS, SVC, 0)
    batches = []
    while (deadline := hub.next_deadline_ms(0)) is not None and deadline <= 0:
        batches.append(len(hub.poll(0, budget=10)))
    assert batches == [10, 10, 5]


def test_dirty_services_are_bounded_and_overflow_drops_the_oldest() -> None:
    hub, _ = make_hub(coalesce_ms=10, max_dirty_services=2)
    for name in ("a", "b", "c"):
        sub(hub, 0, service=name)
        hub.service_changed(NS, name, 0)
    assert hub.counters()["dropped"] == 1
    sent = hub.poll(10)
    assert len(sent) == 2  # "a" was dropped: its subscriber will poll


def test_foreign_clock_cannot_stall_the_dirty_queue() -> None:
    hub, _ = make_hub(coalesce_ms=50)
    sub(hub, 0)
    hub.service_changed(NS, SVC, 10**12)  # a caller on another clock
    assert hub.next_deadline_ms(1_000) == 1_050
    assert len(hub.poll(1_000)) == 1


# --- packets --------------------------------------------------------------------------------------


def test_packet_is_the_nacos_dom_packet_with_data_as_a_json_string() -> None:
    hub, render = make_hub(coalesce_ms=0)
    sub(hub, 0, clusters="DEFAULT")
    hub.service_changed(NS, SVC, 0)
    [datagram] = hub.poll(0)
    packet = packet_json(datagram)
    assert set(packet) == {"type", "data", "lastRefTime"}
    assert packet["type"] == "dom"
    assert isinstance(packet["data"], str)
    assert packet["lastRefTime"] == datagram.seq
    assert json.loads(packet["data"]) == json.loads(render(NS, SVC, "DEFAULT", JAVA_UA, "127.0.0.1"))
    assert datagram.addr == ("127.0.0.1", 40000)


def test_packet_keeps_non_ascii_text_intact() -> None:
    body = json.dumps({"name": "服务", "hosts": [{"metadata": {"k": 'quote " and \\ slash'}}]}).encode()
    packet = json.loads(encode_packet(body, 7))
    assert json.loads(packet["data"]) == json.loads(body)


def _body_for_packet_size(size: int, seq: int) -> bytes:
    base = len(encode_packet(b'{"p":""}', seq, gzip_min_bytes=10**9))
    body = b'{"p":"' + b"x" * (size - base) + b'"}'
    assert len(encode_packet(body, seq, gzip_min_bytes=10**9)) == size
    return body


def test_gzip_starts_at_exactly_1024_bytes() -> None:
    below = encode_packet(_body_for_packet_size(1023, 12345), 12345)
    at = encode_packet(_body_for_packet_size(1024, 12345), 12345)
    assert below[:1] == b"{"
    assert len(below) == 1023
    assert at[:2] == b"\x1f\x8b"
    assert json.loads(gzip.decompress(at))["lastRefTime"] == 12345
    assert decode_packet(at) == gzip.decompress(at)


def test_large_lists_are_gzipped_by_the_hub() -> None:
    hub, render = make_hub(coalesce_ms=0)
    render.set_hosts(50)
    sub(hub, 0)
    hub.service_changed(NS, SVC, 0)
    [datagram] = hub.poll(0)
    assert datagram.payload[:2] == b"\x1f\x8b"
    assert len(json.loads(packet_json(datagram)["data"])["hosts"]) == 50


def test_a_packet_too_large_for_udp_fails_without_sending() -> None:
    hub, render = make_hub(coalesce_ms=0, max_datagram_bytes=200, gzip_min_bytes=10**9)
    render.set_hosts(20)
    sub(hub, 0)
    hub.service_changed(NS, SVC, 0)
    assert hub.poll(0) == []
    counters = hub.counters()
    assert (counters["oversize"], counters["failed"], counters["total"], counters["pending"]) == (1, 1, 1, 0)


def test_a_failing_render_skips_only_that_subscriber() -> None:
    hub, render = make_hub(coalesce_ms=0)
    render.fail_for.add("10.0.0.9")
    sub(hub, 0, ip="10.0.0.9")
    sub(hub, 0, ip="10.0.0.8")
    hub.service_changed(NS, SVC, 0)
    sent = hub.poll(0)
    assert [d.addr[0] for d in sent] == ["10.0.0.8"]
    assert hub.counters()["render_errors"] == 1


def test_sequence_numbers_stay_below_2_to_the_53() -> None:
    hub, _ = make_hub(coalesce_ms=0, first_seq=PUSH_SEQ_LIMIT - 1)
    sub(hub, 0)
    seqs: list[int] = []
    for t in (0, 1, 2):
        hub.service_changed(NS, SVC, t)
        seqs.extend(d.seq for d in hub.poll(t))
    assert seqs == [PUSH_SEQ_LIMIT - 1, 1, 2]


def test_seed_sequence_applies_only_before_the_first_packet() -> None:
    hub, _ = make_hub(coalesce_ms=0)
    hub.seed_sequence(1_000_000)
    sub(hub, 0)
    hub.service_changed(NS, SVC, 0)
    assert hub.poll(0)[0].seq == 1_000_000
    hub.seed_sequence(5)
    hub.service_changed(NS, SVC, 1)
    assert hub.poll(1)[0].seq == 1_000_001


# --- acks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"type": "push-ack", "lastRefTime":"42", "data":""}', 42),  # Java's exact text
        (b'{"type":"push-ack","lastRefTime":"42","data":""}', 42),
        (b'{"type":"push-ack","lastRefTime":42,"data":""}', 42),  # Node
        (b'{"type":"unknown-ack","lastRefTime":42,"data":""}', 42),  # Nacos does not check the type
        (b'{"lastRefTime":4.2e1}', 42),
        (b'{"type":"push-ack","lastRefTime":"4 2"}', None),
        (b'{"type":"push-ack","lastRefTime":true}', None),
        (b'{"type":"push-ack","lastRefTime":4.5}', None),
        (b'{"type":"push-ack","lastRefTime":-1}', None),
        (b'{"type":"push-ack","lastRefTime":9007199254740992}', None),
        (b'{"type":"push-ack"}', None),
        (b"[42]", None),
        (b"not json", None),
        (b"\xff\xfe", None),
        (b"\x1f\x8bbroken", None),
        (b'{"lastRefTime":"' + b"1" * 5000 + b'"}', None),
    ],
)
def test_parse_ack(text: bytes, expected: int | None) -> None:
    assert parse_ack(text) == expected


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_parse_ack_deeply_nested_json_is_not_an_ack(opener: bytes) -> None:
    """A hostile datagram within the ack size limit must not raise (RecursionError) in the receiver."""
    depth = (PUSH_MAX_ACK_BYTES - 2) // (len(opener) + 1)
    datagram = opener * depth + b"1" + (b"]" if opener == b"[" else b"}") * depth
    assert len(datagram) <= PUSH_MAX_ACK_BYTES
    assert parse_ack(datagram) is None


@settings(max_examples=300, deadline=None)
@given(
    seq=st.one_of(st.integers(-5, 2**60), st.text("0123456789 x", max_size=20)),
    kind=st.sampled_from(["push-ack", "unknown-ack", "dump-ack", ""]),
    space=st.sampled_from(["", " ", "\n\t ", "\r"]),
)
def test_parse_ack_fast_path_agrees_with_the_json_decoder(seq: int | str, kind: str, space: str) -> None:
    sep = f"{space},{space}"
    common = f'{space}{{{space}"type"{space}:{space}"{kind}"{sep}"lastRefTime"{space}:{space}'
    value = json.dumps(seq)
    canonical = f'{common}{value}{sep}"data"{space}:{space}""{space}}}{space}'.encode()
    # An extra key takes the same ack off the fast path, through json.loads.
    decoded = f'{common}{value}{sep}"data"{space}:{space}""{sep}"x":0{space}}}{space}'.encode()
    assert parse_ack(canonical) == parse_ack(decoded)


def test_parse_ack_accepts_a_gzipped_ack() -> None:
    assert parse_ack(gzip.compress(b'{"type":"push-ack","lastRefTime":"9"}')) == 9


def _one_pending(**config: Any) -> tuple[PushHub, Datagram]:
    hub, _ = make_hub(coalesce_ms=0, **config)
    sub(hub, 0)
    hub.service_changed(NS, SVC, 0)
    [datagram] = hub.poll(0)
    return hub, datagram


@pytest.mark.parametrize("as_string", [True, False])
def test_ack_from_the_pushed_address_settles_the_packet(as_string: bool) -> None:
    hub, datagram = _one_pending()
    assert hub.on_ack(ack(datagram.seq, as_string=as_string), "127.0.0.1", 40000, 3)
    counters = hub.counters()
    assert (counters["acked"], counters["pending"], counters["succeed"], counters["total"]) == (1, 0, 1, 1)
    assert counters["ratio"] == 1.0
    assert counters["ack_rtt_max_ms"] == 3
    assert hub.poll(10_000) == []  # nothing left to resend
    assert not hub.on_ack(ack(datagram.seq), "127.0.0.1", 40000, 4)  # a duplicate ack


@pytest.mark.parametrize(("ip", "port"), [("127.0.0.2", 40000), ("127.0.0.1", 40001)])
def test_ack_from_another_address_is_ignored(ip: str, port: int) -> None:
    hub, datagram = _one_pending()
    assert not hub.on_ack(ack(datagram.seq), ip, port, 1)
    counters = hub.counters()
    assert (counters["acks_unmatched"], counters["pending"]) == (1, 1)


def test_invalid_acks_are_counted_and_dropped() -> None:
    hub, _ = _one_pending()
    assert not hub.on_ack(b"garbage", "127.0.0.1", 40000, 1)
    assert hub.counters()["acks_invalid"] == 1
    assert hub.counters()["pending"] == 1


# --- retries ---------------------------------------------------------------------------------------


def test_nacos_schedule_resends_at_10s_and_gives_up_at_20s() -> None:
    hub, first = _one_pending()
    assert hub.next_deadline_ms(0) == 10_000
    assert hub.poll(9_999) == []
    [again] = hub.poll(10_000)
    assert again == first  # the same bytes, the same sequence number
    assert hub.next_deadline_ms(10_000) == 20_000
    assert hub.poll(19_999) == []
    assert hub.poll(20_000) == []
    counters = hub.counters()
    assert (counters["sent"], counters["retried"], counters["gave_up"], counters["failed"]) == (2, 1, 1, 1)
    assert (counters["total"], counters["succeed"], counters["pending"]) == (1, 0, 0)
    assert not hub.on_ack(ack(first.seq), "127.0.0.1", 40000, 20_001)  # too late


def test_retry_schedule_is_configurable() -> None:
    hub, _ = _one_pending(retry_ms=1_000, give_up_ms=3_500)
    sends = [t for t in range(0, 5_000, 250) if hub.poll(t)]
    assert sends == [1_000, 2_000, 3_000]
    assert hub.counters()["gave_up"] == 1


def test_no_resend_when_retry_is_zero() -> None:
    hub, _ = _one_pending(retry_ms=0, give_up_ms=5_000)
    assert hub.next_deadline_ms(0) == 5_000
    assert hub.poll(5_000) == []
    assert hub.counters()["failed"] == 1


def test_late_ack_between_resend_and_give_up_still_counts() -> None:
    hub, first = _one_pending()
    hub.poll(10_000)
    assert hub.on_ack(ack(first.seq), "127.0.0.1", 40000, 15_000)
    assert hub.poll(20_000) == []
    counters = hub.counters()
    assert (counters["acked"], counters["failed"], counters["ack_rtt_max_ms"]) == (1, 0, 5_000)


def test_newer_change_supersedes_the_pending_packet() -> None:
    hub, first = _one_pending()
    hub.service_changed(NS, SVC, 100)
    [second] = hub.poll(100)
    assert second.seq != first.seq
    assert not hub.on_ack(ack(first.seq), "127.0.0.1", 40000, 101)
    assert hub.poll(10_000) == []  # the old packet is never resent
    [resent] = hub.poll(10_100)
    assert resent.seq == second.seq
    assert hub.on_ack(ack(second.seq), "127.0.0.1", 40000, 10_101)
    counters = hub.counters()
    assert (counters["superseded"], counters["acked"], counters["total"], counters["pending"]) == (1, 1, 2, 0)


def test_permanent_send_failure_fails_the_packet_now() -> None:
    hub, datagram = _one_pending()
    hub.send_failed(datagram, 1, permanent=True)
    counters = hub.counters()
    assert (counters["failed"], counters["pending"], counters["send_errors"]) == (1, 0, 1)
    assert hub.poll(10_000) == []


def test_transient_send_failure_is_left_to_the_retry() -> None:
    hub, datagram = _one_pending()
    hub.send_failed(datagram, 1, permanent=False)
    assert hub.counters()["pending"] == 1
    assert hub.poll(10_000) == [datagram]


def test_periodic_repush_resends_latest_state_to_unacked_subscribers() -> None:
    hub, render = make_hub(coalesce_ms=0, repeat_ms=10_000)
    sub(hub, 0, port=1)
    sub(hub, 0, port=2)
    hub.service_changed(NS, SVC, 0)
    first = {d.addr[1]: d for d in hub.poll(0)}
    assert hub.on_ack(ack(first[2].seq), "127.0.0.1", 2, 1)
    hub.poll(10_000)  # resend to port 1
    for t in (5_000, 15_000):  # keep both subscribers alive
        sub(hub, t, port=1)
        sub(hub, t, port=2)
    assert hub.poll(20_000) == []  # port 1 given up
    assert hub.next_deadline_ms(20_000) == 30_000
    render.set_hosts(3)
    sub(hub, 25_000, port=1)
    [again] = hub.poll(30_000)
    assert again.addr == ("127.0.0.1", 1)
    assert again.seq not in {d.seq for d in first.values()}
    assert len(json.loads(packet_json(again)["data"])["hosts"]) == 3  # the latest state
    assert hub.counters()["repushed"] == 1
    assert hub.on_ack(ack(again.seq), "127.0.0.1", 1, 30_001)
    assert hub.counters()["unacked_subscribers"] == 0


def test_no_periodic_repush_by_default() -> None:
    hub, _ = _one_pending()
    hub.poll(10_000)
    hub.poll(20_000)
    sub(hub, 20_000)
    assert hub.next_deadline_ms(20_000) == 40_000  # only the next zombie sweep
    assert hub.poll(40_000) == []


# --- push state -------------------------------------------------------------------------------------


def test_push_state_has_the_nacos_shape_with_detail_and_reset() -> None:
    hub, datagram = _one_pending()
    assert hub.push_state() == {"succeed": 0, "total": 1, "ratio": 0.0, "reset": False}
    state = hub.push_state(detail=True, reset=True)
    [text] = state["data"]
    assert json.loads(text)["lastRefTime"] == datagram.seq
    assert state["reset"] is True
    assert hub.on_ack(ack(datagram.seq), "127.0.0.1", 40000, 1)
    assert hub.push_state() == {"succeed": 1, "total": 1, "ratio": 1.0, "reset": False}


def test_push_state_ratio_is_zero_before_any_push() -> None:
    hub, _ = make_hub()
    assert hub.push_state() == {"succeed": 0, "total": 0, "ratio": 0, "reset": False}


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="give_up_ms"):
        PushConfig(give_up_ms=0)
    with pytest.raises(ValueError, match="coalesce_ms"):
        PushConfig(coalesce_ms=-1)
    with pytest.raises(ValueError, match="first_seq"):
        PushConfig(first_seq=PUSH_SEQ_LIMIT)


# --- bounds under churn -------------------------------------------------------------------------------


def test_flood_of_never_acking_subscribers_keeps_tables_flat() -> None:
    """Subscribers at closed ports never ack; state must stay proportional to live subscribers."""
    hub, _ = make_hub(coalesce_ms=10)
    peak: dict[str, int] = {}
    now = 0
    for cycle in range(45):  # 45 × 1 s, fresh subscriber ports every 5 s
        base = 10_000 + (cycle // 5) * 200
        for port in range(base, base + 200):
            sub(hub, now, port=port)
        for step in range(4):
            now = cycle * 1_000 + step * 250
            hub.service_changed(NS, SVC, now)
            hub.poll(now + 10, budget=10_000)
        sizes = hub.debug_sizes()
        for name, value in sizes.items():
            peak[name] = max(peak.get(name, 0), value)
    # At most 7 generations of 200 are held (a 10 s zombie window plus the 20 s sweep period).
    assert peak["subscribers"] <= 1_400
    assert hub.counters()["zombies_swept"] > 0
    assert peak["acks"] <= peak["subscribers"]
    assert peak["timers"] <= 2 * peak["acks"] + 1_100  # stale timer entries are compacted
    assert peak["dirty"] <= 1
    counters = hub.counters()
    assert counters["superseded"] > 0
    assert (
        counters["total"]
        == counters["acked"] + counters["failed"] + counters["pending"] + counters["superseded"]
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["subscribe", "change", "ack", "wrong-ack", "advance", "poll"]),
            st.integers(0, 3),
            st.integers(0, 12_000),
        ),
        max_size=80,
    )
)
def test_random_operations_keep_the_bookkeeping_consistent(ops: list[tuple[str, int, int]]) -> None:
    hub, _ = make_hub(coalesce_ms=20, repeat_ms=7_000, sweep_ms=5_000)
    now = 0
    sent: list[Datagram] = []
    services = ["s0", "s1"]
    for op, n, amount in ops:
        if op == "subscribe":
            sub(hub, now, port=40000 + n, service=services[n % 2])
        elif op == "change":
            hub.service_changed(NS, services[n % 2], now)
        elif op == "ack" and sent:
            datagram = sent[n % len(sent)]
            hub.on_ack(ack(datagram.seq), *datagram.addr, now)
        elif op == "wrong-ack" and sent:
            assert not hub.on_ack(ack(sent[-1].seq), "127.0.0.9", 1, now)
        elif op == "advance":
            now += amount
        else:
            sent.extend(hub.poll(now, budget=1 + n))
        counters = hub.counters()
        assert counters["total"] == (
            counters["acked"] + counters["failed"] + counters["pending"] + counters["superseded"]
        )
        assert counters["pending"] <= counters["subscribers"]
        deadline = hub.next_deadline_ms(now)
        assert deadline is None or deadline >= 0
    # Driving the hub to quiescence always terminates and leaves nothing in flight.
    for _ in range(1_000):
        deadline = hub.next_deadline_ms(now)
        if deadline is None:
            break
        now = max(now, deadline)
        hub.poll(now)
    assert hub.next_deadline_ms(now) is None
    assert hub.counters()["pending"] == 0
