"""What auth adds to the light beat through ``NamingApp.handle`` (no sockets), with a cached token.

    .venv/bin/python -m pytest bench/bench_auth.py --benchmark-only    # figures
    .venv/bin/python -m pytest bench/bench_auth.py --benchmark-disable # smoke run

Four variants of the same beat: no gate at all, the gate with auth off (audit only), auth on as the
administrator, and auth on as a user whose role holds ``public:*:*`` (permission decision cached). The
token was verified once before the rounds, as every beat after a client's first is. Plus the token
verification itself (HMAC and two JSON parses) for a token not seen before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from naming_requests import NullJournal, request

from nacosfast.auth import jwt
from nacosfast.auth.gate import AuthConfig, AuthGate
from nacosfast.auth.passwords import hash_password
from nacosfast.naming.app import NamingApp
from nacosfast.naming.node import build_state
from nacosfast.wire.message import Request, Response

SECRET = b"bench-secret-bench-secret-bench-secret"
WALL_MS = 1_700_000_000_000
SERVICE = "DEFAULT_GROUP@@bench"
BEAT = {
    "namespaceId": "public",
    "serviceName": SERVICE,
    "clusterName": "DEFAULT",
    "ip": "10.0.0.1",
    "port": 8080,
}


def _app(mode: str) -> tuple[NamingApp, str]:
    gate: AuthGate | None = None
    token = ""
    if mode != "none":
        gate = AuthGate(AuthConfig(enabled=mode != "off", secret=SECRET))
        for user, role in (("nacos", "ROLE_ADMIN"), ("svc", "ROLE_SVC")):
            gate.store.put_user(user, hash_password("bench-password", 4))
            gate.store.bind(role, user)
        gate.store.grant("ROLE_SVC", "public:*:*", "rw")
        token = jwt.issue(SECRET, "svc" if mode == "user" else "nacos", WALL_MS // 1000 + 3600)
    app = NamingApp(build_state(NullJournal(), lambda: 0), auth=gate)
    extra = {"accessToken": token} if token else {}
    registered = app.handle(
        request(
            "POST", "/nacos/v1/ns/instance", {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, **extra}
        ),
        0,
        WALL_MS,
    )
    assert registered.body == b"ok", registered.body
    return app, token


def _beat(app: NamingApp, token: str) -> Callable[[], Response]:
    template = request(
        "PUT", "/nacos/v1/ns/instance/beat", {**BEAT, **({"accessToken": token} if token else {})}
    )

    def run() -> Response:
        fresh = Request(template.method, template.path, template.query, template.headers, template.body)
        return app.handle(fresh, 1_000, WALL_MS)

    return run


@pytest.mark.parametrize("mode", ["none", "off", "admin", "user"])
def test_bench_light_beat_auth(benchmark: Any, mode: str) -> None:
    app, token = _app(mode)
    run = _beat(app, token)
    assert b"10200" in run().body  # also caches the token and the permission decision
    assert b"10200" in benchmark(run).body


def test_bench_token_verification_uncached(benchmark: Any) -> None:
    token = jwt.issue(SECRET, "nacos", WALL_MS // 1000 + 3600)
    assert benchmark(jwt.verify, SECRET, token, WALL_MS / 1000)[0] == "nacos"
