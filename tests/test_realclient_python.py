"""The real ``nacos-sdk-python==0.1.17`` client against a real ``nacosfast server`` process.

What 0.1.17 sends (``nacos/client.py``): every parameter in the query string, ``User-Agent:
Nacos-Python-Client:v0.1.17``, a plain ``serviceName`` plus ``groupName``, ``clusterName=None``
literally on register when no cluster is given, and a full beat JSON on every beat. Non-2xx answers
other than 500/502/503 raise ``NacosException("Request Error, code is <status>")``.

The client builds ``ssl.SSLContext()`` without a protocol on every request, which raises two
``DeprecationWarning``s on Python >= 3.10 (no protocol; ``PROTOCOL_TLS``). They are ignored in this
module only (the suite turns warnings into errors). The client's subscribe and auto-beat run in
threads; every test stops and joins them.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from nacos import NacosClient
from nacos.exception import NacosException
from nacos.listener import SubscribeListener

from tests.server_process import ServerProcess, running_server

pytestmark = [
    pytest.mark.realclient,
    pytest.mark.filterwarnings(
        r"ignore:ssl\.SSLContext\(\) without protocol argument is deprecated:DeprecationWarning"
    ),
    pytest.mark.filterwarnings(r"ignore:ssl\.PROTOCOL_TLS is deprecated:DeprecationWarning"),
]

WAIT_TIMEOUT_S: Final = 10.0
"""Longest wait for something a polling thread should see within a few poll periods."""
POLL_S: Final = 0.02
SUBSCRIBE_INTERVAL_S: Final = 0.1
"""The client's poll period in the subscribe test (0.1.17 defaults to 7 s)."""
AUTO_BEAT_INTERVAL_S: Final = 0.1
"""The client's beat period in the auto-beat test."""
THREAD_JOIN_S: Final = 5.0
"""How long a stopped client thread may take to finish its current request and exit."""

IP: Final = "127.0.0.1"
"""Instance addresses stay on loopback: the server may probe persistent instances."""
PYTHON_UA_BEAT_REPLY: Final = {"clientBeatInterval": 5000, "code": 10200, "lightBeatEnabled": True}


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("realclient") / "data") as process:
        yield process


@pytest.fixture
def service_name() -> str:
    return f"rc-{uuid.uuid4().hex[:10]}"


ClientFactory = Callable[..., Any]


@pytest.fixture
def make_client(server: ServerProcess, tmp_path: Path) -> Iterator[ClientFactory]:
    """Build ``NacosClient`` objects for this server; stop their threads afterwards."""
    clients: list[Any] = []

    def factory(namespace: str | None = None) -> Any:
        client = NacosClient(server_addresses=server.address, namespace=namespace, logDir=str(tmp_path))
        clients.append(client)
        return client

    try:
        yield factory
    finally:
        for client in clients:
            stop_client_threads(client)


def stop_client_threads(client: Any) -> None:
    """Stop and join the subscribe timers and auto-beat threads of a 0.1.17 client."""
    timers = list(client.subscribe_timer_manager.all_timers().values())
    for timer in timers:
        timer.set_ignore_ex(True)  # a poll racing the shutdown must not raise in its thread
    client.stop_subscribe()
    deadline = time.monotonic() + THREAD_JOIN_S
    for timer in timers:
        # NacosTimer re-arms a new threading.Timer after each run (creating it, then starting it), so
        # cancel whatever is current until it stays the same and has finished.
        while True:
            current = timer._timer
            if current is None:
                break
            current.cancel()
            if current.ident is not None:  # started: wait for it (a running poll re-arms first)
                current.join(max(0.0, deadline - time.monotonic()))
                if timer._timer is current and not current.is_alive():
                    break
            assert time.monotonic() < deadline, "subscribe timer did not stop"
            time.sleep(POLL_S)
    for task in list(client.heartbeats.values()):
        task.stop()
    for task in list(client.heartbeats.values()):
        task.join(THREAD_JOIN_S)
        assert not task.is_alive(), "auto-beat thread did not stop"


# --- helpers -------------------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(POLL_S)


def hosts(answer: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = answer["hosts"]
    return result


def by_port(answer: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {host["port"]: host for host in hosts(answer)}


def catalog_instances(
    server: ServerProcess,
    service: str,
    cluster: str,
    *,
    group: str = "DEFAULT_GROUP",
    namespace: str | None = None,
) -> list[dict[str, Any]]:
    """The full instance JSON (with ``lastBeat`` and the raw ``healthy`` flag) of one cluster."""
    params: dict[str, object] = {
        "serviceName": service,
        "groupName": group,
        "clusterName": cluster,
        "pageNo": 1,
        "pageSize": 100,
    }
    if namespace is not None:
        params["namespaceId"] = namespace
    answer = server.get_json("/nacos/v1/ns/catalog/instances", params)
    listed: list[dict[str, Any]] = answer["list"]
    assert answer["count"] == len(listed)
    return listed


def last_beat(server: ServerProcess, service: str, cluster: str, port: int) -> int:
    matches = [item for item in catalog_instances(server, service, cluster) if item["port"] == port]
    assert len(matches) == 1, matches
    value: int = matches[0]["lastBeat"]
    return value


# --- register / list -----------------------------------------------------------------------------------


def test_register_lists_instance_with_metadata_cluster_and_weight(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()
    metadata = {"zone": "eu-1", "version": "2.3"}

    assert client.add_naming_instance(service_name, IP, 18001, "c1", 2.5, metadata) is True

    answer = client.list_naming_instance(service_name)
    assert answer["name"] == f"DEFAULT_GROUP@@{service_name}"
    assert answer["dom"] == service_name  # not a Java >= 1.0 client: no group prefix
    assert answer["clusters"] == ""
    assert answer["cacheMillis"] == 3000
    [host] = hosts(answer)
    assert host == {
        "ip": IP,
        "port": 18001,
        "valid": True,
        "healthy": True,
        "marked": False,
        "instanceId": f"{IP}#18001#c1#DEFAULT_GROUP@@{service_name}",
        "metadata": metadata,
        "enabled": True,
        "weight": 2.5,
        "clusterName": "c1",
        "serviceName": service_name,
        "ephemeral": True,
    }


def test_register_without_cluster_uses_the_literal_none_cluster(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()

    assert client.add_naming_instance(service_name, IP, 18002) is True

    [host] = hosts(client.list_naming_instance(service_name))
    assert host["clusterName"] == "None"
    assert host["instanceId"] == f"{IP}#18002#None#DEFAULT_GROUP@@{service_name}"
    assert host["metadata"] == {}
    assert host["weight"] == 1.0


def test_register_accepts_key_value_metadata_and_dotted_service_names(make_client: ClientFactory) -> None:
    client = make_client()
    service = f"rc.{uuid.uuid4().hex[:8]}:v1_x-y"

    # A str metadata is sent as is; Nacos parses `k=v,k2=v2` when it is not JSON.
    assert client.add_naming_instance(service, IP, 18006, "c-1", 2, "a=1,b=two") is True

    answer = client.list_naming_instance(service)
    assert answer["name"] == f"DEFAULT_GROUP@@{service}"
    [host] = hosts(answer)
    assert (host["metadata"], host["weight"], host["clusterName"]) == ({"a": "1", "b": "two"}, 2.0, "c-1")
    assert client.get_naming_instance(service, IP, 18006, "c-1")["metadata"] == {"a": "1", "b": "two"}


def test_register_rejects_a_bad_cluster_name_with_a_client_error(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()

    with pytest.raises(NacosException, match="code is 400"):
        client.add_naming_instance(service_name, IP, 18003, "bad_cluster")

    assert hosts(client.list_naming_instance(service_name)) == []


def test_persistent_instance_is_removed_only_with_the_matching_ephemeral_flag(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18004, "c1", ephemeral=False) is True

    [host] = hosts(client.list_naming_instance(service_name))
    assert host["ephemeral"] is False
    assert host["instanceId"] == f"{IP}#18004#c1#DEFAULT_GROUP@@{service_name}"

    # Nacos: a deregister with the wrong flag answers ok and removes nothing.
    assert client.remove_naming_instance(service_name, IP, 18004, "c1", ephemeral=True) is True
    assert [h["port"] for h in hosts(client.list_naming_instance(service_name))] == [18004]

    assert client.remove_naming_instance(service_name, IP, 18004, "c1", ephemeral=False) is True
    assert hosts(client.list_naming_instance(service_name)) == []


def test_ephemeral_and_persistent_lists_are_independent(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18005, "c1", ephemeral=True) is True
    assert client.add_naming_instance(service_name, IP, 18005, "c1", ephemeral=False) is True

    flags = sorted(host["ephemeral"] for host in hosts(client.list_naming_instance(service_name)))
    assert flags == [False, True]

    assert client.remove_naming_instance(service_name, IP, 18005, "c1", ephemeral=True) is True
    [host] = hosts(client.list_naming_instance(service_name))
    assert host["ephemeral"] is False


def test_group_name_separates_services(make_client: ClientFactory, service_name: str) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18010, "c1", group_name="G1") is True
    assert client.add_naming_instance(service_name, IP, 18011, "c1", group_name="G2") is True

    in_g1 = client.list_naming_instance(service_name, group_name="G1")
    assert in_g1["name"] == f"G1@@{service_name}"
    assert [host["port"] for host in hosts(in_g1)] == [18010]
    assert hosts(in_g1)[0]["instanceId"] == f"{IP}#18010#c1#G1@@{service_name}"
    assert [host["port"] for host in hosts(client.list_naming_instance(service_name, group_name="G2"))] == [
        18011
    ]
    assert hosts(client.list_naming_instance(service_name)) == []  # DEFAULT_GROUP

    assert client.remove_naming_instance(service_name, IP, 18010, "c1", group_name="G1") is True
    assert hosts(client.list_naming_instance(service_name, group_name="G1")) == []
    assert len(hosts(client.list_naming_instance(service_name, group_name="G2"))) == 1


def test_list_filters_by_clusters_and_echoes_the_parameter(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()
    for port, cluster in ((18020, "c1"), (18021, "c2"), (18022, "c3")):
        assert client.add_naming_instance(service_name, IP, port, cluster) is True

    only_c1 = client.list_naming_instance(service_name, clusters="c1")
    assert only_c1["clusters"] == "c1"
    assert [host["clusterName"] for host in hosts(only_c1)] == ["c1"]

    two = client.list_naming_instance(service_name, clusters="c3,c1")
    assert two["clusters"] == "c3,c1"
    assert sorted(host["clusterName"] for host in hosts(two)) == ["c1", "c3"]

    assert len(hosts(client.list_naming_instance(service_name))) == 3
    assert hosts(client.list_naming_instance(service_name, clusters="nope")) == []


def test_list_healthy_only_drops_unhealthy_instances(make_client: ClientFactory, service_name: str) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18030, "c1", healthy=True) is True
    assert client.add_naming_instance(service_name, IP, 18031, "c1", healthy=False) is True

    everything = client.list_naming_instance(service_name, healthy_only=False)
    assert [(host["port"], host["healthy"], host["valid"]) for host in hosts(everything)] == [
        (18030, True, True),
        (18031, False, False),
    ]  # the healthy bucket first
    healthy = client.list_naming_instance(service_name, healthy_only=True)
    assert [host["port"] for host in hosts(healthy)] == [18030]


def test_list_protect_threshold_shows_all_when_none_is_healthy(
    make_client: ClientFactory, server: ServerProcess, service_name: str
) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18032, "c1", healthy=False) is True

    # Threshold 0: healthy/all = 0 <= 0, so Nacos returns every instance marked healthy.
    [host] = hosts(client.list_naming_instance(service_name, healthy_only=True))
    assert (host["port"], host["healthy"], host["valid"]) == (18032, True, True)
    [raw] = catalog_instances(server, service_name, "c1")
    assert raw["healthy"] is False


# --- namespaces ----------------------------------------------------------------------------------------


def test_custom_namespace_isolates_instances(make_client: ClientFactory, service_name: str) -> None:
    namespace = f"rc-ns-{uuid.uuid4().hex[:8]}"
    default_client = make_client()
    custom_client = make_client(namespace=namespace)

    assert custom_client.add_naming_instance(service_name, IP, 18040, "c1") is True
    assert default_client.add_naming_instance(service_name, IP, 18041, "c1") is True

    assert [host["port"] for host in hosts(custom_client.list_naming_instance(service_name))] == [18040]
    assert [host["port"] for host in hosts(default_client.list_naming_instance(service_name))] == [18041]
    explicit = default_client.list_naming_instance(service_name, namespace_id=namespace)
    assert [host["port"] for host in hosts(explicit)] == [18040]
    other = default_client.list_naming_instance(service_name, namespace_id=f"{namespace}-other")
    assert hosts(other) == []

    # A deregister in the default namespace does not touch the custom one.
    assert default_client.remove_naming_instance(service_name, IP, 18040, "c1") is True
    assert [host["port"] for host in hosts(custom_client.list_naming_instance(service_name))] == [18040]
    assert custom_client.remove_naming_instance(service_name, IP, 18040, "c1") is True
    assert hosts(custom_client.list_naming_instance(service_name)) == []


# --- get one -------------------------------------------------------------------------------------------


def test_get_naming_instance_returns_the_detail(make_client: ClientFactory, service_name: str) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18050, "c1", 3.0, {"k": "v"}) is True

    detail = client.get_naming_instance(service_name, IP, 18050, "c1")
    assert detail == {
        "service": f"DEFAULT_GROUP@@{service_name}",
        "ip": IP,
        "port": 18050,
        "clusterName": "c1",
        "weight": 3.0,
        "healthy": True,
        "instanceId": f"{IP}#18050#c1#DEFAULT_GROUP@@{service_name}",
        "metadata": {"k": "v"},
    }


def test_get_naming_instance_of_an_unknown_instance_raises(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18051, "c1") is True

    with pytest.raises(NacosException):
        client.get_naming_instance(service_name, IP, 18052, "c1")  # wrong port
    with pytest.raises(NacosException):
        client.get_naming_instance(service_name, IP, 18051, "c2")  # wrong cluster
    with pytest.raises(NacosException):
        client.get_naming_instance(f"{service_name}-missing", IP, 18051, "c1")


# --- heartbeats ----------------------------------------------------------------------------------------


def test_send_heartbeat_answers_the_beat_interval_and_moves_last_beat(
    make_client: ClientFactory, server: ServerProcess, service_name: str
) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18060, "c1", metadata={"a": "1"}) is True
    registered_at = last_beat(server, service_name, "c1", 18060)

    time.sleep(0.05)
    reply = client.send_heartbeat(service_name, IP, 18060, "c1", metadata={"a": "1"})

    assert reply == PYTHON_UA_BEAT_REPLY
    first_beat = last_beat(server, service_name, "c1", 18060)
    assert first_beat > registered_at
    time.sleep(0.05)
    client.send_heartbeat(service_name, IP, 18060, "c1", metadata={"a": "1"})
    assert last_beat(server, service_name, "c1", 18060) > first_beat
    [host] = hosts(client.list_naming_instance(service_name))
    assert (host["healthy"], host["metadata"]) == (True, {"a": "1"})


def test_send_heartbeat_for_an_unknown_instance_registers_it(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()

    reply = client.send_heartbeat(service_name, IP, 18061, "c1", 4.0, {"from": "beat"})

    assert reply["code"] == 10200
    [host] = hosts(client.list_naming_instance(service_name))
    assert (host["port"], host["clusterName"], host["weight"], host["metadata"], host["ephemeral"]) == (
        18061,
        "c1",
        4.0,
        {"from": "beat"},
        True,
    )


def test_send_heartbeat_reports_the_preserved_beat_interval(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()
    metadata = {"preserved.heart.beat.interval": "2000"}
    assert client.add_naming_instance(service_name, IP, 18062, "c1", metadata=metadata) is True

    reply = client.send_heartbeat(service_name, IP, 18062, "c1", metadata=metadata)

    assert reply["clientBeatInterval"] == 2000
    assert reply["code"] == 10200


def test_send_heartbeat_without_cluster_lands_in_the_default_cluster(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18063) is True  # cluster "None"

    # 0.1.17 leaves `cluster` out of the beat JSON, so Nacos re-registers it in DEFAULT (compatibility.md §6).
    client.send_heartbeat(service_name, IP, 18063)

    clusters = sorted(host["clusterName"] for host in hosts(client.list_naming_instance(service_name)))
    assert clusters == ["DEFAULT", "None"]


def test_auto_heartbeat_thread_keeps_moving_last_beat(
    make_client: ClientFactory, server: ServerProcess, service_name: str
) -> None:
    client = make_client()
    assert (
        client.add_naming_instance(service_name, IP, 18064, "c1", heartbeat_interval=AUTO_BEAT_INTERVAL_S)
        is True
    )
    [task] = client.heartbeats.values()
    try:
        seen = {last_beat(server, service_name, "c1", 18064)}

        def three_beats_seen() -> bool:
            seen.add(last_beat(server, service_name, "c1", 18064))
            return len(seen) >= 3

        wait_until(three_beats_seen, "three distinct lastBeat values from the client's beat thread")
    finally:
        assert client.remove_naming_instance(service_name, IP, 18064, "c1") is True
        task.join(THREAD_JOIN_S)
    assert not task.is_alive()
    assert hosts(client.list_naming_instance(service_name)) == []


# --- modify / remove -----------------------------------------------------------------------------------


def test_modify_updates_weight_and_resets_omitted_metadata(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18070, "c1", 1.0, {"k": "v"}) is True

    assert client.modify_naming_instance(service_name, IP, 18070, "c1", weight=7.5) is True

    [host] = hosts(client.list_naming_instance(service_name))
    assert (host["weight"], host["metadata"], host["enabled"]) == (7.5, {}, True)
    assert host["instanceId"] == f"{IP}#18070#c1#DEFAULT_GROUP@@{service_name}"

    assert client.modify_naming_instance(service_name, IP, 18070, "c1", metadata={"new": "x"}) is True
    [host] = hosts(client.list_naming_instance(service_name))
    assert (host["weight"], host["metadata"]) == (1.0, {"new": "x"})


def test_modify_enable_false_hides_the_instance_from_lists(
    make_client: ClientFactory, server: ServerProcess, service_name: str
) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18071, "c1") is True
    assert client.add_naming_instance(service_name, IP, 18072, "c1") is True

    assert client.modify_naming_instance(service_name, IP, 18071, "c1", enable=False) is True

    assert [host["port"] for host in hosts(client.list_naming_instance(service_name))] == [18072]
    [disabled] = [item for item in catalog_instances(server, service_name, "c1") if item["port"] == 18071]
    assert disabled["enabled"] is False

    assert client.modify_naming_instance(service_name, IP, 18071, "c1", enable=True) is True
    assert sorted(host["port"] for host in hosts(client.list_naming_instance(service_name))) == [18071, 18072]


def test_remove_deregisters_and_an_unknown_instance_is_ok(
    make_client: ClientFactory, service_name: str
) -> None:
    client = make_client()
    assert client.add_naming_instance(service_name, IP, 18080, "c1") is True
    assert client.add_naming_instance(service_name, IP, 18081, "c1") is True

    assert client.remove_naming_instance(service_name, IP, 18080, "c1") is True
    assert [host["port"] for host in hosts(client.list_naming_instance(service_name))] == [18081]

    assert client.remove_naming_instance(service_name, IP, 18080, "c1") is True  # again: still ok
    assert client.remove_naming_instance(f"{service_name}-missing", IP, 1, "c1") is True
    assert client.remove_naming_instance(service_name, IP, 18081, "c2") is True  # other cluster: no-op
    assert [host["port"] for host in hosts(client.list_naming_instance(service_name))] == [18081]


# --- subscribe (0.1.17 polls instance/list from a timer thread) ---------------------------------------


def test_subscribe_listener_fires_on_register_modify_and_deregister(
    make_client: ClientFactory, service_name: str
) -> None:
    watcher = make_client()
    writer = make_client()
    events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    listener = SubscribeListener(
        fn=lambda event, local: events.put((event, local.instance)), listener_name="recorder"
    )

    def next_event() -> tuple[str, dict[str, Any]]:
        try:
            return events.get(timeout=WAIT_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"no subscribe event within {WAIT_TIMEOUT_S} s") from None

    try:
        watcher.subscribe(listener, SUBSCRIBE_INTERVAL_S, service_name=service_name)

        assert writer.add_naming_instance(service_name, IP, 18090, "c1", metadata={"v": "1"}) is True
        event, instance = next_event()
        assert event == "ADDED"
        assert (instance["port"], instance["metadata"]) == (18090, {"v": "1"})

        assert writer.add_naming_instance(service_name, IP, 18090, "c1", metadata={"v": "2"}) is True
        event, instance = next_event()
        assert event == "MODIFIED"
        assert instance["metadata"] == {"v": "2"}

        assert writer.remove_naming_instance(service_name, IP, 18090, "c1") is True
        event, instance = next_event()
        assert event == "DELETED"
        assert instance["port"] == 18090
    finally:
        watcher.unsubscribe(service_name)
        stop_client_threads(watcher)
    assert events.empty(), list(events.queue)
