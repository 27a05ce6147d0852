"""The client SDK's sans-I/O core: model, HTTP framing, API calls, server list, beat schedule, host
reactor, push packets and the disk cache — plain functions of input and ``now_ms``."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from nacosfast.client import api, diskcache
from nacosfast.client.api import BeatReply, InstanceSpec
from nacosfast.client.beats import BeatAction, BeatSchedule
from nacosfast.client.errors import InvalidResponse
from nacosfast.client.hosts import HostReactor, TooManyServices
from nacosfast.client.httpwire import HttpProtocolError, ResponseReader, encode_request
from nacosfast.client.model import Instance, ServiceInfo, diff, grouped_name, pick_weighted, select
from nacosfast.client.pushwire import PushDecodeError, ack_for, decode_push
from nacosfast.client.servers import (
    Address,
    ServerList,
    parse_address,
    parse_addresses,
    parse_endpoint_answer,
)


def host(ip: str, port: int = 8080, **fields: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "ip": ip,
        "port": port,
        "valid": True,
        "healthy": True,
        "marked": False,
        "instanceId": f"{ip}#{port}#DEFAULT#DEFAULT_GROUP@@orders",
        "metadata": {},
        "enabled": True,
        "weight": 1.0,
        "clusterName": "DEFAULT",
        "serviceName": "DEFAULT_GROUP@@orders",
        "ephemeral": True,
    }
    entry.update(fields)
    return entry


def answer(*hosts: dict[str, object], last_ref_time: int = 1000, clusters: str = "") -> dict[str, object]:
    return {
        "hosts": list(hosts),
        "dom": "DEFAULT_GROUP@@orders",
        "name": "DEFAULT_GROUP@@orders",
        "cacheMillis": 10000,
        "lastRefTime": last_ref_time,
        "checksum": "0" * 32,
        "useSpecifiedURL": False,
        "clusters": clusters,
        "env": "",
        "metadata": {},
    }


def info(*hosts: dict[str, object], last_ref_time: int = 1000) -> ServiceInfo:
    return ServiceInfo.from_json(answer(*hosts, last_ref_time=last_ref_time))


# --- model ----------------------------------------------------------------------------------------------


def test_model_reads_a_list_answer_and_strips_the_group_from_java_style_service_names() -> None:
    parsed = info(host("10.0.0.1", metadata={"k": 1}), host("10.0.0.2", healthy=False))
    assert parsed.key == "DEFAULT_GROUP@@orders"
    assert (parsed.group, parsed.service) == ("DEFAULT_GROUP", "orders")
    assert [item.ip for item in parsed.hosts] == ["10.0.0.1", "10.0.0.2"]
    assert parsed.hosts[0].service == "orders"
    assert parsed.hosts[0].metadata == {"k": "1"}
    assert ServiceInfo.decode(parsed.encode()) == parsed


def test_model_reads_the_unknown_service_answer_without_last_ref_time() -> None:
    parsed = ServiceInfo.decode(b'{"name":"G@@gone","clusters":"a,b","cacheMillis":3000,"hosts":[]}')
    assert (parsed.key, parsed.hosts, parsed.last_ref_time) == ("G@@gone@@a,b", (), 0)


@pytest.mark.parametrize(
    "body",
    [b"[]", b"{}", b'{"name":"x","hosts":{}}', b'{"name":"x","hosts":[{"ip":1,"port":2}]}', b"nope"],
)
def test_model_rejects_what_is_not_a_list_answer(body: bytes) -> None:
    with pytest.raises(InvalidResponse):
        ServiceInfo.decode(body)


def test_model_diff_reports_added_removed_and_modified_by_ip_port_cluster() -> None:
    old = info(host("10.0.0.1"), host("10.0.0.2"), host("10.0.0.3")).hosts
    new = info(host("10.0.0.1"), host("10.0.0.2", weight=2.0), host("10.0.0.4"))
    change = diff(old, new)
    assert change is not None
    assert [item.ip for item in change.added] == ["10.0.0.4"]
    assert [item.ip for item in change.removed] == ["10.0.0.3"]
    assert [(item.ip, item.weight) for item in change.modified] == [("10.0.0.2", 2.0)]
    assert diff(new.hosts, new) is None


def test_model_select_keeps_enabled_positive_weight_instances_of_the_asked_health() -> None:
    hosts = info(
        host("10.0.0.1"),
        host("10.0.0.2", healthy=False),
        host("10.0.0.3", enabled=False),
        host("10.0.0.4", weight=0.0),
    ).hosts
    assert [item.ip for item in select(hosts, healthy=True)] == ["10.0.0.1"]
    assert [item.ip for item in select(hosts, healthy=False)] == ["10.0.0.2"]


def test_model_weighted_pick_follows_the_weights() -> None:
    hosts = info(
        host("10.0.0.1", weight=1.0), host("10.0.0.2", weight=3.0), host("10.0.0.3", weight=0.0)
    ).hosts
    rng = random.Random(12)
    counts = Counter(chosen.ip for chosen in (pick_weighted(hosts, rng) for _ in range(4000)) if chosen)
    assert set(counts) == {"10.0.0.1", "10.0.0.2"}
    assert 2.5 < counts["10.0.0.2"] / counts["10.0.0.1"] < 3.5
    assert pick_weighted([], rng) is None


def test_model_grouped_names_follow_the_server_rule() -> None:
    assert grouped_name("orders", "G") == "G@@orders"
    assert grouped_name("X@@orders", "G") == "X@@orders"
    assert grouped_name("orders", "") == "DEFAULT_GROUP@@orders"


# --- HTTP framing ---------------------------------------------------------------------------------------


def test_http_request_puts_params_in_the_query_or_a_form_body() -> None:
    query = encode_request("GET", "/p", {"a": "1 2", "b": "@@"}, "h:1", {"User-Agent": "x"})
    assert query.startswith(b"GET /p?a=1+2&b=%40%40 HTTP/1.1\r\nHost: h:1\r\n")
    assert b"User-Agent: x\r\n" in query
    assert query.endswith(b"\r\n\r\n")
    form = encode_request("PUT", "/p", {"beat": "{}"}, "h:1", {}, form=True)
    head, _, body = form.partition(b"\r\n\r\n")
    assert body == b"beat=%7B%7D"
    assert b"Content-Length: 11" in head
    assert b"Content-Length: 0" in encode_request("POST", "/p", {"a": "1"}, "h", {})


def test_http_reader_reads_content_length_chunked_and_close_delimited_answers() -> None:
    reader = ResponseReader()
    assert reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no") is None
    response = reader.feed(b"k")
    assert response is not None
    assert (response.status, response.body, response.keep_alive) == (
        200,
        b"ok",
        True,
    )

    chunked = ResponseReader().feed(
        b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
    )
    assert chunked is not None
    assert (chunked.status, chunked.body) == (500, b"ab")

    closing = ResponseReader()
    assert closing.feed(b"HTTP/1.0 200 OK\r\n\r\nlines\n") is None
    eof = closing.feed_eof()
    assert (eof.body, eof.keep_alive) == (b"lines\n", False)

    refused = ResponseReader().feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert refused is not None
    assert not refused.keep_alive


def test_http_reader_refuses_garbage_oversize_and_truncation() -> None:
    with pytest.raises(HttpProtocolError):
        ResponseReader().feed(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(HttpProtocolError):
        ResponseReader(max_body_bytes=3).feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd")
    truncated = ResponseReader()
    truncated.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    with pytest.raises(HttpProtocolError):
        truncated.feed_eof()
    silent = ResponseReader()
    assert not silent.started
    with pytest.raises(HttpProtocolError):
        silent.feed_eof()


# --- API calls ------------------------------------------------------------------------------------------


def test_api_calls_carry_the_java_client_parameters() -> None:
    spec = InstanceSpec("G@@orders", "10.0.0.1", 8080, "c1", 2.5, metadata={"k": "v"})
    register = api.register("ns", spec)
    assert (register.method, register.path) == ("POST", "/nacos/v1/ns/instance")
    assert register.params["serviceName"] == "G@@orders"
    assert register.params["groupName"] == "G"
    assert register.params["namespaceId"] == "ns"
    assert register.params["clusterName"] == "c1"
    assert json.loads(register.params["metadata"]) == {"k": "v"}
    assert register.params["weight"] == "2.5"
    full = api.beat("ns", spec, 5000, light=False)
    assert full.form
    assert full.method == "PUT"
    assert full.path.endswith("/instance/beat")
    beat = json.loads(full.params["beat"])
    assert (beat["ip"], beat["port"], beat["cluster"], beat["serviceName"]) == (
        "10.0.0.1",
        8080,
        "c1",
        "G@@orders",
    )
    assert "beat" not in api.beat("ns", spec, 5000, light=True).params
    listing = api.list_instances("ns", "G@@orders", "c1", udp_port=4000, client_ip="127.0.0.1")
    assert (listing.params["udpPort"], listing.params["clientIP"]) == ("4000", "127.0.0.1")
    assert "udpPort" not in api.list_instances("ns", "G@@orders", "").params


def test_api_decodes_beat_replies_service_pages_and_metrics() -> None:
    assert api.decode_beat_reply(
        b'{"clientBeatInterval":3000,"code":10200,"lightBeatEnabled":true}'
    ) == BeatReply(3000, 10200, light_beat_enabled=True)
    assert api.decode_beat_reply(b'{"clientBeatInterval":5000,"code":20404}').code == 20404
    assert api.decode_beat_reply(b"ok").code == 10200
    with pytest.raises(InvalidResponse):
        api.decode_beat_reply(b"[1]")
    assert api.decode_service_page(b'{"doms":["a","b"],"count":7}') == api.ServicePage(7, ("a", "b"))
    assert api.decode_metrics_up(b'{"status":"UP"}')
    assert not api.decode_metrics_up(b'{"status":"DOWN"}')


# --- server list ----------------------------------------------------------------------------------------


def test_servers_parse_addresses_with_default_ports() -> None:
    assert parse_addresses("a, b:1,a,[::1]:9, http://c:2/x") == [
        Address("a", 8848),
        Address("b", 1),
        Address("::1", 9),
        Address("c", 2),
    ]
    assert parse_address("::1") == Address("::1", 8848)
    for bad in ("a:b:c", "h:0", "h:x", ":80", ""):
        with pytest.raises(ValueError, match=r"."):
            parse_address(bad)
    assert parse_endpoint_answer(b"10.0.0.1:8848\r\n10.0.0.2\r\n<html>\r\n\r\n") == [
        Address("10.0.0.1", 8848),
        Address("10.0.0.2", 8848),
    ]


def test_servers_rotate_from_the_last_good_one() -> None:
    servers = ServerList(parse_addresses("a,b,c"), rng=random.Random(0))
    first = servers.order()
    assert sorted(first) == sorted(parse_addresses("a,b,c"))
    assert len(first) == 3
    servers.succeeded(first[2])
    assert servers.order()[0] == first[2]
    assert servers.order()[1:] == [first[0], first[1]] or servers.order()[1:] == [first[1], first[0]]


def test_servers_refresh_from_the_endpoint_every_period_and_keep_the_list_when_it_fails() -> None:
    servers = ServerList([], endpoint=Address("addr", 8080), refresh_ms=30_000)
    assert servers.order() == []
    assert servers.refresh_due(0)
    assert servers.refreshed(parse_addresses("a,b"), now_ms=0)
    assert not servers.refresh_due(29_999)
    assert servers.refresh_due(30_000)
    assert not servers.refreshed(None, now_ms=30_000)
    assert not servers.refreshed([], now_ms=60_000)
    assert servers.servers == tuple(parse_addresses("a,b"))
    assert servers.refreshed(parse_addresses("c"), now_ms=90_000)
    assert servers.order() == parse_addresses("c")
    with pytest.raises(ValueError, match="at least one"):
        ServerList([])


# --- beat schedule --------------------------------------------------------------------------------------


def test_beats_follow_the_server_interval_and_light_beat_advice() -> None:
    schedule = BeatSchedule()
    spec = InstanceSpec("G@@s", "10.0.0.1", 80)
    key = schedule.add(spec, now_ms=0)
    assert schedule.due(4_999) == []
    assert schedule.next_deadline_ms() == 5_000
    [(due_key, entry)] = schedule.due(5_000)
    assert due_key == key
    first_light = entry.light
    assert schedule.due(10_000) == []
    action = schedule.on_reply(key, entry.generation, BeatReply(2_000, 10200, light_beat_enabled=True), 5_010)
    assert action is BeatAction.NOTHING
    assert (first_light, entry.light) == (False, True)
    assert schedule.next_deadline_ms() == 7_010


def test_beats_ask_for_a_register_on_20404_and_fall_back_to_full_beats_on_failure() -> None:
    schedule = BeatSchedule()
    key = schedule.add(InstanceSpec("G@@s", "10.0.0.1", 80), now_ms=0)
    [(_, entry)] = schedule.due(5_000)
    reply = BeatReply(5_000, api.RESOURCE_NOT_FOUND, light_beat_enabled=True)
    assert schedule.on_reply(key, entry.generation, reply, 5_000) is BeatAction.REGISTER
    assert not entry.light
    assert entry.registers == 1
    [(_, entry)] = schedule.due(10_000)
    entry.light = True
    schedule.on_failure(key, entry.generation, 10_000)
    assert not entry.light
    assert schedule.next_deadline_ms() == 15_000


def test_beats_use_the_metadata_interval_and_ignore_replies_for_removed_instances() -> None:
    schedule = BeatSchedule()
    spec = InstanceSpec("G@@s", "10.0.0.1", 80, metadata={"preserved.heart.beat.interval": "1000"})
    key = schedule.add(spec, now_ms=0)
    [(_, entry)] = schedule.due(1_000)
    schedule.remove(key)
    assert schedule.on_reply(key, entry.generation, BeatReply(0, 20404, False), 1_000) is BeatAction.NOTHING
    assert schedule.next_deadline_ms() is None
    assert len(schedule) == 0


# --- host reactor ---------------------------------------------------------------------------------------


def test_hosts_apply_only_newer_data_and_ignore_pushes_for_services_not_in_use() -> None:
    reactor = HostReactor()
    key = reactor.track("DEFAULT_GROUP@@orders", "", now_ms=0)
    assert reactor.apply(info(host("10.0.0.1"), last_ref_time=10), from_push=True).persist
    older = reactor.apply(info(host("10.0.0.2"), last_ref_time=5), from_push=True)
    assert older.change is None
    assert not older.persist
    assert reactor.stale_ignored == 1
    newer = reactor.apply(info(host("10.0.0.1"), host("10.0.0.2"), last_ref_time=20), from_push=True)
    assert newer.change is not None
    assert [item.ip for item in newer.change.added] == ["10.0.0.2"]
    same = reactor.apply(info(host("10.0.0.1"), host("10.0.0.2"), last_ref_time=30))
    assert same.change is None
    assert not same.persist
    cached = reactor.read(key)
    assert cached is not None
    assert cached.last_ref_time == 30
    reactor.untrack(key)
    assert not reactor.apply(info(last_ref_time=40), from_push=True).persist


def test_hosts_poll_every_cache_millis_and_back_off_without_ever_giving_up() -> None:
    reactor = HostReactor()
    key = reactor.track("DEFAULT_GROUP@@orders", "", now_ms=0)
    [(due_key, _)] = reactor.due(0)
    assert due_key == key
    assert reactor.due(0) == []
    reactor.polled(key, info(host("10.0.0.1")), now_ms=0)
    assert reactor.next_deadline_ms() == 10_000
    delays = []
    now = 10_000
    for _ in range(9):
        assert [found for found, _ in reactor.due(now)] == [key]
        delay = reactor.poll_failed(key, now)
        delays.append(delay)
        now += delay
    assert delays == [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]
    reactor.due(now)
    reactor.polled(key, info(host("10.0.0.1"), last_ref_time=2000), now)
    assert reactor.next_deadline_ms() == now + 10_000


def test_hosts_serve_failover_data_while_the_switch_is_on() -> None:
    reactor = HostReactor()
    key = reactor.track("DEFAULT_GROUP@@orders", "", now_ms=0)
    reactor.apply(info(host("10.0.0.1")))
    reactor.set_failover([info(host("10.9.9.9"))])
    failover = reactor.read(key)
    assert reactor.failover_on
    assert failover is not None
    assert failover.hosts[0].ip == "10.9.9.9"
    assert reactor.read("G@@other") is None
    reactor.set_failover(None)
    live = reactor.read(key)
    assert live is not None
    assert live.hosts[0].ip == "10.0.0.1"


def test_hosts_bound_the_services_in_use() -> None:
    reactor = HostReactor(max_services=2)
    reactor.track("G@@a", "", 0)
    reactor.track("G@@b", "", 0)
    reactor.track("G@@a", "", 0)  # already tracked: fine
    with pytest.raises(TooManyServices):
        reactor.track("G@@c", "", 0)


# --- push packets ---------------------------------------------------------------------------------------


def packet(data: str, stamp: object = 123, kind: str = "dom") -> bytes:
    return json.dumps({"type": kind, "data": data, "lastRefTime": stamp}).encode()


def test_push_decodes_plain_and_gzipped_packets() -> None:
    data = json.dumps(answer(host("10.0.0.1")))
    assert decode_push(packet(data)).data == data
    assert decode_push(gzip.compress(packet(data, stamp="77"))).last_ref_time == "77"


@pytest.mark.parametrize(
    "datagram",
    [
        b"\x1f\x8bnot gzip",
        b"[1]",
        b"{}",
        b'{"type":"dom","data":1,"lastRefTime":1}',
        b'{"type":"dom","data":""}',
    ],
)
def test_push_rejects_what_is_not_a_packet(datagram: bytes) -> None:
    with pytest.raises(PushDecodeError):
        decode_push(datagram)


def test_push_caps_the_inflated_size() -> None:
    bomb = gzip.compress(b" " * 2_000_000)
    assert len(bomb) < 10_000
    with pytest.raises(PushDecodeError, match="inflates"):
        decode_push(bomb, limit=1_000_000)


def test_push_acks_as_the_java_client_does() -> None:
    assert (
        ack_for(decode_push(packet("{}", 42)), str) == b'{"type": "push-ack", "lastRefTime":"42", "data":""}'
    )
    dump = ack_for(decode_push(packet("", "9", kind="dump")), lambda: '{"k":1}')
    assert json.loads(dump) == {"type": "dump-ack", "lastRefTime": "9", "data": '{"k":1}'}
    huge = ack_for(decode_push(packet("", 9, kind="dump")), lambda: "x" * 100_000)
    assert json.loads(huge)["data"] == ""
    assert json.loads(ack_for(decode_push(packet("", 9, kind="weird")), str))["type"] == "unknown-ack"
    assert json.loads(ack_for(decode_push(packet("", '1", "x":"')), str))["lastRefTime"] == ""


# --- disk cache -----------------------------------------------------------------------------------------


def test_disk_cache_writes_atomically_and_loads_only_good_files(tmp_path: Path) -> None:
    one = info(host("10.0.0.1"))
    diskcache.write_service(tmp_path, one)
    diskcache.write_service(tmp_path, info(host("10.0.0.2"), last_ref_time=2000))  # same key: replaced
    (tmp_path / "garbage").write_bytes(b"{not json")
    (tmp_path / ".DEFAULT_GROUP%40%40x.123.tmp").write_bytes(one.encode())
    (tmp_path / diskcache.FAILOVER_DIR).mkdir()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".DEFAULT_GROUP%40%40x.123.tmp",
        "DEFAULT_GROUP%40%40orders",
        "failover",
        "garbage",
    ]
    [loaded] = diskcache.load_dir(tmp_path, limit=10)
    assert [item.ip for item in loaded.hosts] == ["10.0.0.2"]
    assert diskcache.load_dir(tmp_path / "missing", limit=10) == []


def test_disk_cache_failover_switch_and_backup(tmp_path: Path) -> None:
    failover = tmp_path / diskcache.FAILOVER_DIR
    assert not diskcache.switch_on(failover)
    assert not diskcache.has_backup(failover)
    diskcache.write_all(failover, [info(host("10.0.0.1"))])
    assert diskcache.has_backup(failover)
    (failover / diskcache.SWITCH_FILE).write_text("1\n")
    assert diskcache.switch_on(failover)
    assert len(diskcache.load_dir(failover, limit=10)) == 1  # the switch file is not a service
    (failover / diskcache.SWITCH_FILE).write_text("0")
    assert not diskcache.switch_on(failover)


def test_disk_cache_file_names_are_url_encoded_keys() -> None:
    assert diskcache.file_name("DEFAULT_GROUP@@orders@@a,b") == "DEFAULT_GROUP%40%40orders%40%40a%2Cb"
    assert diskcache.file_name("G@@../../etc") == "G%40%40..%2F..%2Fetc"


def test_instance_json_round_trips() -> None:
    item = Instance("10.0.0.1", 80, 2.0, False, True, False, "c", "orders", {"k": "v"}, "id")
    assert Instance.from_json(item.to_json(), "G") == item
