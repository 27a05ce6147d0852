"""etcd keys and requests (pure): escaping, round trips, no key injection, transaction shapes; records
observed from etcd applied to the naming state (``journal.observe``)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nacosfast._core.registry import Instance
from nacosfast.naming import effects, journal
from nacosfast.naming.meta import DEFAULT_SERVICE_META, ServiceMeta
from nacosfast.naming.state import NamingState
from nacosfast.store.etcd_keys import (
    check_prefix,
    instances_prefix,
    key_of,
    parse_endpoints,
    path_of,
    range_request,
    record_target,
    unb64,
    write_request,
)
from tests.naming_helpers import RecordingPush

PREFIX = "/nf"
names = st.text(min_size=1, max_size=20)


@given(names, names, names, names, st.integers(0, 65535))
def test_instance_keys_round_trip_and_stay_under_their_service(
    namespace: str, service: str, cluster: str, ip: str, port: int
) -> None:
    key = ("instance", namespace, service, cluster, ip, port)
    path = path_of(PREFIX, key)
    assert key_of(PREFIX, path) == key
    assert path.startswith(instances_prefix(PREFIX, namespace, service))
    assert path.count("/") == 7  # no part adds a separator


@given(names, names, names)
def test_no_service_reaches_into_another_services_instances(namespace: str, first: str, second: str) -> None:
    if first == second:
        return
    path = path_of(PREFIX, ("instance", namespace, second, "c", "1.2.3.4", 1))
    assert not path.startswith(instances_prefix(PREFIX, namespace, first))


def test_separators_and_escapes_in_names_are_encoded() -> None:
    path = path_of(PREFIX, ("service", "ns/../x", "G@@a/b%2F"))
    assert path == "/nf/service/ns%2F..%2Fx/G%40%40a%2Fb%252F"
    assert key_of(PREFIX, path) == ("service", "ns/../x", "G@@a/b%2F")


@pytest.mark.parametrize(
    "path", ["/other/service/a/b", "/nf/service/a", "/nf/unknown/a", "/nf/instance/a/b/c/d/x"]
)
def test_foreign_keys_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="etcd key"):
        key_of(PREFIX, path)


def test_settings_are_checked() -> None:
    assert parse_endpoints("http://127.0.0.1:2379, https://e:1") == ("http://127.0.0.1:2379", "https://e:1")
    for bad in ("", "127.0.0.1:2379", "http://h:99999", "ftp://h:1", "http://h:1/path"):
        with pytest.raises(ValueError, match="etcd endpoint"):
            parse_endpoints(bad)
    assert check_prefix("/nacosfast/") == "/nacosfast"
    for bad in ("nacosfast", "/naco\nsfast", "/ñ"):
        with pytest.raises(ValueError, match="etcd prefix"):
            check_prefix(bad)


def test_records_map_to_their_keys_and_guarded_transactions() -> None:
    instance = Instance("10.0.0.1", 8080, "c1", ephemeral=False)
    key = journal.instance_key("ns", "G@@s", instance)
    put = record_target(PREFIX, journal.encode(key, instance))
    assert put.path == path_of(PREFIX, key)
    assert put.value == journal.encode(key, instance)
    create = write_request(put, None)
    assert create["compare"] == [
        {
            "key": create["success"][0]["request_put"]["key"],
            "target": "CREATE",
            "result": "EQUAL",
            "create_revision": "0",
        }
    ]
    update = write_request(put, 7)
    assert update["compare"][0]["target"] == "MOD"
    assert update["compare"][0]["mod_revision"] == "7"
    removal = record_target(PREFIX, journal.encode(key, None))
    assert removal.value is None
    assert "request_delete_range" in write_request(removal, 9)["success"][0]
    service = record_target(PREFIX, journal.removal_record("ns", "G@@s"))
    request = write_request(service, 3)
    start = unb64(request["success"][0]["request_delete_range"]["key"]).decode()
    assert start == instances_prefix(PREFIX, "ns", "G@@s")
    assert unb64(request["success"][1]["request_delete_range"]["key"]).decode() == path_of(
        PREFIX, ("service", "ns", "G@@s")
    )
    meta = record_target(PREFIX, journal.encode(("service", "ns", "G@@s"), ServiceMeta(persisted=True)))
    assert json.loads(meta.value or b"")["t"] == "service"
    everything = range_request(PREFIX)
    assert unb64(everything["key"]) == b"/nf/"
    assert unb64(everything["range_end"]) == b"/nf0"


def test_observed_records_apply_and_tell_push_but_leave_pending_keys_to_the_ledger(
    naming_state: NamingState, push: RecordingPush
) -> None:
    name = "DEFAULT_GROUP@@s"
    local = Instance("10.0.0.1", 80, "DEFAULT", weight=2.0, ephemeral=False)
    remote = local.replace(weight=7.0)
    key = journal.instance_key("public", name, local)
    journal.observe(naming_state, key, journal.encode(key, remote), 0)
    assert naming_state.registry.get("public", name).get(remote.key, False).weight == 7.0  # type: ignore[union-attr]
    assert push.changed[-1] == ("public", name)
    # A write of this node pending on the key: memory keeps it; what etcd holds becomes the value an
    # undo restores.
    number = effects.persist_instance(naming_state, "public", name, local)
    naming_state.registry.put_instance("public", name, local, DEFAULT_SERVICE_META)
    newer = local.replace(weight=9.0)
    journal.observe(naming_state, key, journal.encode(key, newer), 0)
    assert naming_state.registry.get("public", name).get(local.key, False).weight == 2.0  # type: ignore[union-attr]
    journal.undo(naming_state, number, 0)
    assert naming_state.registry.get("public", name).get(local.key, False).weight == 9.0  # type: ignore[union-attr]
    journal.observe(naming_state, key, None, 0)
    assert not naming_state.registry.get("public", name)
