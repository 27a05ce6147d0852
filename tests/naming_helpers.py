"""In-process helpers for naming tests: a recording push sink, a memory journal, a request caller,
an app with a given node identity and the member JSON it shows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from nacosfast import NACOS_COMPAT_VERSION
from nacosfast.naming.app import NamingApp
from nacosfast.naming.state import NamingState, ServerIdentity
from nacosfast.wire.message import FORM_CONTENT_TYPE, Request, Response

JAVA_UA = "Nacos-Java-Client:v1.4.8"
PYTHON_UA = "Nacos-Python-Client:v0.1.17"
NODE_UA = "Nacos-Java-Client:v1.0.0"
WALL_EPOCH_MS = 1_700_000_000_000


@dataclass(frozen=True)
class RecordedSubscriber:
    """A subscription as the recording sink shows it to ``/service/subscribers``."""

    fields: dict[str, Any]

    def to_json(self) -> dict[str, str]:
        f = self.fields
        return {
            "addrStr": f"{f['client_ip']}:{f['udp_port']}",
            "agent": f["agent"],
            "app": f["app"],
            "ip": f["client_ip"],
            "namespaceId": f["namespace"],
            "serviceName": f["service"],
        }


@dataclass
class RecordingPush:
    """A push sink that records what the application asked of it."""

    changed: list[tuple[str, str]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)

    def subscribe(
        self,
        namespace: str,
        service: str,
        clusters: str,
        client_ip: str,
        udp_port: int,
        agent: str,
        app: str,
        tenant: str,
        now_ms: int,
        *,
        peer_ip: str,
    ) -> None:
        self.subscriptions.append(
            {
                "namespace": namespace,
                "service": service,
                "clusters": clusters,
                "client_ip": client_ip,
                "udp_port": udp_port,
                "agent": agent,
                "app": app,
                "tenant": tenant,
                "now_ms": now_ms,
                "peer_ip": peer_ip,
            }
        )

    def service_changed(self, namespace: str, service: str, now_ms: int) -> None:
        self.changed.append((namespace, service))

    def subscribers(self, namespace: str, service: str) -> list[RecordedSubscriber]:
        return [
            RecordedSubscriber(s)
            for s in self.subscriptions
            if s["namespace"] == namespace and s["service"] == service
        ]

    def subscribers_fuzzy(self, namespace: str, service: str) -> list[RecordedSubscriber]:
        return [
            RecordedSubscriber(s)
            for s in self.subscriptions
            if s["namespace"].startswith(namespace) and service.rsplit("@@", maxsplit=1)[-1] in s["service"]
        ]

    @property
    def subscriber_count(self) -> int:
        return len(self.subscriptions)

    def counters(self) -> dict[str, Any]:
        return {"succeed": 0, "total": 0, "ratio": 0.0}

    def push_state(self, detail: bool = False, reset: bool = False) -> dict[str, Any]:
        state: dict[str, Any] = {**self.counters(), "reset": reset}
        if detail:
            state["data"] = []
        return state


@dataclass
class MemoryJournal:
    """A journal that keeps records in memory (durability itself is tested in test_store_*)."""

    payloads: list[bytes] = field(default_factory=list)

    def append(self, payload: bytes) -> int:
        self.payloads.append(payload)
        return len(self.payloads)


def node_app(host: str, port: int) -> NamingApp:
    """An application whose node presents itself as ``host:port`` (member and server views)."""
    identity = ServerIdentity(host=host, port=port)
    return NamingApp(NamingState(push=RecordingPush(), journal=MemoryJournal(), identity=identity))


def member_json(ip: str, port: int, raft_port: str) -> dict[str, Any]:
    """Nacos's ``Member`` JSON for a node that is up, as of ``WALL_EPOCH_MS``."""
    return {
        "ip": ip,
        "port": port,
        "state": "UP",
        "extendInfo": {
            "lastRefreshTime": WALL_EPOCH_MS,
            "raftPort": raft_port,
            "version": NACOS_COMPAT_VERSION,
        },
        "address": f"{ip}:{port}",
        "failAccessCnt": 0,
    }


def make_request(
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    form: dict[str, Any] | None = None,
    body: bytes = b"",
    user_agent: str = JAVA_UA,
    headers: dict[bytes, bytes] | None = None,
    remote: tuple[str, int] = ("127.0.0.1", 0),
) -> Request:
    """A request as the HTTP layer hands it over: ``params`` in the query, ``form`` as the body."""
    all_headers = {b"user-agent": user_agent.encode(), **(headers or {})}
    if form is not None:
        body = urlencode(form).encode()
        all_headers[b"content-type"] = FORM_CONTENT_TYPE
    return Request(
        method=method,
        path=path if path.startswith("/nacos") else "/nacos" + path,
        query=urlencode(params or {}).encode(),
        headers=all_headers,
        body=body,
        remote=remote,
    )


def call(
    app: NamingApp,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    form: dict[str, Any] | None = None,
    body: bytes = b"",
    user_agent: str = JAVA_UA,
    now_ms: int = 0,
    wall_ms: int | None = None,
    remote: tuple[str, int] = ("127.0.0.1", 0),
    forwarded: bool = False,
) -> Response:
    """Send one request through the application, as the HTTP layer would (from ``remote``;
    ``forwarded``: as a verified peer's forwarded request arrives)."""
    request = make_request(method, path, params, form=form, body=body, user_agent=user_agent, remote=remote)
    wall = WALL_EPOCH_MS + now_ms if wall_ms is None else wall_ms
    return app.handle(request, now_ms, wall, forwarded=forwarded)


def json_body(response: Response) -> Any:
    """The response body as JSON, asserting a 200."""
    assert response.status == 200, (response.status, response.body)
    return json.loads(response.body)
