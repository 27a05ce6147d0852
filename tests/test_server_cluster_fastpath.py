"""The compiled request path on cluster members, over real loopback sockets (three nodes, one process).

The owner of a service answers its beats, registrations and lists in compiled code. A member that does
not own it lists it from its replica and answers beats of instances it knows in compiled code too,
relaying them to the owner; it leaves beats of unknown instances and writes to the Python path, which
forwards them to the owner. Prometheus counts every request whichever path answered it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Final

import trio
from prometheus_client.parser import text_string_to_metric_families

from nacosfast._core.fastpath import FastPath
from nacosfast.naming import effects
from tests.cluster_helpers import InProcessNode, http, owned_by, running_cluster, wait_for

BEAT: Final = "/v1/ns/instance/beat"
REGISTER: Final = "/v1/ns/instance"
LIST: Final = "/v1/ns/instance/list"
OWNER_BEATS: Final = 5


def _fast_path(node: InProcessNode) -> FastPath:
    assert node.running is not None
    assert node.running.fast_path is not None  # cluster members run the compiled path
    return node.running.fast_path


async def _requests_total(node: InProcessNode, group: str, status_class: str = "2xx") -> float:
    """``nacosfast_http_requests_total`` of ``group``'s answers of ``status_class``, scraped from ``node``."""
    status, text = await http(node.port, "GET", "/nacos/actuator/prometheus")
    assert status == 200
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "nacosfast_http_requests_total" and labels == {
                "group": group,
                "status": status_class,
            }:
                return float(sample.value)
    return 0.0


def _knows(node: InProcessNode, grouped: str, key: str) -> bool:
    assert node.running is not None
    service = node.running.state.registry.get("public", grouped)
    return service is not None and service.get(key, True) is not None


async def test_cluster_members_beat_and_list_through_the_compiled_path(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, 3) as nodes:
        owner, other, third = nodes
        name = owned_by(nodes, owner)
        grouped = f"DEFAULT_GROUP@@{name}"
        instance = {"serviceName": grouped, "ip": "10.0.0.1", "port": 8080}
        key = "10.0.0.1:8080:unknown:DEFAULT"
        beat_key = effects.beat_key("public", grouped, key)
        assert owner.running is not None
        owner_beats = owner.running.state.beats
        assert await http(owner.port, "POST", REGISTER, instance) == (200, b"ok")
        assert _fast_path(owner).counts()["register"] == 1
        await wait_for(lambda: _knows(other, grouped, key) and _knows(third, grouped, key), "replicated")

        # The owner: every light beat is answered in compiled code and moves its heartbeat table.
        registered_at = owner_beats.last_beat(beat_key)
        assert registered_at is not None
        await trio.sleep(0.01)
        for _ in range(OWNER_BEATS):
            status, body = await http(owner.port, "PUT", BEAT, instance)
            assert (status, json.loads(body)["code"]) == (200, 10200)
        assert (owner_beats.last_beat(beat_key) or 0) > registered_at
        assert _fast_path(owner).counts()["beat"] == OWNER_BEATS

        # A non-owner that knows the instance: the same answer, in compiled code, and the beat relayed
        # to the owner (its own heartbeat table is the owner's business).
        assert other.running is not None
        assert other.running.cluster is not None
        forwarder = other.running.cluster.forwarder
        before = owner_beats.last_beat(beat_key)
        assert before is not None
        await trio.sleep(0.01)
        status, body = await http(other.port, "PUT", BEAT, instance)
        assert (status, json.loads(body)["code"]) == (200, 10200)
        assert _fast_path(other).counts()["beat"] == 1
        await wait_for(lambda: (owner_beats.last_beat(beat_key) or 0) > before, "the relayed beat")
        await wait_for(lambda: forwarder.beats_relayed == 1, "the relay counted")

        # A beat of an instance the non-owner does not know is forwarded by the Python path: the owner
        # answers it (20404: it does not know it either).
        unknown = {**instance, "ip": "10.0.0.9"}
        status, body = await http(other.port, "PUT", BEAT, unknown)
        assert (status, json.loads(body)["code"]) == (200, 20404)
        assert _fast_path(other).counts()["beat"] == 1
        assert forwarder.forwarded == 1

        # A write sent to the non-owner is forwarded: the owner registers it, through its peer endpoint.
        second = {**instance, "ip": "10.0.0.2"}
        assert await http(other.port, "POST", REGISTER, second) == (200, b"ok")
        assert _fast_path(other).counts()["register"] == 0
        assert _knows(owner, grouped, "10.0.0.2:8080:unknown:DEFAULT")
        await wait_for(lambda: _knows(other, grouped, "10.0.0.2:8080:unknown:DEFAULT"), "replicated back")

        # Lists come from every member's replica: the second is answered in compiled code, alike.
        listing = {"serviceName": grouped}
        first = await http(other.port, "GET", LIST, listing)
        again = await http(other.port, "GET", LIST, listing)
        assert _fast_path(other).counts()["list"] == 1
        from_owner = await http(owner.port, "GET", LIST, listing)
        hosts = [json.loads(answer[1])["hosts"] for answer in (first, again, from_owner)]
        assert [sorted(host["ip"] for host in found) for found in hosts] == [["10.0.0.1", "10.0.0.2"]] * 3
        assert re.sub(rb'"lastRefTime":\d+', b"", first[1]) == re.sub(rb'"lastRefTime":\d+', b"", again[1])

        # Prometheus counts the compiled path's answers with the Python path's (a forwarded request as
        # "forwarded": its answer came from the owner).
        assert await _requests_total(owner, "beat") == OWNER_BEATS
        assert await _requests_total(other, "beat") == 1
        assert await _requests_total(other, "beat", "forwarded") == 1
        assert await _requests_total(other, "list") == 2
