"""Two nodes in one process share nothing mutable (issue 7 item 1).

Three proofs: every module-level object in ``nacosfast.naming`` and ``nacosfast.wire`` is immutable or a
documented constant that no request changes; no function rebinds a module global; and two
``NamingApp``s driven with interleaved requests answer exactly as one alone does and reach no common
mutable object. Process-wide by design, and excluded: the ``logging`` loggers (levels set with
``PUT /operator/log`` apply to the process, as logback's do in Nacos) and the compiled core's intern
tables of immutable strings and metadata maps (``_core/registry.pyx``; sharing them changes no answer).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import datetime
import enum
import gc
import importlib
import inspect
import json
import logging
import pkgutil
import re
import struct
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any, Final

import pytest

import nacosfast.naming
import nacosfast.naming.instances
import nacosfast.wire
from nacosfast.naming.app import NamingApp
from nacosfast.naming.memo import BoundedMemo
from nacosfast.naming.node import build_state
from nacosfast.wire.message import Response
from tests.naming_helpers import JAVA_UA, NODE_UA, PYTHON_UA, WALL_EPOCH_MS, MemoryJournal, call

DOCUMENTED_CONSTANTS: Final = {
    # Route tables: built at import, only read (``collect_routes`` copies them into each NamingApp).
    **{
        (f"nacosfast.naming.{module}", "ROUTES"): "route table"
        for module in ("catalog", "console", "health", "instances", "operator", "services")
    },
    ("nacosfast.naming.client_info", "DEFAULT_PUSH_MIN_VERSIONS"): "the push*Version switch defaults",
    ("nacosfast.naming.instances", "_EPHEMERAL_SUFFIX"): "kind → suffix in the metadata batch answer",
    ("nacosfast.naming.instances", "_CONSISTENCY_TYPES"): "consistencyType → kind of instance",
    ("nacosfast.naming.operator", "NACOS_LOGGERS"): "Nacos logName → nacosfast logger name",
    ("nacosfast.naming.operator", "LOG_LEVELS"): "logback level name → logging level",
    ("nacosfast.naming.routing", "_FORWARDED"): "route → service of a write forwarded to its owner",
    ("nacosfast.naming.routing", "_RELAYED"): "route → service of a beat relayed to its owner",
    ("nacosfast.naming.switch_update", "ENTRIES"): "switch entry → its parser",
    ("nacosfast.naming.switch_update", "_BATCH_FIELDS"): "batch JSON key → switch field",
    ("nacosfast.naming.switch_update", "_PUSH_VERSION_FIELDS"): "client type → push*Version field",
    ("nacosfast.wire.message", "REASON_PHRASES"): "status → reason phrase",
    ("nacosfast.wire.http", "_STATUS_LINES"): "status → encoded status line",
    ("nacosfast.wire.http", "_KNOWN_METHODS"): "llhttp method → method name",
    ("nacosfast.wire.http", "_NO_HEADERS"): "the shared empty header map of a request without headers",
    ("nacosfast.wire.http", "_NO_REQUESTS"): "the shared empty result of a feed that completed nothing",
}
"""Module-level dicts and lists that are constants in all but type (``Final``, never written after
import). ``test_documented_constants_are_not_changed_by_requests`` checks that requests leave them as
they were."""

_IMMUTABLE_TYPES: Final = (
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    range,
    enum.Enum,
    re.Pattern,
    json.JSONDecoder,  # holds only its configuration, like a compiled pattern
    struct.Struct,
    datetime.tzinfo,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.ModuleType,
    type,
    typing.TypeVar,
    types.GenericAlias,
)


def is_immutable(value: object) -> bool:
    """Whether ``value`` cannot change: scalars, code, frozen dataclasses and tuples of such."""
    if isinstance(value, _IMMUTABLE_TYPES) or type(value).__module__ in ("typing", "__future__"):
        return True  # typing's special forms and aliases, ``from __future__ import annotations``
    if isinstance(value, tuple | frozenset):
        return all(is_immutable(item) for item in value)
    if isinstance(value, types.MappingProxyType):
        return all(is_immutable(key) and is_immutable(item) for key, item in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        params = value.__dataclass_params__  # type: ignore[attr-defined]
        return bool(params.frozen) and all(
            is_immutable(getattr(value, f.name)) for f in dataclasses.fields(value)
        )
    return False


def pure_modules() -> Iterator[types.ModuleType]:
    for package in (nacosfast.naming, nacosfast.wire):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            yield importlib.import_module(info.name)


def module_level_mutables() -> dict[tuple[str, str], object]:
    """Every module-level object of the pure layers that could change, but the modules' loggers
    (logging is process-wide by design: levels set with ``PUT /operator/log`` apply to every node)."""
    found = {}
    for module in pure_modules():
        imported = imported_names(module)
        for name, value in vars(module).items():
            if name.startswith("__") or name in imported:
                continue
            if isinstance(value, logging.Logger) or is_immutable(value):
                continue
            found[(module.__name__, name)] = value
    return found


def imported_names(module: types.ModuleType) -> set[str]:
    """The names a module imports: those objects belong to the module they come from."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def rebound_globals() -> set[tuple[str, str]]:
    """Names that a function rebinds with ``global`` (a process-wide cache in disguise)."""
    rebound: set[tuple[str, str]] = set()
    for module in pure_modules():
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.Global):
                rebound.update((module.__name__, name) for name in node.names)
    return rebound


def test_module_level_objects_are_immutable_or_documented_constants() -> None:
    found = set(module_level_mutables())
    assert not found - set(DOCUMENTED_CONSTANTS), "process-wide mutable state"
    assert not set(DOCUMENTED_CONSTANTS) - found, "documented constants that are gone: update the list"


def test_no_function_rebinds_a_module_global() -> None:
    assert not rebound_globals()


# --- two nodes, interleaved ---------------------------------------------------------------------------


def new_app() -> NamingApp:
    wall = WALL_EPOCH_MS
    return NamingApp(build_state(MemoryJournal(), lambda: wall))


Step = Callable[[NamingApp, int], Response]


def _req(method: str, path: str, ua: str = JAVA_UA, **params: Any) -> Step:
    return lambda app, now_ms: call(app, method, path, params, user_agent=ua, now_ms=now_ms)


def _steps() -> list[Step]:
    """A session that touches every memo and table: writes, beats, lists (memoized), push
    subscriptions, switches (push versions, beat interval), namespaces, services, metrics."""

    beat = json.dumps({"ip": "10.0.0.2", "port": 80, "cluster": "DEFAULT", "serviceName": "svc"})
    listing = {"serviceName": "svc", "udpPort": "40001", "clientIP": "127.0.0.9"}
    return [
        _req("POST", "/v1/ns/instance", serviceName="svc", ip="10.0.0.1", port="80"),
        _req("GET", "/v1/ns/instance/list", **listing),
        _req("PUT", "/v1/ns/instance/beat", serviceName="svc", beat=beat),
        _req("PUT", "/v1/ns/operator/switches", entry="clientBeatInterval", value="7000"),
        _req("PUT", "/v1/ns/instance/beat", serviceName="svc", ip="10.0.0.1", port="80"),
        _req("PUT", "/v1/ns/operator/switches", entry="pushVersion", value="java:9.0.0"),
        _req("GET", "/v1/ns/instance/list", **listing),
        _req("GET", "/v1/ns/instance/list", NODE_UA, serviceName="svc", healthyOnly="true"),
        _req("POST", "/v1/ns/instance", serviceName="svc", ip="10.0.0.3", port="81", ephemeral="false"),
        _req(
            "PUT",
            "/v1/ns/instance/metadata/batch",
            serviceName="svc",
            consistencyType="ephemeral",
            metadata="k=v",
        ),
        _req("POST", "/v1/console/namespaces", customNamespaceId="ns1", namespaceName="one"),
        _req("POST", "/v1/ns/service", serviceName="other", metadata="a=b"),
        _req("GET", "/v1/ns/service/subscribers", serviceName="svc"),
        _req("GET", "/v1/ns/instance/list", PYTHON_UA, serviceName="svc"),
        _req("GET", "/v1/ns/operator/metrics"),
        _req("DELETE", "/v1/ns/instance", serviceName="svc", ip="10.0.0.1", port="80"),
        _req("GET", "/v1/ns/instance/list", **listing),
    ]


def _session_other_node() -> list[Step]:
    """What the second node is asked meanwhile: the same names with different values and switches."""

    listing = {"serviceName": "svc", "udpPort": "40001", "clientIP": "127.0.0.9"}
    return [
        _req("PUT", "/v1/ns/operator/switches", entry="pushVersion", value="java:0.1.0"),
        _req("POST", "/v1/ns/instance", serviceName="svc", ip="10.9.9.9", port="80", weight="3"),
        _req("GET", "/v1/ns/instance/list", **listing),
        _req("PUT", "/v1/ns/operator/switches", entry="clientBeatInterval", value="9000"),
        _req("PUT", "/v1/ns/instance/beat", serviceName="svc", ip="10.9.9.9", port="80"),
        _req("GET", "/v1/ns/instance/list", NODE_UA, serviceName="svc", healthyOnly="true"),
        _req("POST", "/v1/console/namespaces", customNamespaceId="ns1", namespaceName="uno"),
        _req(
            "PUT", "/v1/ns/instance/beat", serviceName="svc", beat=json.dumps({"ip": "10.9.9.8", "port": 1})
        ),
        _req("GET", "/v1/ns/instance/list", **listing),
    ]


def _answer(response: Response) -> tuple[int, bytes]:
    return response.status, response.body


def _run_interleaved() -> tuple[NamingApp, NamingApp, list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    first, second = new_app(), new_app()
    first_steps, second_steps = _steps(), _session_other_node()
    first_answers, second_answers = [], []
    for index in range(max(len(first_steps), len(second_steps))):
        now_ms = index * 1_000
        if index < len(first_steps):
            first_answers.append(_answer(first_steps[index](first, now_ms)))
        if index < len(second_steps):
            second_answers.append(_answer(second_steps[index](second, now_ms + 1)))
    return first, second, first_answers, second_answers


def test_interleaved_nodes_answer_as_each_alone() -> None:
    _, _, first_answers, second_answers = _run_interleaved()
    alone = new_app()
    assert [_answer(step(alone, index * 1_000)) for index, step in enumerate(_steps())] == first_answers
    alone = new_app()
    other = [_answer(step(alone, index * 1_000 + 1)) for index, step in enumerate(_session_other_node())]
    assert other == second_answers
    assert all(status == 200 for status, _ in first_answers + second_answers)


_SHAREABLE_CORE_TYPES: Final = ("_Metadata", "_InstanceSet")
"""Immutable core values that are shared across the process on purpose: interned metadata maps (one
copy per distinct map, ``CORE_MAX_INTERNED_METADATA``) and the empty persistent instance set."""


def may_be_shared(value: object) -> bool:
    """Immutable values, interned core values and loggers (process-wide by design)."""
    return (
        is_immutable(value)
        or isinstance(value, logging.Logger)
        or type(value).__name__ in _SHAREABLE_CORE_TYPES
    )


def reachable(root: object) -> dict[int, object]:
    """Every object reachable from ``root`` as data: through containers, attributes, slots, closures
    and bound methods, but not into modules, classes or a function's globals (code, not state), nor
    behind a read-only ``mappingproxy`` to the dict it wraps."""
    seen: dict[int, object] = {}
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, type | types.ModuleType):
            continue
        seen[id(item)] = item
        if isinstance(item, types.FunctionType):
            stack.extend(cell.cell_contents for cell in item.__closure__ or ())
            stack.extend(item.__defaults__ or ())
            stack.extend((item.__kwdefaults__ or {}).values())
        elif isinstance(item, types.MethodType):
            stack.extend((item.__self__, item.__func__))
        elif isinstance(item, types.MappingProxyType):  # its dict is reachable only read-only
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            stack.extend(gc.get_referents(item))
    return seen


def shared_mutables(first: NamingApp, second: NamingApp) -> list[object]:
    """Objects reachable from both applications that could change."""
    ours, theirs = reachable(first), reachable(second)
    return [ours[key] for key in ours.keys() & theirs.keys() if not may_be_shared(ours[key])]


def test_interleaved_nodes_reach_no_common_mutable_object() -> None:
    first, second, _, _ = _run_interleaved()
    assert len(first.state.memos.list_queries) > 0
    assert len(second.state.memos.list_queries) > 0
    shared = shared_mutables(first, second)
    assert not shared, [f"{type(item).__name__}: {item!r:.120}" for item in shared]


def test_the_checks_find_shared_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative controls: a memo handed to two nodes, and a module-level cache, are both found."""
    first, second = new_app(), new_app()
    second.state.memos = first.state.memos
    assert any(isinstance(item, BoundedMemo) for item in shared_mutables(first, second))
    monkeypatch.setattr(nacosfast.naming.instances, "_planted_cache", {}, raising=False)
    assert ("nacosfast.naming.instances", "_planted_cache") in module_level_mutables()


def test_documented_constants_are_not_changed_by_requests() -> None:
    before = {key: copy.deepcopy(value) for key, value in module_level_mutables().items()}
    _run_interleaved()
    after = module_level_mutables()
    for key, value in before.items():
        assert after[key] == value, key
