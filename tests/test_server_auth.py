"""The Trio shell of auth (``nacosfast.server.auth``) and the secure-default settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from nacosfast.config import ConfigError, Settings, is_loopback
from nacosfast.server.auth import load_auth_config, read_admin_password, run_password_worker
from nacosfast.wire.message import PendingAnswer, Response
from tests.auth_helpers import ADMIN_PASSWORD, auth_node
from tests.naming_helpers import make_request

WORKER_TIMEOUT_S = 10.0
"""A handful of bcrypt checks at cost 4 take milliseconds; the bound only stops a hang."""


async def answered(pending: PendingAnswer) -> Response:
    """The answer, once the worker resolved it."""
    if pending.response is None:
        arrived = trio.Event()
        pending.on_resolved(lambda _: arrived.set())
        await arrived.wait()
    assert pending.response is not None
    return pending.response


async def test_password_worker_answers_waiting_requests_off_the_event_loop() -> None:
    node = auth_node()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_password_worker, node.gate, node.handle)
        await trio.testing.wait_all_tasks_blocked()
        answers = []
        for password in (ADMIN_PASSWORD, ADMIN_PASSWORD, "wrong-password"):
            request = make_request("POST", "/v1/auth/login", {"username": "nacos", "password": password})
            response = node.handle(request)
            assert response.deferred is not None
            answers.append(response.deferred)
        with trio.fail_after(WORKER_TIMEOUT_S):
            responses = [await answered(pending) for pending in answers]
        nursery.cancel_scope.cancel()
    assert [response.status for response in responses] == [200, 200, 403]
    assert json.loads(responses[0].body)["username"] == "nacos"
    assert node.gate.wake is None  # the worker unhooked itself


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_hosts_serve_without_auth(host: str) -> None:
    assert is_loopback(host)
    Settings(host=host).validate()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.com", "127.0.0.1.example.com"])
def test_other_hosts_need_auth_or_the_insecure_flag(host: str) -> None:
    with pytest.raises(ConfigError, match="without authentication"):
        Settings(host=host).validate()
    Settings(host=host, insecure_no_auth=True).validate()
    Settings(host=host, auth_enabled=True, token_secret_file="f").validate()


def test_auth_needs_a_secret_file() -> None:
    with pytest.raises(ConfigError, match="token_secret_file"):
        Settings(auth_enabled=True).validate()


def test_secret_and_password_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"s" * 32 + b"\r\n")
    secret.chmod(0o644)
    config = load_auth_config(Settings(auth_enabled=True, token_secret_file=str(secret)))
    assert config.secret == b"s" * 32
    assert "readable by other users" in caplog.text
    secret.write_bytes(b"s" * 31 + b"\n")
    with pytest.raises(ConfigError, match="has 31 bytes"):
        load_auth_config(Settings(auth_enabled=True, token_secret_file=str(secret)))
    with pytest.raises(ConfigError, match="cannot read"):
        load_auth_config(Settings(auth_enabled=True, token_secret_file=str(tmp_path / "missing")))
    password = tmp_path / "password"
    password.write_bytes(b"short\n")
    with pytest.raises(ConfigError, match="at least 8 characters"):
        read_admin_password(Settings(admin_password_file=str(password)))
    password.write_bytes("pässword-1\n".encode())
    assert read_admin_password(Settings(admin_password_file=str(password))) == "pässword-1"
    assert read_admin_password(Settings()) is None
