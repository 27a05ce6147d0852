"""Auth end to end: a real server process with ``--auth-enabled`` (real bcrypt in the worker thread),
the start-up refusals, persistence of users across a restart, and ``nacos-sdk-python==0.1.17``
logging in with ``username``/``password``."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from nacos import NacosClient
from nacos.exception import NacosException

from tests.server_process import REPO_ROOT, ServerProcess, running_server
from tests.test_realclient_node import NodeClient

ADMIN_PASSWORD: Final = "first-start-pass"
CLI_TIMEOUT_S: Final = 30.0
NACOS_DEFAULT_SECRET: Final = b"SecretKey012345678901234567890123456789012345678901234567890123456789"


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    path.chmod(0o600)
    return path


@pytest.fixture
def auth_args(tmp_path: Path) -> list[str]:
    secret = _write(tmp_path / "secret", b"0123456789abcdefghijklmnopqrstuvwxyzABCD\n")
    password = _write(tmp_path / "admin", ADMIN_PASSWORD.encode() + b"\n")
    return ["--auth-enabled", "--token-secret-file", str(secret), "--admin-password-file", str(password)]


@pytest.fixture
def server(tmp_path: Path, auth_args: list[str]) -> Iterator[ServerProcess]:
    with running_server(tmp_path / "data", extra_args=auth_args) as process:
        yield process


def post(
    server: ServerProcess, path: str, params: dict[str, str], headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        server.base_url + path + "?" + urllib.parse.urlencode(params), method="POST", headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def login(server: ServerProcess, password: str = ADMIN_PASSWORD) -> str:
    status, body = post(server, "/nacos/v1/auth/login", {"username": "nacos", "password": password})
    assert status == 200, body
    token: str = json.loads(body)["accessToken"]
    return token


REGISTER: Final = {"serviceName": "orders", "ip": "127.0.0.1", "port": "8080"}


def test_done_criteria_unauthenticated_register_is_403_and_a_login_token_works(server: ServerProcess) -> None:
    status, body = post(server, "/nacos/v1/ns/instance", REGISTER)
    assert status == 403
    assert json.loads(body)["message"] == "unknown user!"
    status, body = post(server, "/nacos/v1/ns/instance", REGISTER, {"User-Agent": "Nacos-Server:1.4.8"})
    assert status == 403
    assert post(server, "/nacos/v1/auth/login", {"username": "nacos", "password": "nacos"})[0] == 403
    token = login(server)
    assert post(server, "/nacos/v1/ns/instance", {**REGISTER, "accessToken": token}) == (200, b"ok")
    listed = server.get_json("/nacos/v1/ns/instance/list", {"serviceName": "orders", "accessToken": token})
    assert [host["port"] for host in listed["hosts"]] == [8080]


def test_users_survive_a_restart_and_the_password_file_is_used_only_once(
    tmp_path: Path, auth_args: list[str]
) -> None:
    data = tmp_path / "data"
    with running_server(data, extra_args=auth_args) as server:
        token = login(server)
        created = post(
            server,
            "/nacos/v1/auth/users",
            {"username": "bob", "password": "bob-pass-12", "accessToken": token},
        )
        assert created[0] == 200
    (tmp_path / "admin").write_bytes(b"another-password\n")
    with running_server(data, extra_args=auth_args) as server:
        login(server)  # still the first password
        status, _ = post(server, "/nacos/v1/auth/login", {"username": "bob", "password": "bob-pass-12"})
        assert status == 200


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nacosfast", "server", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def test_non_loopback_bind_without_auth_refuses_to_start(tmp_path: Path) -> None:
    result = run_cli("--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 without authentication" in result.stderr
    assert "--insecure-no-auth" in result.stderr


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (b"too-short-secret\n", "at least 32 random bytes"),
        (NACOS_DEFAULT_SECRET, "Nacos's published default"),
    ],
)
def test_weak_token_secrets_are_refused(tmp_path: Path, secret: bytes, expected: str) -> None:
    secret_file = _write(tmp_path / "secret", secret)
    password_file = _write(tmp_path / "admin", b"admin-pass-1")
    result = run_cli(
        "--port", "0", "--data-dir", str(tmp_path / "d"), "--auth-enabled",
        "--token-secret-file", str(secret_file), "--admin-password-file", str(password_file),
    )  # fmt: skip
    assert result.returncode == 2
    assert expected in result.stderr


def test_first_start_without_admin_password_refuses_to_start(tmp_path: Path) -> None:
    secret_file = _write(tmp_path / "secret", b"s" * 40)
    result = run_cli(
        "--port", "0", "--data-dir", str(tmp_path / "d"),
        "--auth-enabled", "--token-secret-file", str(secret_file),
    )  # fmt: skip
    assert result.returncode == 2
    assert "--admin-password-file" in result.stderr


@pytest.mark.realclient
@pytest.mark.filterwarnings(
    r"ignore:ssl\.SSLContext\(\) without protocol argument is deprecated:DeprecationWarning"
)
@pytest.mark.filterwarnings(r"ignore:ssl\.PROTOCOL_TLS is deprecated:DeprecationWarning")
def test_real_python_client_with_credentials(server: ServerProcess, tmp_path: Path) -> None:
    """``nacos-sdk-python==0.1.17`` logs in at ``/nacos/v1/auth/login`` and sends ``accessToken``."""
    client: Any = NacosClient(
        server_addresses=server.address, username="nacos", password=ADMIN_PASSWORD, logDir=str(tmp_path)
    )
    assert client.add_naming_instance("rc-auth", "127.0.0.1", 9001, "c1", ephemeral=False)
    listed = client.list_naming_instance("rc-auth")
    assert [host["port"] for host in listed["hosts"]] == [9001]
    assert client.remove_naming_instance("rc-auth", "127.0.0.1", 9001, "c1", ephemeral=False)
    assert client.list_naming_instance("rc-auth")["hosts"] == []
    anonymous: Any = NacosClient(server_addresses=server.address, logDir=str(tmp_path))
    with pytest.raises(NacosException):
        anonymous.add_naming_instance("rc-auth", "127.0.0.1", 9002)


@pytest.mark.realclient
def test_real_node_client_with_credentials(server: ServerProcess, node_client: Path) -> None:
    """Node's ``nacos-naming`` sends ``username`` and ``password`` on every request (no token)."""
    service = "node-auth"
    base = {"server": server.address, "namespace": "public", "serviceName": service, "clientIp": "127.0.0.1"}
    node = NodeClient(node_client, {**base, "username": "nacos", "password": ADMIN_PASSWORD})
    try:
        node.next("ready")
        node.send({"id": 1, "op": "register", "ip": "127.0.0.1", "port": 18091})
        node.next("done")
        change = node.next("change")
        assert [host["port"] for host in change["hosts"]] == [18091]
        node.send({"id": 2, "op": "deregister", "ip": "127.0.0.1", "port": 18091})
        node.next("done")
    finally:
        node.close()
    listed = server.get_json(
        "/nacos/v1/ns/instance/list", {"serviceName": service, "accessToken": login(server)}
    )
    assert listed["hosts"] == []
    intruder = NodeClient(node_client, {**base, "username": "nacos", "password": "wrong-password"})
    try:
        intruder.next("ready")
        intruder.send({"id": 1, "op": "register", "ip": "127.0.0.1", "port": 18092})
        with pytest.raises(AssertionError, match="'failed'") as refused:
            intruder.next("done")
        assert "403" in str(refused.value), refused.value
    finally:
        intruder.close()
