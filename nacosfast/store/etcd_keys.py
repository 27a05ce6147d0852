"""etcd keys and requests for the durable records (pure: no I/O).

One etcd key per journal key (``nacosfast.naming.journal``), under a configurable prefix::

    <prefix>/instance/<ns>/<service>/<cluster>/<ip>/<port>
    <prefix>/service/<ns>/<service>
    <prefix>/namespace/<id>
    <prefix>/switches

Every name part is percent-encoded (``/`` and ``%`` included), so no part can reach into another
key or another service's instances: ``<prefix>/instance/<ns>/<service>/`` is exactly the instances of
that service. The value of a key is the journal record that sets it (JSON, format version 2).

Requests are the etcd v3 JSON gateway's (``/v3/kv/txn``, ``/v3/kv/range``, ``/v3/watch``): keys and
values base64. A write is a transaction guarded by the key's revision as this node last read it:
``create_revision == 0`` for a key it believes absent, ``mod_revision == <read>`` otherwise.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

from nacosfast.limits import ETCD_RANGE_PAGE_KEYS

__all__ = [
    "DEFAULT_PREFIX",
    "Target",
    "b64",
    "check_prefix",
    "key_of",
    "parse_endpoints",
    "path_of",
    "range_request",
    "record_target",
    "unb64",
    "watch_request",
    "write_request",
]

DEFAULT_PREFIX: Final = "/nacosfast"
_KINDS: Final = {"instance": 5, "service": 2, "namespace": 1, "switches": 0}
"""Key kind → number of name parts after it."""


def check_prefix(prefix: str) -> str:
    """The prefix without a trailing ``/``; ``ValueError`` unless it is ``/``-led printable ASCII."""
    if not prefix.startswith("/") or not prefix.isascii() or not prefix.isprintable():
        raise ValueError(f"etcd prefix must start with '/' and be printable ASCII: {prefix!r}")
    return prefix.rstrip("/") or ""


def parse_endpoints(text: str) -> tuple[str, ...]:
    """``http(s)://host:port[,...]`` → the endpoint URLs; ``ValueError`` for anything else."""
    endpoints = tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())
    if not endpoints:
        raise ValueError("no etcd endpoint given")
    for endpoint in endpoints:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise ValueError(f"etcd endpoint must be http(s)://host:port: {endpoint!r}")
        try:
            parts.port  # noqa: B018 (raises ValueError on a bad port)
        except ValueError:
            raise ValueError(f"etcd endpoint has a bad port: {endpoint!r}") from None
    return endpoints


def _part(value: object) -> str:
    return quote(str(value), safe="")


def path_of(prefix: str, key: Hashable) -> str:
    """The etcd key of a journal key tuple, e.g. ``("instance", ns, service, cluster, ip, port)``."""
    assert isinstance(key, tuple), key
    assert key[0] in _KINDS, key
    return "/".join([prefix, key[0], *(_part(part) for part in key[1:])])


def instances_prefix(prefix: str, namespace: str, name: str) -> str:
    """The etcd key prefix of every persistent instance of one service (ends with ``/``)."""
    return "/".join([prefix, "instance", _part(namespace), _part(name), ""])


def key_of(prefix: str, path: str) -> tuple[Any, ...]:
    """The journal key tuple of an etcd key; ``ValueError`` for a key that is not one of ours."""
    if not path.startswith(prefix + "/"):
        raise ValueError(f"etcd key outside {prefix!r}: {path!r}")
    kind, *parts = path[len(prefix) + 1 :].split("/")
    if _KINDS.get(kind) != len(parts):
        raise ValueError(f"unknown etcd key {path!r}")
    names = [unquote(part) for part in parts]
    if kind == "instance":
        if not names[4].isdigit():
            raise ValueError(f"unknown etcd key {path!r}")
        return (kind, *names[:4], int(names[4]))
    return (kind, *names)


@dataclass(frozen=True, slots=True)
class Target:
    """What one journal record does in etcd: set ``path`` to ``value``, or delete it (``value`` None);
    ``range_end`` also deletes every key in ``[range_start, range_end)`` (a service's instances)."""

    path: str
    value: bytes | None
    range_start: str = ""
    range_end: str = ""


def _prefix_end(prefix: str) -> str:
    """The end of the etcd range holding every key that starts with ``prefix`` (ASCII)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def record_target(prefix: str, payload: bytes) -> Target:
    """The etcd write a journal record (``journal.encode``/``removal_record``) stands for."""
    record = json.loads(payload)
    kind = record["t"]
    deleted = bool(record.get("deleted"))
    value = None if deleted else payload
    if kind == "instance":
        item = record if deleted else record["value"]
        key = ("instance", record["ns"], record["name"], item["cluster"], item["ip"], int(item["port"]))
        return Target(path_of(prefix, key), value)
    if kind == "service":
        path = path_of(prefix, ("service", record["ns"], record["name"]))
        if not deleted:
            return Target(path, value)
        start = instances_prefix(prefix, record["ns"], record["name"])
        return Target(path, None, start, _prefix_end(start))
    if kind == "namespace":
        namespace_id = record["id"] if deleted else record["value"]["id"]
        return Target(path_of(prefix, ("namespace", namespace_id)), value)
    if kind == "switches":
        return Target(path_of(prefix, ("switches",)), value)
    raise ValueError(f"journal record of unknown type {kind!r}")


def b64(text: str | bytes) -> str:
    """Base64 of a key or value, as the gateway takes it."""
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode("ascii")


def unb64(text: str) -> bytes:
    """The bytes of a base64 gateway field."""
    return base64.b64decode(text)


def write_request(target: Target, revision: int | None) -> dict[str, Any]:
    """The ``/v3/kv/txn`` body for ``target``, guarded by ``revision`` (``None``: believed absent).

    On a lost compare the transaction reads the key instead (its ``else`` branch), so the caller learns
    the current revision in the same round trip."""
    key = b64(target.path)
    if revision is None:
        compare = {"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
    else:
        compare = {"key": key, "target": "MOD", "result": "EQUAL", "mod_revision": str(revision)}
    success: list[dict[str, Any]] = []
    if target.range_end:  # the instances first: watchers then drop an emptied service with its key
        success.append(
            {"request_delete_range": {"key": b64(target.range_start), "range_end": b64(target.range_end)}}
        )
    if target.value is not None:
        success.append({"request_put": {"key": key, "value": b64(target.value)}})
    else:
        success.append({"request_delete_range": {"key": key}})
    if target.value is None and revision is None:
        compares: list[dict[str, Any]] = []  # deleting what is believed absent: nothing to guard
    else:
        compares = [compare]
    return {"compare": compares, "success": success, "failure": [{"request_range": {"key": key}}]}


def range_request(prefix: str, revision: int = 0, after: str = "") -> dict[str, Any]:
    """The ``/v3/kv/range`` body reading one page (``ETCD_RANGE_PAGE_KEYS``) of the keys under
    ``prefix`` that sort after ``after`` (``""``: from the first), at ``revision`` (0: the newest)."""
    start = prefix + "/"
    first = after + "\0" if after else start
    body: dict[str, Any] = {
        "key": b64(first),
        "range_end": b64(_prefix_end(start)),
        "limit": str(ETCD_RANGE_PAGE_KEYS),
    }
    if revision:
        body["revision"] = str(revision)
    return body


def watch_request(prefix: str, start_revision: int) -> dict[str, Any]:
    """The ``/v3/watch`` body watching every key under ``prefix`` from ``start_revision`` on."""
    start = prefix + "/"
    return {
        "create_request": {
            "key": b64(start),
            "range_end": b64(_prefix_end(start)),
            "start_revision": str(start_revision),
            "progress_notify": True,
        }
    }
