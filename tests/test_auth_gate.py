"""The auth gate through the naming application: Nacos-compatible answers and the regression pack
(CVE-2021-29441, Nacos's published secret, ``alg: none``, foreign keys, expiry, namespace permissions,
deleted users, brute force, Nacos admin paths)."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from nacosfast.auth.gate import AuthConfig, AuthGate
from nacosfast.auth.policy import RULES
from nacosfast.auth.store import AuthStore
from nacosfast.limits import LOGIN_FAILURE_BURST, LOGIN_FAILURE_REFILL_MS
from nacosfast.naming import journal
from nacosfast.naming.app import NamingApp, collect_routes
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import Request
from tests.auth_helpers import (
    ADMIN_PASSWORD,
    NACOS_DEFAULT_SECRET,
    SECRET,
    AuthNode,
    auth_node,
    forged,
    spring_message,
)
from tests.naming_helpers import WALL_EPOCH_MS, MemoryJournal, RecordingPush, call, make_request

REGISTER = {"serviceName": "orders", "ip": "10.0.0.5", "port": "8080"}
INSTANCE = "/v1/ns/instance"
LIST = "/v1/ns/instance/list"


def register(node: AuthNode, token: str, **extra: str) -> int:
    return node.send("POST", INSTANCE, {**REGISTER, **extra, "accessToken": token}).status


# --- authentication ---------------------------------------------------------------------------------


def test_gate_unauthenticated_register_is_403_unknown_user() -> None:
    node = auth_node()
    response = node.send("POST", INSTANCE, REGISTER)
    assert response.status == 403
    body = json.loads(response.body)
    assert body["message"] == "unknown user!"
    assert body["error"] == "Forbidden"
    assert body["path"] == "/nacos/v1/ns/instance"
    assert node.gate.store.users  # nothing changed in the registry
    assert node.app.state.registry.service_count == 0


def test_login_returns_a_token_that_works_as_param_and_bearer_header() -> None:
    node = auth_node()
    response = node.send("POST", "/v1/auth/login", form={"username": "nacos", "password": ADMIN_PASSWORD})
    assert response.status == 200
    body = json.loads(response.body)
    assert set(body) == {"accessToken", "tokenTtl", "globalAdmin", "username"}
    assert body["tokenTtl"] == 18_000
    assert body["globalAdmin"] is True
    assert (b"Authorization", b"Bearer " + body["accessToken"].encode()) in response.headers
    assert register(node, body["accessToken"]) == 200
    bearer = {b"authorization": b"Bearer " + body["accessToken"].encode()}
    listed = node.send("GET", LIST, {"serviceName": "orders"}, headers=bearer)
    assert listed.status == 200
    assert len(json.loads(listed.body)["hosts"]) == 1


def test_login_on_users_path_and_with_query_parameters() -> None:
    node = auth_node()
    response = node.send("POST", "/v1/auth/users/login", {"username": "nacos", "password": ADMIN_PASSWORD})
    assert response.status == 200


def test_login_in_java_client_shape() -> None:
    """Java 1.4: ``POST /v1/auth/users/login?username=`` with ``password`` in a form body."""
    node = auth_node()
    response = node.send(
        "POST", "/v1/auth/users/login", {"username": "nacos"}, form={"password": ADMIN_PASSWORD}
    )
    assert response.status == 200
    assert json.loads(response.body)["username"] == "nacos"


def test_requests_forwarded_by_a_verified_peer_skip_the_gate() -> None:
    """The node that received the request authorized it; the owner does not ask again."""
    node = auth_node()
    forwarded = call(node.app, "POST", INSTANCE, REGISTER, forwarded=True)
    assert forwarded.status == 200
    assert call(node.app, "POST", INSTANCE, REGISTER).status == 403


def test_login_with_wrong_password_is_403_unknown_user_plain_text() -> None:
    node = auth_node()
    response = node.send("POST", "/v1/auth/login", {"username": "nacos", "password": "wrong-password"})
    assert (response.status, response.body) == (403, b"unknown user!")
    response = node.send("POST", "/v1/auth/login", {"username": "nobody", "password": "whatever1"})
    assert (response.status, response.body) == (403, b"unknown user!")


def test_username_and_password_on_every_request_node_client_style() -> None:
    node = auth_node()
    credentials = {"username": "nacos", "password": ADMIN_PASSWORD}
    assert node.send("POST", INSTANCE, {**REGISTER, **credentials}).status == 200
    # the second request is answered from the credential cache: no job is queued
    response = node.app.handle(
        node_request("GET", LIST, {"serviceName": "orders", **credentials}), 0, WALL_EPOCH_MS
    )
    assert response.deferred is None
    assert response.status == 200
    wrong = {"username": "nacos", "password": "not-the-password"}
    refused = node.send("GET", LIST, {"serviceName": "orders", **wrong})
    assert (refused.status, spring_message(refused)) == (403, "unknown user!")


def node_request(method: str, path: str, params: dict[str, str]) -> Request:
    return make_request(method, path, params, remote=("10.1.1.1", 1))


def test_concurrent_checks_of_one_password_share_one_job() -> None:
    node = auth_node()
    credentials = {"username": "nacos", "password": ADMIN_PASSWORD}
    first = node.app.handle(node_request("GET", LIST, {"serviceName": "a", **credentials}), 0, WALL_EPOCH_MS)
    second = node.app.handle(node_request("GET", LIST, {"serviceName": "b", **credentials}), 0, WALL_EPOCH_MS)
    assert first.deferred is not None
    assert second.deferred is not None
    jobs = node.gate.take_jobs()
    assert len(jobs) == 1
    jobs[0].run()
    assert jobs[0].password == ""  # the password does not outlive the check
    for request, pending in node.gate.complete(jobs[0]):
        pending.resolve(node.handle(request))
    assert first.deferred.response is not None
    assert second.deferred.response is not None
    assert json.loads(first.deferred.response.body)["name"] == "DEFAULT_GROUP@@a"
    assert json.loads(second.deferred.response.body)["name"] == "DEFAULT_GROUP@@b"


# --- the regression pack ----------------------------------------------------------------------------


def test_regression_user_agent_nacos_server_grants_nothing() -> None:
    """CVE-2021-29441: Nacos skipped auth for ``User-Agent: Nacos-Server``."""
    node = auth_node()
    for agent in ("Nacos-Server", "Nacos-Server:1.4.8", "Nacos-Server:v2"):
        response = node.send("POST", INSTANCE, REGISTER, user_agent=agent)
        assert (response.status, spring_message(response)) == (403, "unknown user!")
        created = node.send(
            "POST", "/v1/auth/users", {"username": "evil", "password": "evil-pass-1"}, user_agent=agent
        )
        assert created.status == 403
        header = {b"client-version": b"Nacos-Server"}
        assert (
            node.send("GET", "/v1/auth/users", {"pageNo": "1", "pageSize": "9"}, headers=header).status == 403
        )
    assert "evil" not in node.gate.store.users


def test_regression_nacos_published_default_secret_is_refused() -> None:
    node = auth_node()
    token = forged(NACOS_DEFAULT_SECRET)
    response = node.send("POST", INSTANCE, {**REGISTER, "accessToken": token})
    assert (response.status, spring_message(response)) == (403, "token invalid!")


def test_regression_alg_none_and_other_algorithms_are_refused() -> None:
    node = auth_node()
    valid = node.login()
    _, payload, _ = valid.split(".")
    for header in (b'{"alg":"none"}', b'{"alg":"None","typ":"JWT"}', b'{"alg":"HS512"}', b'{"alg":"RS256"}'):
        head = base64.urlsafe_b64encode(header).rstrip(b"=").decode()
        for signature in ("", valid.split(".")[2]):
            token = f"{head}.{payload}.{signature}"
            response = node.send("POST", INSTANCE, {**REGISTER, "accessToken": token})
            assert (response.status, spring_message(response)) == (403, "token invalid!")


def test_regression_token_signed_with_another_key_is_refused() -> None:
    node = auth_node()
    response = node.send("POST", INSTANCE, {**REGISTER, "accessToken": forged(b"x" * 40)})
    assert (response.status, spring_message(response)) == (403, "token invalid!")


def test_regression_tampered_payload_is_refused() -> None:
    node = auth_node()
    node.add_user("alice", "alice-pass-1")
    token = node.login("alice", "alice-pass-1")
    head, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(b'{"sub":"nacos","exp":9999999999}').rstrip(b"=").decode()
    response = node.send("POST", INSTANCE, {**REGISTER, "accessToken": f"{head}.{payload}.{signature}"})
    assert (response.status, spring_message(response)) == (403, "token invalid!")


def test_regression_expired_token_is_403_and_the_client_can_log_in_again() -> None:
    node = auth_node(token_ttl_s=60)
    token = node.login()
    assert register(node, token) == 200  # now cached
    node.now_ms += 60_000
    response = node.send("POST", INSTANCE, {**REGISTER, "accessToken": token})
    assert (response.status, spring_message(response)) == (403, "token expired!")
    # a token never seen before and already expired
    stale = forged(SECRET, expires_at_s=(WALL_EPOCH_MS + node.now_ms) // 1000)
    response = node.send("POST", INSTANCE, {**REGISTER, "accessToken": stale})
    assert (response.status, spring_message(response)) == (403, "token expired!")
    assert register(node, node.login()) == 200


def test_regression_user_without_namespace_permission_is_refused() -> None:
    node = auth_node()
    node.add_user("alice", "alice-pass-1", "ROLE_DEV")
    node.gate.store.grant("ROLE_DEV", "dev:*:*", "rw")
    token = node.login("alice", "alice-pass-1")
    assert register(node, token, namespaceId="dev") == 200
    for namespace in ("", "public", "prod", "dev:x"):
        response = node.send("POST", INSTANCE, {**REGISTER, "namespaceId": namespace, "accessToken": token})
        if namespace == "dev:x":
            assert response.status in (400, 403)  # ':' is no separator trick; never a write
        else:
            assert (response.status, spring_message(response)) == (403, "authorization failed!")
    assert node.app.state.registry.get("prod", "DEFAULT_GROUP@@orders") is None
    # users, roles and permissions are administrators' business
    assert (
        node.send("GET", "/v1/auth/users", {"pageNo": "1", "pageSize": "9", "accessToken": token}).status
        == 403
    )


def test_read_permission_lists_but_cannot_write() -> None:
    node = auth_node()
    node.add_user("reader", "reader-pass-1", "ROLE_READ")
    node.gate.store.grant("ROLE_READ", ":DEFAULT_GROUP:naming/orders", "r")  # Nacos's console form of public
    token = node.login("reader", "reader-pass-1")
    assert register(node, node.login()) == 200
    assert node.send("GET", LIST, {"serviceName": "orders", "accessToken": token}).status == 200
    assert node.send("GET", LIST, {"serviceName": "payments", "accessToken": token}).status == 403
    assert register(node, token) == 403
    beat = node.send("PUT", "/v1/ns/instance/beat", {**REGISTER, "accessToken": token})
    assert beat.status == 403


def test_group_parameter_cannot_redirect_the_check() -> None:
    """Nacos checks ``groupName`` but its handler acts on the ``group@@`` prefix of ``serviceName``."""
    node = auth_node()
    node.add_user("alice", "alice-pass-1", "ROLE_DEV")
    node.gate.store.grant("ROLE_DEV", "public:allowed:*", "rw")
    token = node.login("alice", "alice-pass-1")
    assert register(node, token, serviceName="allowed@@orders") == 200
    response = node.send(
        "POST",
        INSTANCE,
        {**REGISTER, "serviceName": "secret@@orders", "groupName": "allowed", "accessToken": token},
    )
    assert response.status == 403
    assert node.app.state.registry.get("public", "secret@@orders") is None
    # the legacy API reads dom in DEFAULT_GROUP whatever groupName says
    legacy = node.send(
        "GET", "/v1/ns/api/srvIPXT", {"dom": "orders", "groupName": "allowed", "accessToken": token}
    )
    assert legacy.status == 403


def test_listing_whole_namespaces_needs_a_namespace_wide_permission() -> None:
    node = auth_node()
    node.add_user("alice", "alice-pass-1", "ROLE_DEV")
    node.gate.store.grant("ROLE_DEV", "public:DEFAULT_GROUP:naming/orders", "r")
    token = node.login("alice", "alice-pass-1")
    for path in (
        "/v1/ns/service/list",
        "/v1/ns/catalog/services",
        "/v1/ns/service/names",
        "/v1/ns/api/allDomNames",
    ):
        params = {"pageNo": "1", "pageSize": "10", "serviceName": "orders", "accessToken": token}
        assert node.send("GET", path, params).status == 403, path
    node.gate.store.grant("ROLE_DEV", "public:*:*", "r")
    assert (
        node.send(
            "GET", "/v1/ns/service/list", {"pageNo": "1", "pageSize": "10", "accessToken": token}
        ).status
        == 200
    )
    assert node.send("GET", "/v1/ns/service/names", {"accessToken": token}).status == 403  # every namespace
    assert (
        node.send("GET", "/v1/ns/service/names", {"namespaceId": "public", "accessToken": token}).status
        == 200
    )


def test_regression_deleted_users_token_is_refused() -> None:
    node = auth_node()
    admin = node.login()
    node.add_user("alice", "alice-pass-1", "ROLE_DEV")
    node.gate.store.grant("ROLE_DEV", "*:*:*", "rw")
    token = node.login("alice", "alice-pass-1")
    assert register(node, token) == 200
    assert node.send("DELETE", "/v1/auth/users", {"username": "alice", "accessToken": admin}).status == 200
    response = node.send("POST", INSTANCE, {**REGISTER, "accessToken": token})
    assert (response.status, spring_message(response)) == (403, "unknown user!")
    assert "alice" not in node.gate.store.roles


def test_password_change_and_recreation_void_older_tokens() -> None:
    node = auth_node()
    admin = {"accessToken": node.login()}
    node.send("POST", "/v1/auth/users", {"username": "bob", "password": "bob-pass-12", **admin})
    node.send("POST", "/v1/auth/roles", {"role": "ROLE_OPS", "username": "bob", **admin})
    node.gate.store.grant("ROLE_OPS", "*:*:*", "rw")
    node.now_ms += 1_000
    old = node.login("bob", "bob-pass-12")
    assert register(node, old) == 200
    node.now_ms += 1_000
    changed = node.send("PUT", "/v1/auth/users", {"username": "bob", "newPassword": "bob-pass-new", **admin})
    assert changed.status == 200
    response = node.send("POST", INSTANCE, {**REGISTER, "accessToken": old})
    assert (response.status, spring_message(response)) == (403, "token invalid!")
    node.now_ms += 1_000
    new = node.login("bob", "bob-pass-new")
    assert register(node, new) == 200
    node.send("DELETE", "/v1/auth/users", {"username": "bob", **admin})
    node.now_ms += 1_000
    node.send("POST", "/v1/auth/users", {"username": "bob", "password": "bob-pass-99", **admin})
    node.send("POST", "/v1/auth/roles", {"role": "ROLE_OPS", "username": "bob", **admin})
    response = node.send("POST", INSTANCE, {**REGISTER, "accessToken": new})  # the former bob's token
    assert (response.status, spring_message(response)) == (403, "token invalid!")


def test_regression_login_brute_force_is_throttled_per_source(caplog: pytest.LogCaptureFixture) -> None:
    node = auth_node()
    caplog.set_level(logging.INFO, "nacosfast.audit")
    for attempt in range(LOGIN_FAILURE_BURST):
        response = node.send("POST", "/v1/auth/login", {"username": "nacos", "password": f"guess-{attempt}"})
        assert response.status == 403
    throttled = node.send("POST", "/v1/auth/login", {"username": "nacos", "password": ADMIN_PASSWORD})
    assert throttled.status == 429  # even the right password: a throttled source learns nothing
    assert (b"Retry-After", str(LOGIN_FAILURE_REFILL_MS // 1000 + 1).encode()) in throttled.headers
    assert node.gate.take_jobs() == []  # and costs no bcrypt work
    # another source is not affected, nor are tokens
    assert (
        node.send(
            "POST", "/v1/auth/login", {"username": "nacos", "password": ADMIN_PASSWORD}, source="10.2.2.2"
        ).status
        == 200
    )
    node.now_ms += LOGIN_FAILURE_REFILL_MS
    assert node.login() != ""
    failed = [record.getMessage() for record in caplog.records if "login failed" in record.getMessage()]
    assert len(failed) == LOGIN_FAILURE_BURST
    assert all("source=10.1.1.1" in line and "guess" not in line for line in failed)


def test_concurrent_guesses_cannot_overdraw_the_attempt_budget() -> None:
    node = auth_node()
    answers = [
        node.app.handle(
            node_request("POST", "/v1/auth/login", {"username": "nacos", "password": f"guess-{n}"}),
            0,
            WALL_EPOCH_MS,
        )
        for n in range(3 * LOGIN_FAILURE_BURST)
    ]
    assert sum(answer.deferred is not None for answer in answers) == LOGIN_FAILURE_BURST
    assert {answer.status for answer in answers if answer.deferred is None} == {429}
    assert len(node.gate.take_jobs()) == LOGIN_FAILURE_BURST


def test_right_passwords_do_not_use_the_attempt_budget() -> None:
    node = auth_node()
    for attempt in range(3 * LOGIN_FAILURE_BURST):
        node.add_user(f"user{attempt}", "right-password")  # a new pair each time: a real check
        assert node.login(f"user{attempt}", "right-password")
    assert node.send("POST", "/v1/auth/login", {"username": "nacos", "password": "wrong"}).status == 403


def test_regression_nacos_admin_paths_do_not_exist() -> None:
    node = auth_node()
    token = node.login()
    for method, path in (
        ("GET", "/v1/cs/ops/derby"),
        ("POST", "/v1/cs/ops/derby"),
        ("POST", "/v1/core/ops/raft"),
        ("GET", "/v1/cs/configs"),
        ("GET", "/v1/console/health"),
        ("POST", "/v1/auth/users/password"),
    ):
        response = node.send(method, path, {"sql": "select * from users", "accessToken": token})
        assert response.status == 404, (method, path, response.body)


def test_audit_lines_for_writes_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    node = auth_node()
    token = node.login()
    caplog.set_level(logging.INFO, "nacosfast.audit")
    assert register(node, token) == 200
    node.send("PUT", "/v1/ns/instance/beat", {**REGISTER, "accessToken": token})
    lines = [record.getMessage() for record in caplog.records if record.name == "nacosfast.audit"]
    assert lines == [
        "write user='nacos' source=10.1.1.1 POST /nacos/v1/ns/instance "
        "resource=public:DEFAULT_GROUP:naming/orders"
    ]
    assert token not in caplog.text


# --- users, roles, permissions ----------------------------------------------------------------------


def test_users_roles_permissions_api_round_trip() -> None:
    node = auth_node()
    admin = {"accessToken": node.login()}
    created = node.send("POST", "/v1/auth/users", {"username": "bob", "password": "bob-pass-12", **admin})
    assert json.loads(created.body) == {"code": 200, "message": "create user ok!", "data": None}
    assert created.durable_seq > 0
    again = node.send("POST", "/v1/auth/users", {"username": "bob", "password": "bob-pass-12", **admin})
    assert (again.status, again.body) == (400, b"caused: user 'bob' already exist!;")
    short = node.send("POST", "/v1/auth/users", {"username": "eve", "password": "short", **admin})
    assert short.status == 400
    page = json.loads(node.send("GET", "/v1/auth/users", {"pageNo": "1", "pageSize": "10", **admin}).body)
    assert page["pageItems"] == [{"username": "bob"}, {"username": "nacos"}]
    assert "password" not in json.dumps(page)
    assert (
        node.send("POST", "/v1/auth/roles", {"role": "ROLE_ADMIN", "username": "bob", **admin}).status == 400
    )
    assert node.send("POST", "/v1/auth/roles", {"role": "ROLE_OPS", "username": "bob", **admin}).status == 200
    assert (
        node.send(
            "POST",
            "/v1/auth/permissions",
            {"role": "ROLE_OPS", "resource": "ops:*:*", "action": "x", **admin},
        ).status
        == 400
    )
    assert (
        node.send(
            "POST",
            "/v1/auth/permissions",
            {"role": "ROLE_OPS", "resource": "ops:*:*", "action": "rw", **admin},
        ).status
        == 200
    )
    roles = json.loads(
        node.send("GET", "/v1/auth/roles", {"pageNo": "1", "pageSize": "10", "username": "bob", **admin}).body
    )
    assert roles["pageItems"] == [{"role": "ROLE_OPS", "username": "bob"}]
    grants = json.loads(
        node.send("GET", "/v1/auth/permissions", {"pageNo": "1", "pageSize": "10", **admin}).body
    )
    assert grants["pageItems"] == [{"role": "ROLE_OPS", "resource": "ops:*:*", "action": "rw"}]
    bob = node.login("bob", "bob-pass-12")
    assert register(node, bob, namespaceId="ops") == 200
    # bob changes his own password, not the administrator's
    assert (
        node.send(
            "PUT", "/v1/auth/users", {"username": "nacos", "newPassword": "taken-over-1", "accessToken": bob}
        ).status
        == 403
    )
    assert (
        node.send(
            "PUT", "/v1/auth/users", {"username": "bob", "newPassword": "bob-pass-new", "accessToken": bob}
        ).status
        == 200
    )
    assert node.send("POST", "/v1/auth/login", {"username": "bob", "password": "bob-pass-12"}).status == 403
    assert node.login("bob", "bob-pass-new")
    assert node.send("DELETE", "/v1/auth/users", {"username": "nacos", **admin}).status == 400
    assert (
        node.send("DELETE", "/v1/auth/roles", {"role": "ROLE_ADMIN", "username": "nacos", **admin}).status
        == 400
    )
    assert (
        node.send(
            "DELETE",
            "/v1/auth/permissions",
            {"role": "ROLE_OPS", "resource": "ops:*:*", "action": "rw", **admin},
        ).status
        == 200
    )
    assert register(node, bob, namespaceId="ops") == 403


def test_auth_records_replay_to_the_same_tables() -> None:
    node = auth_node()
    admin = {"accessToken": node.login()}
    node.send("POST", "/v1/auth/users", {"username": "bob", "password": "bob-pass-12", **admin})
    node.send("POST", "/v1/auth/roles", {"role": "ROLE_OPS", "username": "bob", **admin})
    node.send(
        "POST", "/v1/auth/permissions", {"role": "ROLE_OPS", "resource": "ops:*:*", "action": "r", **admin}
    )
    node.send("POST", "/v1/auth/users", {"username": "gone", "password": "gone-pass-1", **admin})
    node.send("DELETE", "/v1/auth/users", {"username": "gone", **admin})
    original = node.gate.store
    for payloads in ([*original.snapshot()], [*_seed_records(original), *node.journal.payloads]):
        restored = AuthStore()
        state = NamingState(push=RecordingPush(), journal=MemoryJournal())
        journal.replay(state, payloads, restored.replayers())
        assert restored.users == original.users
        assert restored.tokens_since == original.tokens_since
        assert restored.roles == original.roles
        assert restored.permissions == original.permissions


def _seed_records(store: AuthStore) -> list[bytes]:
    """The administrator the test helper put straight into the store (the server journals it)."""
    return [AuthStore().put_user("nacos", store.users["nacos"]), AuthStore().bind("ROLE_ADMIN", "nacos")]


# --- the route table --------------------------------------------------------------------------------


def test_every_route_has_an_explicit_rule() -> None:
    node = auth_node()
    assert set(node.app.routes) == set(RULES)


def test_auth_disabled_has_no_auth_routes_and_audits_writes(caplog: pytest.LogCaptureFixture) -> None:
    app = NamingApp(
        NamingState(push=RecordingPush(), journal=MemoryJournal()), auth=AuthGate(AuthConfig(enabled=False))
    )
    assert set(app.routes) == set(collect_routes())
    caplog.set_level(logging.INFO, "nacosfast.audit")
    assert call(app, "POST", INSTANCE, REGISTER).status == 200
    assert call(app, "POST", "/v1/auth/login", {"username": "nacos", "password": "nacos"}).status == 404
    assert "write user='-' source=127.0.0.1 POST /nacos/v1/ns/instance" in caplog.text
