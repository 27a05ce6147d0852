"""Unit tests of the compiled registry: Instance validation and sharing, snapshots, revisions, digests."""

from __future__ import annotations

import copy
import json
import math
import pickle
import random
import tracemalloc
from typing import Any

import pytest

from nacosfast import limits
from nacosfast._core.registry import (
    DEFAULT_BEAT_INTERVAL_MS,
    DEFAULT_BEAT_TIMEOUT_MS,
    DEFAULT_DELETE_TIMEOUT_MS,
    MAX_CACHED_VARIANTS,
    MAX_WEIGHT,
    Instance,
    Registry,
    Service,
)
from tests import model

NS = "public"
SVC = "DEFAULT_GROUP@@orders"
WEIGHT_ERROR = "instance format invalid: The weights range from 0.0 to 10000.0"


def snapshot(registry: Registry, namespace: str = NS, name: str = SVC) -> Service:
    service = registry.get(namespace, name)
    assert service is not None
    return service


def keys(service: Service, ephemeral: bool | None = None) -> list[str]:
    return [inst.key for inst in service.instances(ephemeral)]


# --- Instance ----------------------------------------------------------------------------------------


def test_instance_defaults_match_nacos() -> None:
    inst = Instance("10.0.0.5", 8080)
    assert (inst.ip, inst.port, inst.cluster, inst.weight) == ("10.0.0.5", 8080, "DEFAULT", 1.0)
    assert (inst.healthy, inst.enabled, inst.ephemeral, inst.marked) == (True, True, True, False)
    assert inst.metadata == {}
    assert inst.app is None
    assert inst.instance_id is None
    assert (inst.beat_interval_ms, inst.beat_timeout_ms, inst.delete_timeout_ms) == (5000, 15000, 30000)
    assert (DEFAULT_BEAT_INTERVAL_MS, DEFAULT_BEAT_TIMEOUT_MS, DEFAULT_DELETE_TIMEOUT_MS) == (
        5000,
        15000,
        30000,
    )


def test_instance_key_is_nacos_datum_key() -> None:
    assert Instance("10.0.0.5", 8080).key == "10.0.0.5:8080:unknown:DEFAULT"
    assert Instance("10.0.0.5", 0, "c-1").key == "10.0.0.5:unknown:c-1"


def test_instance_id_in_defaults_to_ip_port_cluster_service() -> None:
    assert Instance("10.0.0.5", 8080).id_in(SVC) == "10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@orders"
    assert Instance("10.0.0.5", 8080, instance_id="3").id_in(SVC) == "3"


@pytest.mark.parametrize("weight", [math.nan, math.inf, -math.inf, -0.001, -1, 10000.0001, 1e300])
def test_instance_weight_out_of_range_is_rejected_with_nacos_message(weight: float) -> None:
    with pytest.raises(ValueError, match=f"^{WEIGHT_ERROR}$"):
        Instance("10.0.0.5", 8080, weight=weight)
    with pytest.raises(ValueError, match=f"^{WEIGHT_ERROR}$"):
        Instance("10.0.0.5", 8080).replace(weight=weight)


def test_instance_weight_bounds_are_accepted_and_negative_zero_normalized() -> None:
    assert Instance("h", 1, weight=0).weight == 0.0
    assert Instance("h", 1, weight=MAX_WEIGHT).weight == 10000.0
    negative_zero = Instance("h", 1, weight=-0.0)
    assert math.copysign(1.0, negative_zero.weight) == 1.0
    assert negative_zero == Instance("h", 1, weight=0.0)
    assert hash(negative_zero) == hash(Instance("h", 1, weight=0.0))


@pytest.mark.parametrize("port", [-1, 65536, 2**40])
def test_instance_port_outside_0_to_65535_is_rejected(port: int) -> None:
    with pytest.raises(ValueError, match="port"):
        Instance("10.0.0.5", port)


def test_instance_empty_ip_or_cluster_is_rejected() -> None:
    with pytest.raises(ValueError, match="ip"):
        Instance("", 80)
    with pytest.raises(ValueError, match="cluster"):
        Instance("10.0.0.5", 80, "")
    with pytest.raises(ValueError, match="cluster"):
        Instance("10.0.0.5", 80).replace(cluster="")


@pytest.mark.parametrize("metadata", [{"a": 1}, {1: "a"}, {"a": None}])
def test_instance_non_string_metadata_is_rejected(metadata: Any) -> None:
    with pytest.raises(ValueError, match="metadata format incorrect"):
        Instance("10.0.0.5", 80, metadata=metadata)


def test_instance_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError):
        Instance(None, 80)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Instance("h", "80")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Instance("h", 80, weight="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Instance("h", 80, app=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["ip", "cluster", "app", "instance_id", "key", "value"])
def test_instance_text_that_is_not_utf8_encodable_is_rejected(field: str) -> None:
    bad = "x\udc80"
    kwargs: dict[str, Any] = {"ip": "h", "port": 1}
    if field in ("key", "value"):
        kwargs["metadata"] = {bad: "v"} if field == "key" else {"k": bad}
    else:
        kwargs[field] = bad
    ip, port = kwargs.pop("ip"), kwargs.pop("port")
    with pytest.raises(ValueError, match="not valid text"):
        Instance(ip, port, **kwargs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3000", 3000),
        ("0", 0),
        ("007", 7),
        ("", 15000),
        (" 3000", 15000),
        ("3000ms", 15000),
        ("-5", 15000),
        ("+5", 15000),
        ("1.5", 15000),
        ("١٢٣", 15000),  # Unicode digits are not Java's \d
        ("9" * 5000, limits.CORE_MAX_ABS_MS - 1),  # saturates instead of failing
    ],
)
def test_instance_preserved_timeout_must_be_ascii_digits(value: str, expected: int) -> None:
    inst = Instance("h", 1, metadata={"preserved.heart.beat.timeout": value})
    assert inst.beat_timeout_ms == expected
    assert (
        model.Instance("h", 1, metadata={"preserved.heart.beat.timeout": value}).beat_timeout_ms == expected
    )


def test_instance_preserved_keys_each_set_their_timeout() -> None:
    inst = Instance(
        "h",
        1,
        metadata={
            "preserved.heart.beat.interval": "1000",
            "preserved.heart.beat.timeout": "3000",
            "preserved.ip.delete.timeout": "6000",
        },
    )
    assert (inst.beat_interval_ms, inst.beat_timeout_ms, inst.delete_timeout_ms) == (1000, 3000, 6000)


def test_instance_equal_metadata_maps_are_one_shared_object() -> None:
    a = Instance("10.0.0.1", 1, metadata={"zone": "a", "version": "1"})
    b = Instance("10.0.0.2", 2, metadata={"version": "1", "zone": "a"})
    assert a.metadata is b.metadata
    assert list(a.metadata) == ["version", "zone"]  # sorted by key
    assert Instance("h", 1).metadata is Instance("h", 2, metadata={}).metadata


def test_instance_cluster_and_app_strings_are_shared() -> None:
    a = Instance("10.0.0.1", 1, "".join(["c-", "1"]), app="".join(["un", "known"]))
    b = Instance("10.0.0.2", 1, "".join(["c-", "1"]), app="".join(["un", "known"]))
    assert a.cluster is b.cluster
    assert a.app is b.app


def test_instance_metadata_cannot_be_mutated() -> None:
    metadata: Any = Instance("h", 1, metadata={"a": "1"}).metadata
    for mutate in (
        lambda: metadata.__setitem__("b", "2"),
        lambda: metadata.__delitem__("a"),
        lambda: metadata.update(b="2"),
        lambda: metadata.pop("a"),
        metadata.popitem,
        lambda: metadata.setdefault("b", "2"),
        metadata.clear,
    ):
        with pytest.raises(TypeError, match="immutable"):
            mutate()
    with pytest.raises(TypeError):
        metadata |= {"b": "2"}
    assert metadata == {"a": "1"}


def test_instance_metadata_copies_are_plain_mutable_dicts() -> None:
    metadata: Any = Instance("h", 1, metadata={"a": "1"}).metadata
    for duplicate in (
        dict(metadata),
        metadata.copy(),
        copy.copy(metadata),
        pickle.loads(pickle.dumps(metadata)),
    ):
        assert type(duplicate) is dict
        assert duplicate == {"a": "1"}
    assert json.dumps(metadata) == '{"a": "1"}'
    assert json.dumps(metadata, sort_keys=True, separators=(",", ":")) == '{"a":"1"}'


def test_instance_is_immutable() -> None:
    inst = Instance("h", 1)
    with pytest.raises(AttributeError):
        inst.port = 2  # type: ignore[misc]  # read-only property
    with pytest.raises(TypeError, match="immutable"):
        inst.__init__("x", 2)
    assert inst.ip == "h"


def test_instance_equality_compares_every_field() -> None:
    base = Instance("h", 1, metadata={"a": "1"}, app="x", instance_id="7")
    assert base == Instance("h", 1, metadata={"a": "1"}, app="x", instance_id="7")
    assert hash(base) == hash(Instance("h", 1, metadata={"a": "1"}, app="x", instance_id="7"))
    changes: list[dict[str, Any]] = [
        {"cluster": "c"}, {"weight": 2.0}, {"healthy": False}, {"enabled": False}, {"ephemeral": False},
        {"marked": True}, {"metadata": {"a": "2"}}, {"metadata": None}, {"app": None}, {"instance_id": None},
    ]  # fmt: skip
    for change in changes:
        assert base != base.replace(**change), change
    assert base != Instance("h", 2, metadata={"a": "1"}, app="x", instance_id="7")
    assert base != "h"


def test_instance_replace_changes_only_the_given_fields() -> None:
    base = Instance("h", 1, metadata={"a": "1"}, app="x")
    moved = base.replace(cluster="c-2", healthy=False)
    assert (moved.cluster, moved.healthy, moved.key) == ("c-2", False, "h:1:unknown:c-2")
    assert (moved.ip, moved.port, moved.metadata, moved.app, moved.weight) == ("h", 1, {"a": "1"}, "x", 1.0)
    assert base.replace() == base
    assert base.replace(metadata=None).metadata == {}


def test_uninitialized_objects_are_harmless_and_rejected() -> None:
    bare: Any = Instance.__new__(Instance)
    assert bare.key is None
    assert bare.beat_timeout_ms == DEFAULT_BEAT_TIMEOUT_MS
    registry = Registry()
    with pytest.raises(TypeError, match="never initialized"):
        registry.put_instance(NS, SVC, bare, None)
    with pytest.raises(TypeError, match="never initialized"):
        registry.put_instances(NS, SVC, [bare], None)
    empty = Service.__new__(Service)
    assert (len(empty), empty.instances(), empty.clusters(), empty.ephemeral_digest) == (0, [], [], 0)


def test_service_cached_with_unhashable_variant_is_type_error() -> None:
    service = Registry().ensure_service(NS, SVC, None)
    with pytest.raises(TypeError):
        service.cached([])  # type: ignore[arg-type]
    service.cache("v", 1)
    with pytest.raises(TypeError):
        service.cached([])  # type: ignore[arg-type]


def test_instance_pickle_and_copy_roundtrip() -> None:
    inst = Instance(
        "h", 1, "c", weight=2.5, healthy=False, marked=True, metadata={"a": "1"}, app="x", instance_id="7"
    )
    for duplicate in (pickle.loads(pickle.dumps(inst)), copy.copy(inst), copy.deepcopy(inst)):
        assert duplicate == inst
        assert duplicate.key == inst.key


# --- Registry ----------------------------------------------------------------------------------------


def test_registry_put_instance_creates_service_and_reports_change() -> None:
    registry = Registry()
    inst = Instance("10.0.0.5", 8080)
    change = registry.put_instance(NS, SVC, inst, meta={"threshold": 0.0})
    assert change is not None
    assert not change.service_removed
    assert change.before is None
    assert change.after is inst
    assert change.service is registry.get(NS, SVC)
    assert change.service.meta == {"threshold": 0.0}
    assert change.service.instances() == [inst]


def test_registry_put_equal_instance_returns_none_without_new_revision() -> None:
    registry = Registry()
    registry.put_instance(NS, SVC, Instance("10.0.0.5", 8080, metadata={"a": "1"}), None)
    revision = snapshot(registry).revision
    assert registry.put_instance(NS, SVC, Instance("10.0.0.5", 8080, metadata={"a": "1"}), None) is None
    assert snapshot(registry).revision == revision


def test_registry_put_changed_instance_reports_before_and_after() -> None:
    registry = Registry()
    old = Instance("10.0.0.5", 8080)
    registry.put_instance(NS, SVC, old, None)
    new = old.replace(weight=3.0)
    change = registry.put_instance(NS, SVC, new, "ignored: the service exists")
    assert change is not None
    assert change.before == old
    assert change.after == new
    assert change.service.meta is None


def test_registry_revision_is_registry_wide_and_never_goes_back() -> None:
    registry = Registry()
    revisions: list[int] = []
    for name in ("a@@x", "b@@y", "a@@x"):
        change = registry.put_instance(NS, name, Instance("h", len(revisions) + 1), None)
        assert change is not None
        revisions.append(change.service.revision)
    removed = registry.remove_service(NS, "a@@x")
    assert removed is not None
    assert removed.service_removed
    recreated = registry.ensure_service(NS, "a@@x", None)
    revisions.append(recreated.revision)
    assert revisions == sorted(set(revisions))
    assert revisions[0] >= 1


def test_registry_same_address_exists_as_ephemeral_persistent_and_per_cluster() -> None:
    registry = Registry()
    for inst in (Instance("h", 1), Instance("h", 1, ephemeral=False), Instance("h", 1, "c-2")):
        assert registry.put_instance(NS, SVC, inst, None) is not None
    service = snapshot(registry)
    assert (len(service), service.ephemeral_count, service.persistent_count) == (3, 2, 1)
    assert service.get("h:1:unknown:DEFAULT", True) is not None
    assert service.get("h:1:unknown:DEFAULT", False) is not None
    assert service.get("h:1:unknown:c-2", False) is None
    assert service.clusters() == ["DEFAULT", "c-2"]


def test_registry_snapshot_never_changes_after_later_writes() -> None:
    registry = Registry()
    registry.put_instance(NS, SVC, Instance("h", 1), None)
    before = snapshot(registry)
    listed = before.instances()
    registry.put_instance(NS, SVC, Instance("h", 2), None)
    registry.set_healthy(NS, SVC, "h:1:unknown:DEFAULT", True, False)
    registry.remove_instance(NS, SVC, "h:1:unknown:DEFAULT", True)
    assert before.instances() == listed
    assert listed[0].healthy
    assert len(before) == 1
    assert len(snapshot(registry)) == 1


def test_registry_instances_keep_insertion_order_across_updates() -> None:
    registry = Registry()
    for port in (3, 1, 2):
        registry.put_instance(NS, SVC, Instance("h", port), None)
    registry.put_instance(NS, SVC, Instance("h", 1, weight=5.0), None)  # update in place
    registry.put_instance(NS, SVC, Instance("h", 9, ephemeral=False), None)
    assert keys(snapshot(registry)) == [f"h:{p}:unknown:DEFAULT" for p in (3, 1, 2, 9)]
    registry.remove_instance(NS, SVC, "h:3:unknown:DEFAULT", True)
    registry.put_instance(NS, SVC, Instance("h", 3), None)  # re-added: goes last among ephemeral
    assert keys(snapshot(registry), True) == [f"h:{p}:unknown:DEFAULT" for p in (1, 2, 3)]


def test_registry_remove_instance_of_missing_service_or_key_is_none() -> None:
    registry = Registry()
    assert registry.remove_instance(NS, SVC, "h:1:unknown:DEFAULT", True) is None
    registry.put_instance(NS, SVC, Instance("h", 1), None)
    assert registry.remove_instance(NS, SVC, "h:1:unknown:DEFAULT", False) is None  # flag mismatch
    change = registry.remove_instance(NS, SVC, "h:1:unknown:DEFAULT", True)
    assert change is not None
    assert change.after is None
    assert change.before == Instance("h", 1)
    assert len(change.service) == 0
    assert registry.get(NS, SVC) is change.service


def test_registry_remove_service_drops_instances_and_empty_namespace() -> None:
    registry = Registry()
    registry.put_instances(NS, SVC, [Instance("h", 1), Instance("h", 2, ephemeral=False)], None)
    registry.ensure_service("ns-2", "g@@x", None)
    assert (registry.service_count, registry.instance_count) == (2, 2)
    change = registry.remove_service(NS, SVC)
    assert change is not None
    assert change.service_removed
    assert len(change.service) == 2
    assert registry.get(NS, SVC) is None
    assert registry.namespaces() == ["ns-2"]
    assert (registry.service_count, registry.instance_count) == (1, 0)
    assert registry.remove_service(NS, SVC) is None


def test_registry_lists_namespaces_and_services_sorted() -> None:
    registry = Registry()
    for namespace, name in (("b", "g@@z"), ("a", "g@@y"), ("b", "g@@a")):
        registry.ensure_service(namespace, name, None)
    assert registry.namespaces() == ["a", "b"]
    assert registry.services("b") == ["g@@a", "g@@z"]
    assert registry.services("missing") == []


def test_registry_set_meta_always_makes_a_new_revision() -> None:
    registry = Registry()
    created = registry.set_meta(NS, SVC, {"v": 1})
    again = registry.set_meta(NS, SVC, {"v": 1})
    assert again.service.revision > created.service.revision
    assert again.service.meta == {"v": 1}
    assert again.before is None
    assert again.after is None


def test_registry_ensure_service_returns_existing_snapshot() -> None:
    registry = Registry()
    created = registry.ensure_service(NS, SVC, "meta")
    assert registry.ensure_service(NS, SVC, "other") is created
    assert created.meta == "meta"
    assert len(created) == 0


def test_registry_set_healthy_flips_only_when_different() -> None:
    registry = Registry()
    registry.put_instance(NS, SVC, Instance("h", 1), None)
    assert registry.set_healthy(NS, SVC, "h:1:unknown:DEFAULT", True, True) is None
    assert registry.set_healthy(NS, SVC, "h:1:unknown:DEFAULT", False, False) is None
    assert registry.set_healthy(NS, "g@@missing", "h:1:unknown:DEFAULT", True, False) is None
    change = registry.set_healthy(NS, SVC, "h:1:unknown:DEFAULT", True, False)
    assert change is not None
    assert change.before is not None
    assert change.after is not None
    assert change.before.healthy
    assert not change.after.healthy
    assert change.after == change.before.replace(healthy=False)


def test_registry_put_instances_is_one_revision_and_none_without_net_change() -> None:
    registry = Registry()
    start = registry.ensure_service(NS, SVC, None).revision
    batch = [Instance("h", 1), Instance("h", 2), Instance("h", 1, ephemeral=False)]
    change = registry.put_instances(NS, SVC, batch, None)
    assert change is not None
    assert change.service.revision == start + 1
    assert len(change.service) == 3
    assert registry.put_instances(NS, SVC, batch, None) is None
    # A change undone later in the same batch is no change at all.
    assert registry.put_instances(NS, SVC, [Instance("h", 1, weight=2.0), Instance("h", 1)], None) is None
    assert registry.put_instances(NS, "g@@missing", [], None) is None
    assert registry.get(NS, "g@@missing") is None


def test_registry_put_instances_rejects_non_instances_atomically() -> None:
    registry = Registry()
    with pytest.raises(TypeError):
        registry.put_instances(NS, SVC, [Instance("h", 1), "h:2"], None)  # type: ignore[list-item]
    assert registry.get(NS, SVC) is None


def test_registry_replace_instances_keeps_places_and_appends_new_keys() -> None:
    registry = Registry()
    registry.put_instances(NS, SVC, [Instance("h", p) for p in (1, 2, 3)], None)
    registry.put_instance(NS, SVC, Instance("h", 7, ephemeral=False), None)
    wanted = [Instance("h", 9), Instance("h", 3, weight=2.0), Instance("h", 1)]
    change = registry.replace_instances(NS, SVC, True, wanted, None)
    assert change is not None
    assert keys(change.service, True) == [f"h:{p}:unknown:DEFAULT" for p in (1, 3, 9)]
    assert keys(change.service, False) == ["h:7:unknown:DEFAULT"]  # the other set is untouched
    assert registry.replace_instances(NS, SVC, True, reversed(wanted), None) is None  # same set
    with pytest.raises(ValueError, match="ephemeral"):
        registry.replace_instances(NS, SVC, False, [Instance("h", 1)], None)
    emptied = registry.replace_instances(NS, SVC, True, [], None)
    assert emptied is not None
    assert emptied.service.ephemeral_count == 0
    assert registry.replace_instances(NS, "g@@missing", True, [], None) is None


def test_service_digests_are_order_independent_and_zero_when_empty() -> None:
    instances = [Instance("h", p, metadata={"n": str(p)}) for p in range(1, 50)]
    first, second = Registry(), Registry()
    for inst in instances:
        first.put_instance(NS, SVC, inst, None)
    second.put_instances(NS, SVC, list(reversed(instances)), None)
    assert snapshot(first).ephemeral_digest == snapshot(second).ephemeral_digest != 0
    assert snapshot(first).persistent_digest == 0
    assert first.ensure_service(NS, "g@@empty", None).ephemeral_digest == 0
    first.set_healthy(NS, SVC, instances[0].key, True, False)
    assert snapshot(first).ephemeral_digest != snapshot(second).ephemeral_digest


def test_service_digest_encoding_is_stable() -> None:
    """Peers compare digests: the canonical encoding must never change by accident."""
    registry = Registry()
    registry.put_instance(NS, SVC, Instance("10.0.0.1", 8080, metadata={"a": "b"}), None)
    registry.put_instance(
        NS,
        SVC,
        Instance(
            "10.0.0.1",
            0,
            "c-1",
            weight=0.5,
            healthy=False,
            enabled=False,
            ephemeral=False,
            marked=True,
            metadata={"preserved.heart.beat.timeout": "3000", "zone": "é"},
            app="unknown",
            instance_id="7",
        ),
        None,
    )
    service = snapshot(registry)
    assert (service.ephemeral_digest, service.persistent_digest) == (5325747230877583016, 5651106596253871278)
    assert model.Instance("10.0.0.1", 8080, metadata={"a": "b"}).digest == 5325747230877583016


def test_service_cache_is_per_snapshot_and_bounded() -> None:
    registry = Registry()
    registry.put_instance(NS, SVC, Instance("h", 1), None)
    service = snapshot(registry)
    assert service.cached("v") is None
    for variant in range(MAX_CACHED_VARIANTS + 5):
        service.cache(variant, f"body-{variant}")
    assert service.cached(0) == "body-0"
    assert service.cached(MAX_CACHED_VARIANTS - 1) is not None
    assert service.cached(MAX_CACHED_VARIANTS) is None  # past the cap: not memoized
    service.cache(0, "replaced")  # an existing variant may be replaced
    assert service.cached(0) == "replaced"
    registry.put_instance(NS, SVC, Instance("h", 2), None)
    assert snapshot(registry).cached(0) is None  # a new revision starts empty
    assert service.cached(0) == "replaced"


def check_same_service(core: Registry, reference: model.Registry, full: bool) -> None:
    service, expected = core.get(NS, SVC), reference.get(NS, SVC)
    assert service is not None
    assert expected is not None
    assert (service.ephemeral_digest, service.persistent_digest) == (
        expected.ephemeral_digest,
        expected.persistent_digest,
    )
    assert (service.ephemeral_count, service.persistent_count) == (
        expected.ephemeral_count,
        expected.persistent_count,
    )
    if full:
        assert [i.key for i in service.instances()] == [i.key for i in expected.instances()]
        for inst in expected.instances():
            stored = service.get(inst.key, inst.ephemeral)
            assert stored is not None
            assert (stored.weight, stored.healthy, stored.port) == (inst.weight, inst.healthy, inst.port)


# (phase, steps, share of puts): grow to thousands (chunks, index doubling), churn (removes and re-adds
# across chunks), shrink to a few dozen (empty chunks, repacking, back to one chunk), grow again.
PHASES = [("grow", 2_500, 0.95), ("churn", 3_000, 0.5), ("shrink", 3_000, 0.03), ("regrow", 600, 0.9)]


def test_registry_large_service_matches_model() -> None:
    """Thousands of instances through every structural transition, checked against the model."""
    rng = random.Random(20_240_601)
    core, reference = Registry(), model.Registry()
    ports = range(1, 3_000)
    for phase, steps, put_share in PHASES:
        for step in range(steps):
            port, ephemeral = rng.choice(ports), rng.random() < 0.8
            if rng.random() < put_share:
                weight, healthy = float(rng.randint(0, 3)), rng.random() < 0.5
                got = core.put_instance(
                    NS, SVC, Instance("h", port, ephemeral=ephemeral, weight=weight, healthy=healthy), None
                )
                want = reference.put_instance(
                    NS,
                    SVC,
                    model.Instance("h", port, ephemeral=ephemeral, weight=weight, healthy=healthy),
                    None,
                )
            else:
                current = reference.get(NS, SVC)
                if current is not None and len(current) and phase == "shrink":  # remove what exists
                    victim = rng.choice(current.instances())
                    port, ephemeral = victim.port, victim.ephemeral
                key = f"h:{port}:unknown:DEFAULT"
                got = core.remove_instance(NS, SVC, key, ephemeral)
                want = reference.remove_instance(NS, SVC, key, ephemeral)
            assert (got is None) == (want is None)
            check_same_service(core, reference, full=step % 250 == 0)
        check_same_service(core, reference, full=True)
        sizes = len(reference.get(NS, SVC) or [])
        assert sizes > 1_500 if phase in ("grow", "churn") else sizes < 600


def test_registry_shrinking_service_repacks_and_keeps_order() -> None:
    registry = Registry()
    registry.put_instances(NS, SVC, [Instance("h", p) for p in range(1, 1_001)], None)
    for port in range(1, 1_001):
        if port % 20:
            assert registry.remove_instance(NS, SVC, f"h:{port}:unknown:DEFAULT", True) is not None
    survivors = [f"h:{p}:unknown:DEFAULT" for p in range(20, 1_001, 20)]
    assert keys(snapshot(registry)) == survivors
    for key in survivors:
        assert snapshot(registry).get(key, True) is not None
    registry.put_instance(NS, SVC, Instance("h", 1), None)  # a removed key comes back at the end
    registry.put_instance(NS, SVC, Instance("h", 20, weight=3.0), None)  # an update keeps its place
    assert keys(snapshot(registry)) == [*survivors, "h:1:unknown:DEFAULT"]
    assert snapshot(registry).get("h:20:unknown:DEFAULT", True) == Instance("h", 20, weight=3.0)


def _write_peaks(count: int) -> tuple[int, int, int]:
    """Peak bytes allocated by copying a ``count``-instance map, by an update of one instance of a
    ``count``-instance service and by adding one new instance to it."""
    registry = Registry()
    registry.put_instances(
        NS, SVC, [Instance(f"10.{n >> 16}.{n >> 8 & 255}.{n & 255}", 80) for n in range(count)], None
    )
    update = Instance("10.0.10.10", 80, weight=2.0)
    addition = Instance("11.0.0.1", 80)
    whole_map = {inst.key: inst for inst in snapshot(registry).instances()}
    tracemalloc.start()
    try:
        whole_map.copy()
        _, copy_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert registry.put_instance(NS, SVC, update, None) is not None
        _, update_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert registry.put_instance(NS, SVC, addition, None) is not None
        _, add_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return copy_peak, update_peak, add_peak


def test_registry_write_to_large_service_does_not_copy_it() -> None:
    """Allocation, not time: one write into 10,000 instances allocates a few KiB, not a 10,000-entry map."""
    copy_peak, update_peak, add_peak = _write_peaks(10_000)
    assert max(update_peak, add_peak) < copy_peak / 10, (update_peak, add_peak, copy_peak)


WRITE_ALLOCATION_BOUND = 16 * 1024
"""What one write may allocate whatever the service size: a copy of one chunk and of one index bucket
(each at most 128 entries), a page of 64 references to each, and the lists of page references (one
per 8,192 instances, one per 4,096)."""


def test_registry_write_allocates_the_same_into_any_size_of_service() -> None:
    """Into 100,000 instances a write allocates what it allocates into 10,000 (before paging, the
    reference tuples it copied grew with the service: ~45 KiB per write at 100,000)."""
    for count in (10_000, 100_000):
        _, update_peak, add_peak = _write_peaks(count)
        assert max(update_peak, add_peak) < WRITE_ALLOCATION_BOUND, (count, update_peak, add_peak)


def test_registry_paged_service_matches_an_ordered_map() -> None:
    """Tens of thousands of instances (several pages of chunks and of index buckets, index doublings,
    repacking after mass removal) against a plain insertion-ordered dict."""
    rng = random.Random(20_261_203)
    registry = Registry()
    expected: dict[str, Instance] = {}
    ips = [f"10.{n >> 16}.{n >> 8 & 255}.{n & 255}" for n in range(40_000)]
    for phase, steps, put_share in (("grow", 30_000, 0.97), ("churn", 10_000, 0.5), ("shrink", 25_000, 0.02)):
        for _ in range(steps):
            ip = rng.choice(ips)
            key = f"{ip}:80:unknown:DEFAULT"
            if rng.random() < put_share:
                instance = Instance(ip, 80, weight=float(rng.randint(0, 3)))
                changed = registry.put_instance(NS, SVC, instance, None)
                assert (changed is None) == (expected.get(key) == instance)
                expected[key] = instance
            else:
                if phase == "shrink" and expected:
                    key = rng.choice(list(expected)) if rng.random() < 0.01 else next(iter(expected))
                removed = registry.remove_instance(NS, SVC, key, True)
                assert (removed is None) == (key not in expected)
                expected.pop(key, None)
        service = registry.get(NS, SVC)
        got = service.instances() if service is not None else []
        assert [i.key for i in got] == list(expected), phase
        assert got == list(expected.values())
        for key, instance in rng.sample(sorted(expected.items()), min(500, len(expected))):
            assert service is not None
            assert service.get(key, True) == instance
