"""Small helpers shared by the service, catalog, operator, health and console endpoints.

Answers (``ok``, JSON, the console's ``RestResult``), Spring ``@RequestParam`` presence, paging and the
service lookup the detail views share.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from nacosfast._core.registry import Service
from nacosfast.errors import BadRequest, NotFound
from nacosfast.naming.params import Params
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import APPLICATION_JSON, Response

T = TypeVar("T")


def ok(durable_seq: int = 0) -> Response:
    """The plain-text ``ok`` every Nacos write answers; sent once ``durable_seq`` is durable."""
    return Response(durable_seq=durable_seq)


def json_reply(value: Any, status: int = 200, durable_seq: int = 0) -> Response:
    """``value`` as compact JSON (non-ASCII escaped, so any stored string encodes)."""
    body = json.dumps(value, separators=(",", ":")).encode()
    return Response(status=status, body=body, content_type=APPLICATION_JSON, durable_seq=durable_seq)


def rest_result(data: Any, durable_seq: int = 0) -> Response:
    """Nacos core's ``RestResult`` success: ``{"code":200,"message":null,"data":...}``."""
    return json_reply({"code": 200, "message": None, "data": data}, durable_seq=durable_seq)


def request_param(params: Params, key: str, kind: str = "String") -> str:
    """A required Spring ``@RequestParam``: untrimmed, present (it may be empty), else 400."""
    if key not in params:
        raise BadRequest(
            f"Required request parameter '{key}' for method parameter type {kind} is not present"
        )
    return params.raw(key)


def page(items: Sequence[T], start: int, size: int) -> list[T]:
    """``items[start:start+size]`` with Java ``subList`` bounds clamped (never negative indexes)."""
    count = len(items)
    start = min(max(start, 0), count)
    end = min(max(start + max(size, 0), start), count)
    return list(items[start:end])


def required_service(state: NamingState, namespace: str, name: str) -> Service:
    """The service, else 404 ``service <name> is not found!`` (``GET /service``, the catalog views)."""
    service = state.registry.get(namespace, name)
    if service is None:
        raise NotFound(f"service {name} is not found!")
    return service
