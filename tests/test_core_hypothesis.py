"""The compiled core against the pure-Python reference model (``tests/model.py``), command by command.

Hypothesis drives the same random command sequences through ``nacosfast._core`` and the model and
compares every return value and, after every step, the whole observable state.
"""

from __future__ import annotations

import struct
from collections.abc import Hashable
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from nacosfast._core import beats as core_beats
from nacosfast._core import digest as core_digest
from nacosfast._core import registry as core_registry
from tests import model

STATEFUL = settings(
    max_examples=100, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# --- registry ----------------------------------------------------------------------------------------

NAMESPACES = ["public", "ns-1"]
NAMES = ["DEFAULT_GROUP@@orders", "g@@pay"]
METADATA: list[dict[str, str] | None] = [
    None,
    {},
    {"version": "1.0", "zone": "a"},
    {"zone": "a", "version": "1.0"},
    {"preserved.heart.beat.timeout": "3000", "preserved.ip.delete.timeout": "6000"},
    {"preserved.heart.beat.interval": "١٢٣"},  # Arabic-Indic digits are not ``\d`` in Java: default
    {"preserved.ip.delete.timeout": "00099999999999999999999", "é": "ü"},
]

MUTABLE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "cluster": st.sampled_from(["DEFAULT", "c-1"]),
    "weight": st.sampled_from([0.0, -0.0, 0.5, 1.0, 10000.0]),
    "healthy": st.booleans(),
    "enabled": st.booleans(),
    "ephemeral": st.booleans(),
    "marked": st.booleans(),
    "metadata": st.sampled_from(METADATA),
    "app": st.sampled_from([None, "unknown", ""]),
    "instance_id": st.sampled_from([None, "0", "id-1"]),
}
instance_params = st.fixed_dictionaries(
    {
        "ip": st.sampled_from(["10.0.0.1", "10.0.0.2", "fe80::1", "host-é"]),
        "port": st.sampled_from([0, 1, 8080, 65535]),
        **MUTABLE_FIELDS,
    }
)


def build(module: Any, params: dict[str, Any]) -> Any:
    """The same instance in the core or in the model."""
    fields = dict(params)
    return module.Instance(fields.pop("ip"), fields.pop("port"), fields.pop("cluster"), **fields)


def params_of(inst: Any) -> dict[str, Any]:
    """The constructor arguments that rebuild ``inst`` (core or model)."""
    return {name: getattr(inst, name) for name in ("ip", "port", *MUTABLE_FIELDS)} | {
        "metadata": dict(inst.metadata)
    }


def instance_view(inst: Any) -> Any:
    if inst is None:
        return None
    return (
        inst.ip, inst.port, inst.cluster, inst.weight, inst.healthy, inst.enabled, inst.ephemeral,
        inst.marked,
        list(inst.metadata.items()), inst.app, inst.instance_id, inst.key, inst.beat_interval_ms,
        inst.beat_timeout_ms, inst.delete_timeout_ms, inst.id_in("DEFAULT_GROUP@@orders"),
    )  # fmt: skip


def service_view(service: Any) -> Any:
    if service is None:
        return None
    return (
        service.namespace, service.name, service.revision, service.meta, service.ephemeral_digest,
        service.persistent_digest, service.ephemeral_count, service.persistent_count, len(service),
        [instance_view(i) for i in service.instances()], [i.key for i in service.instances(True)],
        [i.key for i in service.instances(False)], service.clusters(),
    )  # fmt: skip


def service_summary(service: Any) -> Any:
    """The O(1) part of a snapshot (the invariant compares the instance lists after every step)."""
    return (
        service.namespace, service.name, service.revision, service.meta, service.ephemeral_digest,
        service.persistent_digest, service.ephemeral_count, service.persistent_count, len(service),
    )  # fmt: skip


def change_view(change: Any) -> Any:
    if change is None:
        return None
    return (service_summary(change.service), instance_view(change.before), instance_view(change.after),
            change.service_removed)  # fmt: skip


class RegistryMachine(RuleBasedStateMachine):
    """Random writes to both registries; every result and the full state must match."""

    def __init__(self) -> None:
        super().__init__()
        self.core = core_registry.Registry()
        self.model = model.Registry()

    def both(self, method: str, *args: Any) -> Any:
        got = getattr(self.core, method)(*args)
        want = getattr(self.model, method)(*args)
        return got, want

    def check_change(self, core_change: Any, model_change: Any) -> None:
        assert change_view(core_change) == change_view(model_change)

    def keys_of(self, namespace: str, name: str) -> list[tuple[str, bool]]:
        service = self.model.get(namespace, name)
        if service is None:
            return [("10.0.0.1:8080:unknown:DEFAULT", True)]
        return [(i.key, i.ephemeral) for i in service.instances()] or [("10.0.0.1:unknown:DEFAULT", False)]

    @rule(
        ns=st.sampled_from(NAMESPACES),
        name=st.sampled_from(NAMES),
        params=instance_params,
        meta=st.integers(0, 3),
    )
    def put_instance(self, ns: str, name: str, params: dict[str, Any], meta: int) -> None:
        got = self.core.put_instance(ns, name, build(core_registry, params), meta)
        want = self.model.put_instance(ns, name, build(model, params), meta)
        self.check_change(got, want)

    @rule(
        ns=st.sampled_from(NAMESPACES),
        name=st.sampled_from(NAMES),
        batch=st.lists(instance_params, max_size=6),
        meta=st.integers(0, 3),
    )
    def put_instances(self, ns: str, name: str, batch: list[dict[str, Any]], meta: int) -> None:
        got = self.core.put_instances(ns, name, [build(core_registry, p) for p in batch], meta)
        want = self.model.put_instances(ns, name, [build(model, p) for p in batch], meta)
        self.check_change(got, want)

    @rule(
        ns=st.sampled_from(NAMESPACES),
        name=st.sampled_from(NAMES),
        params=instance_params,
        start=st.integers(0, 65_000),
        count=st.integers(1, 200),
        one_by_one=st.booleans(),
    )
    def bulk_put(
        self, ns: str, name: str, params: dict[str, Any], start: int, count: int, one_by_one: bool
    ) -> None:
        """Hundreds of instances at once: sets span several chunks and grow an index."""
        batch = [dict(params, port=min(start + i, 65_535)) for i in range(count)]
        if one_by_one:
            for p in batch:
                self.check_change(
                    self.core.put_instance(ns, name, build(core_registry, p), None),
                    self.model.put_instance(ns, name, build(model, p), None),
                )
        else:
            self.check_change(
                self.core.put_instances(ns, name, [build(core_registry, p) for p in batch], None),
                self.model.put_instances(ns, name, [build(model, p) for p in batch], None),
            )

    @rule(ns=st.sampled_from(NAMESPACES), name=st.sampled_from(NAMES), data=st.data())
    def remove_instance(self, ns: str, name: str, data: st.DataObject) -> None:
        key, ephemeral = data.draw(st.sampled_from(self.keys_of(ns, name)))
        ephemeral = data.draw(st.sampled_from([ephemeral, ephemeral, not ephemeral]))
        self.check_change(*self.both("remove_instance", ns, name, key, ephemeral))

    @rule(
        ns=st.sampled_from(NAMESPACES),
        name=st.sampled_from(NAMES),
        step=st.integers(1, 4),
        offset=st.integers(0, 3),
    )
    def bulk_remove(self, ns: str, name: str, step: int, offset: int) -> None:
        """Remove every ``step``-th instance: empties chunks and triggers repacking."""
        for key, ephemeral in self.keys_of(ns, name)[offset::step]:
            self.check_change(*self.both("remove_instance", ns, name, key, ephemeral))

    @rule(
        ns=st.sampled_from(NAMESPACES),
        name=st.sampled_from(NAMES),
        ephemeral=st.booleans(),
        keep=st.integers(0, 3),
        extra=st.lists(instance_params, max_size=5),
        meta=st.integers(0, 3),
        reverse=st.booleans(),
    )
    def replace_instances(
        self,
        ns: str,
        name: str,
        ephemeral: bool,
        keep: int,
        extra: list[dict[str, Any]],
        meta: int,
        reverse: bool,
    ) -> None:
        """Keep every ``keep``-th current instance (0: none), add ``extra``, possibly reversed."""
        service = self.model.get(ns, name)
        current = service.instances(ephemeral) if service is not None else []
        kept = current[::keep] if keep else []
        params = [params_of(i) for i in kept] + [dict(p, ephemeral=ephemeral) for p in extra]
        if reverse:
            params.reverse()
        got = self.core.replace_instances(
            ns, name, ephemeral, [build(core_registry, p) for p in params], meta
        )
        want = self.model.replace_instances(ns, name, ephemeral, [build(model, p) for p in params], meta)
        self.check_change(got, want)

    @rule(ns=st.sampled_from(NAMESPACES), name=st.sampled_from(NAMES), healthy=st.booleans(), data=st.data())
    def set_healthy(self, ns: str, name: str, healthy: bool, data: st.DataObject) -> None:
        key, ephemeral = data.draw(st.sampled_from(self.keys_of(ns, name)))
        self.check_change(*self.both("set_healthy", ns, name, key, ephemeral, healthy))

    @rule(ns=st.sampled_from(NAMESPACES), name=st.sampled_from(NAMES), meta=st.integers(0, 3))
    def set_meta(self, ns: str, name: str, meta: int) -> None:
        self.check_change(*self.both("set_meta", ns, name, meta))

    @rule(ns=st.sampled_from(NAMESPACES), name=st.sampled_from(NAMES), meta=st.integers(0, 3))
    def ensure_service(self, ns: str, name: str, meta: int) -> None:
        got, want = self.both("ensure_service", ns, name, meta)
        assert service_view(got) == service_view(want)

    @rule(ns=st.sampled_from(NAMESPACES), name=st.sampled_from(NAMES))
    def remove_service(self, ns: str, name: str) -> None:
        self.check_change(*self.both("remove_service", ns, name))

    @rule(
        ns=st.sampled_from(NAMESPACES),
        name=st.sampled_from(NAMES),
        variants=st.lists(st.integers(0, 20), max_size=25),
    )
    def cache(self, ns: str, name: str, variants: list[int]) -> None:
        got, want = self.core.get(ns, name), self.model.get(ns, name)
        if got is None or want is None:
            assert got is None
            assert want is None
            return
        for variant in variants:
            assert got.cached(variant) == want.cached(variant)
            got.cache(variant, (variant, got.revision))
            want.cache(variant, (variant, want.revision))
        for variant in range(21):
            assert got.cached(variant) == want.cached(variant)

    @invariant()
    def same_state(self) -> None:
        assert self.core.namespaces() == self.model.namespaces()
        assert self.core.service_count == self.model.service_count
        assert self.core.instance_count == self.model.instance_count
        for ns in [*NAMESPACES, "absent"]:
            assert self.core.services(ns) == self.model.services(ns)
            for name in NAMES:
                core_service, model_service = self.core.get(ns, name), self.model.get(ns, name)
                assert service_view(core_service) == service_view(model_service)
                if core_service is not None and model_service is not None:
                    keys = self.keys_of(ns, name)
                    for key, ephemeral in keys[:10] + keys[-10:]:
                        assert instance_view(core_service.get(key, ephemeral)) == instance_view(
                            model_service.get(key, ephemeral)
                        )
                        assert instance_view(core_service.get(key, not ephemeral)) == instance_view(
                            model_service.get(key, not ephemeral)
                        )


TestRegistryAgainstModel = RegistryMachine.TestCase
TestRegistryAgainstModel.settings = settings(STATEFUL, max_examples=50)  # its steps are the costly ones


@given(params=instance_params, changes=st.fixed_dictionaries({}, optional=MUTABLE_FIELDS))
def test_instance_replace_matches_model(params: dict[str, Any], changes: dict[str, Any]) -> None:
    got = build(core_registry, params).replace(**changes)
    want = build(model, params).replace(**changes)
    assert instance_view(got) == instance_view(want)
    assert got == build(core_registry, params_of(want))


@given(params=instance_params)
def test_instance_digest_matches_model(params: dict[str, Any]) -> None:
    registry = core_registry.Registry()
    change = registry.put_instance("public", "g@@s", build(core_registry, params), None)
    assert change is not None
    service = change.service
    assert service.ephemeral_digest + service.persistent_digest == build(model, params).digest


@given(
    ip=st.text(max_size=8),
    port=st.integers(-2, 70_000),
    cluster=st.text(max_size=4),
    weight=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 20_000),
    metadata=st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=3),
)
def test_instance_validation_matches_model(
    ip: str, port: int, cluster: str, weight: float, metadata: dict[str, str]
) -> None:
    outcomes = []
    for module in (core_registry, model):
        try:
            outcomes.append(
                instance_view(module.Instance(ip, port, cluster, weight=weight, metadata=metadata))
            )
        except ValueError:
            outcomes.append("ValueError")
    assert outcomes[0] == outcomes[1]


# --- beats -------------------------------------------------------------------------------------------

BEAT_KEYS: list[Hashable] = [0, 1, 2, 3, "a", "b", ("public", "g@@s", "10.0.0.1:80:unknown:DEFAULT")]


class BeatsMachine(RuleBasedStateMachine):
    """Random track/beat/sweep sequences on a monotonic clock."""

    def __init__(self) -> None:
        super().__init__()
        self.core = core_beats.BeatTable(capacity_hint=2)
        self.model = model.BeatTable()
        self.now = 0

    @initialize(start=st.integers(-(10**12), 10**12))
    def start(self, start: int) -> None:
        self.now = start

    @rule(step=st.integers(0, 40_000))
    def advance(self, step: int) -> None:
        self.now += step

    @rule(
        key=st.sampled_from(BEAT_KEYS),
        timeout=st.integers(0, 30_000),
        delete=st.integers(0, 60_000),
        healthy=st.booleans(),
    )
    def track(self, key: Hashable, timeout: int, delete: int, healthy: bool) -> None:
        self.core.track(key, self.now, timeout, delete, healthy)
        self.model.track(key, self.now, timeout, delete, healthy)

    @rule(start=st.integers(100, 10_000), count=st.integers(1, 200))
    def track_many(self, start: int, count: int) -> None:
        """Enough keys to grow the arrays past their first capacity and reuse freed slots."""
        for key in range(start, start + count):
            self.core.track(key, self.now, 15_000, 30_000)
            self.model.track(key, self.now, 15_000, 30_000)

    @rule(key=st.sampled_from(BEAT_KEYS))
    def untrack(self, key: Hashable) -> None:
        assert self.core.untrack(key) == self.model.untrack(key)

    @rule(key=st.sampled_from(BEAT_KEYS))
    def beat(self, key: Hashable) -> None:
        assert self.core.beat(key, self.now) == self.model.beat(key, self.now)

    @rule(key=st.sampled_from(BEAT_KEYS), timeout=st.integers(0, 30_000), delete=st.integers(0, 60_000))
    def set_timeouts(self, key: Hashable, timeout: int, delete: int) -> None:
        assert self.core.set_timeouts(key, timeout, delete) == self.model.set_timeouts(key, timeout, delete)

    @rule()
    def touch_all(self) -> None:
        self.core.touch_all(self.now)
        self.model.touch_all(self.now)

    @rule()
    def sweep(self) -> None:
        got_unhealthy, got_expired = self.core.sweep(self.now)
        want_unhealthy, want_expired = self.model.sweep(self.now)
        # Order follows slots in the core and insertion in the model; each key is reported once.
        assert len(got_unhealthy) == len(set(got_unhealthy))
        assert len(got_expired) == len(set(got_expired))
        assert set(got_unhealthy) == set(want_unhealthy)
        assert set(got_expired) == set(want_expired)

    @invariant()
    def same_state(self) -> None:
        assert len(self.core) == len(self.model)
        for key in BEAT_KEYS:
            assert (key in self.core) == (key in self.model)
            assert self.core.last_beat(key) == self.model.last_beat(key)
            assert self.core.is_healthy(key) == self.model.is_healthy(key)


TestBeatsAgainstModel = BeatsMachine.TestCase
TestBeatsAgainstModel.settings = STATEFUL


# --- digest ------------------------------------------------------------------------------------------

DIGEST_KEYS = ["public##DEFAULT_GROUP@@a", "public##g@@b", "ns##é", "", "k" * 300]
versions = st.integers(-(2**63), 2**63 - 1)
digests = st.integers(0, 2**64 - 1)


class DigestMachine(RuleBasedStateMachine):
    """A local and a remote table in the core and in the model; encode/decode/diff must agree."""

    def __init__(self) -> None:
        super().__init__()
        self.core = [core_digest.DigestTable(), core_digest.DigestTable()]
        self.model = [model.DigestTable(), model.DigestTable()]

    @rule(side=st.integers(0, 1), key=st.sampled_from(DIGEST_KEYS), version=versions, digest=digests)
    def set(self, side: int, key: str, version: int, digest: int) -> None:
        self.core[side].set(key, version, digest)
        self.model[side].set(key, version, digest)

    @rule(key=st.sampled_from(DIGEST_KEYS))
    def copy_to_remote(self, key: str) -> None:
        value = self.model[0].get(key)
        if value is not None:
            self.core[1].set(key, *value)
            self.model[1].set(key, *value)

    @rule(side=st.integers(0, 1), key=st.sampled_from(DIGEST_KEYS))
    def remove(self, side: int, key: str) -> None:
        assert self.core[side].remove(key) == self.model[side].remove(key)

    @rule(side=st.integers(0, 1), keys=st.none() | st.lists(st.sampled_from([*DIGEST_KEYS, "absent"])))
    def encode(self, side: int, keys: list[str] | None) -> None:
        message = self.core[side].encode(keys)
        assert message == self.model[side].encode(keys)
        assert core_digest.decode(message).keys() == model.decode(message).keys()
        decoded = core_digest.decode(message)
        for key in list(decoded.keys()):
            assert decoded.get(key) == self.model[side].get(key)

    @rule()
    def diff(self) -> None:
        assert self.core[0].diff(self.core[1]) == self.model[0].diff(self.model[1])
        assert self.core[1].diff(self.core[0]) == self.model[1].diff(self.model[0])

    @invariant()
    def same_state(self) -> None:
        for side in (0, 1):
            assert len(self.core[side]) == len(self.model[side])
            assert self.core[side].keys() == self.model[side].keys()
            for key in [*DIGEST_KEYS, "absent"]:
                assert (key in self.core[side]) == (key in self.model[side])
                assert self.core[side].get(key) == self.model[side].get(key)


TestDigestAgainstModel = DigestMachine.TestCase
TestDigestAgainstModel.settings = STATEFUL


def decode_outcome(module: Any, data: bytes, max_bytes: int | None = None) -> Any:
    try:
        table = module.decode(data) if max_bytes is None else module.decode(data, max_bytes)
    except ValueError:
        return "ValueError"
    return [(key, table.get(key)) for key in list(table.keys())]


@given(data=st.binary(max_size=300))
def test_digest_decode_random_bytes_never_crashes(data: bytes) -> None:
    assert decode_outcome(core_digest, data) == decode_outcome(model, data)


entry = st.tuples(versions, digests, st.binary(max_size=6), st.integers(-2, 3))
payloads = st.builds(
    lambda magic, count, entries, tail: (
        magic
        + struct.pack("<I", count)
        + b"".join(struct.pack("<qQI", v, d, max(0, len(k) + delta)) + k for v, d, k, delta in entries)
        + tail
    ),
    st.sampled_from([b"NFD1", b"NFD2", b"NF"]),
    st.integers(0, 2**32 - 1) | st.integers(0, 6),
    st.lists(entry, max_size=5),
    st.binary(max_size=3),
)


@given(payload=payloads, max_bytes=st.none() | st.integers(0, 200))
def test_digest_decode_crafted_payloads_match_model(payload: bytes, max_bytes: int | None) -> None:
    """Well-compressed but malformed payloads: every length and count is checked."""
    data = zstandard.ZstdCompressor(level=1).compress(payload)
    assert decode_outcome(core_digest, data, max_bytes) == decode_outcome(model, data, max_bytes)


@given(
    keys=st.lists(st.text(max_size=5), max_size=8),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=3),
    cut=st.integers(0, 10_000),
)
def test_digest_decode_damaged_messages_match_model(
    keys: list[str], flips: list[tuple[int, int]], cut: int
) -> None:
    table = core_digest.DigestTable()
    for number, key in enumerate(keys):
        try:
            table.set(key, number, number * 7)
        except ValueError:  # a lone surrogate is refused by set()
            continue
    data = bytearray(table.encode())
    for position, mask in flips:
        data[position % len(data)] ^= mask
    damaged = bytes(data[: max(cut, 0)]) if cut < len(data) else bytes(data)
    assert decode_outcome(core_digest, damaged) == decode_outcome(model, damaged)


@pytest.mark.parametrize("module", [core_digest, model], ids=["core", "model"])
def test_digest_decode_rejects_frames_without_content_size(module: Any) -> None:
    raw = struct.pack("<4sI", b"NFD1", 0)
    data = zstandard.ZstdCompressor(level=1, write_content_size=False).compress(raw)
    with pytest.raises(ValueError, match="content size"):
        module.decode(data)
