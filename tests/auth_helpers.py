"""In-process helpers for auth tests: an app with auth on, requests with credentials, job settling."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nacosfast.auth import jwt
from nacosfast.auth.gate import AuthConfig, AuthGate
from nacosfast.auth.passwords import hash_password
from nacosfast.auth.store import ADMIN_USER, GLOBAL_ADMIN_ROLE
from nacosfast.naming.app import NamingApp
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import Request, Response
from tests.naming_helpers import JAVA_UA, WALL_EPOCH_MS, MemoryJournal, RecordingPush, make_request

SECRET = b"k" * 16 + b"0123456789abcdef0123"
"""A 36-byte test key (real ones come from --token-secret-file)."""
ADMIN_PASSWORD = "admin-pass-123"
FAST_ROUNDS = 4
"""bcrypt's minimum cost: the same code path, 1/64 of the production time."""
NACOS_DEFAULT_SECRET = b"SecretKey012345678901234567890123456789012345678901234567890123456789"


@dataclass
class AuthNode:
    """One node with auth on: the app, its gate and its journal."""

    app: NamingApp
    gate: AuthGate
    journal: MemoryJournal
    now_ms: int = 0

    def send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        form: dict[str, Any] | None = None,
        headers: dict[bytes, bytes] | None = None,
        source: str = "10.1.1.1",
        user_agent: str = JAVA_UA,
    ) -> Response:
        """Send a request and settle any password job it queued (the server's worker, run inline)."""
        request = make_request(
            method, path, params, form=form, headers=headers, user_agent=user_agent, remote=(source, 40000)
        )
        response = self.handle(request)
        return self.settle(response)

    def handle(self, request: Request) -> Response:
        return self.app.handle(request, self.now_ms, WALL_EPOCH_MS + self.now_ms)

    def settle(self, response: Response) -> Response:
        """Run queued jobs as the server would and return the deferred answer."""
        pending = response.deferred
        for _ in range(4):
            if pending is None or pending.response is not None:
                break
            for job in self.gate.take_jobs():
                job.run()
                for request, waiting in self.gate.complete(job):
                    answer = self.handle(request)
                    if answer.deferred is not None:
                        answer.deferred.on_resolved(waiting.resolve)
                    else:
                        waiting.resolve(answer)
        if pending is None:
            return response
        assert pending.response is not None, "a deferred answer was never resolved"
        return pending.response

    def login(
        self, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD, source: str = "10.1.1.1"
    ) -> str:
        """A token for ``username`` (asserting the login succeeds)."""
        response = self.send(
            "POST", "/v1/auth/login", {"username": username, "password": password}, source=source
        )
        assert response.status == 200, response.body
        token: str = json.loads(response.body)["accessToken"]
        return token

    def add_user(self, username: str, password: str, role: str | None = None) -> None:
        """Create a user straight in the store (fast hash), optionally bound to ``role``."""
        self.gate.store.put_user(username, hash_password(password, FAST_ROUNDS))
        if role:
            self.gate.store.bind(role, username)


def auth_node(*, token_ttl_s: int = 18_000) -> AuthNode:
    """A node with auth on and the ``nacos`` administrator (password ``ADMIN_PASSWORD``)."""
    journal = MemoryJournal()
    gate = AuthGate(
        AuthConfig(enabled=True, secret=SECRET, token_ttl_s=token_ttl_s, bcrypt_rounds=FAST_ROUNDS)
    )
    node = AuthNode(NamingApp(NamingState(push=RecordingPush(), journal=journal), auth=gate), gate, journal)
    node.add_user(ADMIN_USER, ADMIN_PASSWORD, GLOBAL_ADMIN_ROLE)
    return node


def forged(secret: bytes, subject: str = ADMIN_USER, expires_at_s: int = WALL_EPOCH_MS // 1000 + 3600) -> str:
    """A token signed with ``secret`` (a key the server does not hold)."""
    return jwt.issue(secret, subject, expires_at_s)


def spring_message(response: Response) -> str:
    """The ``message`` of a Spring error JSON answer."""
    message: str = json.loads(response.body)["message"]
    return message
