"""Cluster health-checker settings (compatibility.md §2.9 D, §3.12 ``PUT /cluster``) and Cluster JSON.

Nacos reads ``healthChecker`` with Jackson polymorphism on ``type`` and a ``defaultImpl`` of ``NONE``:
a typo such as ``tcp`` silently turns checks off. nacosfast accepts the four types Nacos ships
(exact case) and refuses anything else with 400, so a checker is never changed by accident.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from nacosfast._core.registry import Service
from nacosfast.errors import BadRequest
from nacosfast.limits import MAX_HEALTH_CHECKER_BYTES, MAX_METADATA_VALUE_LENGTH
from nacosfast.naming.meta import ClusterConfig, ServiceMeta
from nacosfast.naming.params import parse_json_object

TCP: Final = "TCP"
HTTP: Final = "HTTP"
MYSQL: Final = "MYSQL"
NONE: Final = "NONE"
CHECKER_TYPES: Final = (TCP, HTTP, MYSQL, NONE)
_HTTP_DEFAULTS: Final = MappingProxyType({"path": "", "headers": "", "expectedResponseCode": 200})
_MYSQL_FIELDS: Final = ("user", "pwd", "cmd")
_MAX_INT_DIGITS: Final = 10
"""Digits of a Java ``int``: a longer digit string is not a status (and ``int()`` of more than 4300
digits would raise)."""
DEFAULT_CHECKER_PORT: Final = 80
"""``Cluster.defaultPort``/``defaultCheckPort``: Nacos never changes them from 80."""


def _text_field(checker: str, key: str, value: object) -> str:
    """Jackson's scalar-to-String coercion for one checker field, bounded."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        text = str(value)
    else:
        raise BadRequest(f"healthChecker {checker}: '{key}' must be a string")
    if len(text) > MAX_METADATA_VALUE_LENGTH:
        raise BadRequest(f"healthChecker {checker}: '{key}' is longer than {MAX_METADATA_VALUE_LENGTH}")
    return text


def parse_health_checker(raw: str) -> dict[str, Any]:
    """The ``healthChecker`` parameter (JSON with ``type``) as the normalized checker dict; 400 if bad."""
    data = parse_json_object("healthChecker", raw, MAX_HEALTH_CHECKER_BYTES)
    kind = data.get("type")
    if kind not in CHECKER_TYPES:
        raise BadRequest(
            f"healthChecker type must be one of {', '.join(CHECKER_TYPES)}, current: {str(kind)[:64]}"
        )
    checker: dict[str, Any] = {"type": kind}
    if kind == HTTP:
        checker["path"] = _text_field(kind, "path", data.get("path", ""))
        checker["headers"] = _text_field(kind, "headers", data.get("headers", ""))
        code = data.get("expectedResponseCode", 200)
        digits = code.strip() if isinstance(code, str) else ""
        if 0 < len(digits) <= _MAX_INT_DIGITS and digits.isascii() and digits.isdigit():
            code = int(digits)
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 999:
            raise BadRequest(
                f"healthChecker HTTP: 'expectedResponseCode' must be an HTTP status: {code!r:.64}"
            )
        checker["expectedResponseCode"] = code
    elif kind == MYSQL:
        for key in _MYSQL_FIELDS:
            value = data.get(key)
            if value is not None:
                checker[key] = _text_field(kind, key, value)
    return checker


def checker_json(checker: Mapping[str, Any], include_nulls: bool = False) -> dict[str, Any]:
    """A stored checker as Nacos writes it; ``include_nulls`` is Spring's mapper (MySQL's null fields)."""
    kind = checker.get("type", TCP)
    result: dict[str, Any] = {"type": kind}
    if kind == HTTP:
        for key, default in _HTTP_DEFAULTS.items():
            result[key] = checker.get(key, default)
    elif kind == MYSQL:
        for key in _MYSQL_FIELDS:
            value = checker.get(key)
            if value is not None or include_nulls:
                result[key] = value
    return result


def all_checkers() -> dict[str, dict[str, Any]]:
    """``GET /health/checkers``: a default instance of every checker type, keyed by type."""
    return {kind: checker_json({"type": kind}, include_nulls=True) for kind in CHECKER_TYPES}


def cluster_names(service: Service, meta: ServiceMeta) -> list[str]:
    """Clusters of a service as Nacos's ``clusterMap`` holds them: with instances, or configured."""
    names = set(service.clusters())
    names.update(meta.clusters)
    return sorted(names)


def cluster_brief(name: str, config: ClusterConfig) -> dict[str, Any]:
    """The cluster entry of ``GET /service``: name, healthChecker and metadata."""
    return {
        "name": name,
        "healthChecker": checker_json(config.health_checker),
        "metadata": dict(config.metadata),
    }


def cluster_full(service_name: str, name: str, config: ClusterConfig, empty: bool) -> dict[str, Any]:
    """The whole Jackson-written ``Cluster`` object of ``GET /catalog/service``."""
    return {
        "serviceName": service_name,
        "name": name,
        "healthChecker": checker_json(config.health_checker),
        "defaultPort": DEFAULT_CHECKER_PORT,
        "defaultCheckPort": DEFAULT_CHECKER_PORT,
        "useIPPort4Check": config.use_instance_port,
        "metadata": dict(config.metadata),
        "sitegroup": "",
        "defCkport": config.check_port,
        "defIPPort": config.check_port,
        "empty": empty,
    }
