"""``/v1/auth/*``: login, users, roles and permissions, with Nacos 1.4's parameters and answers.

Differences from Nacos, each on purpose: the user list never shows password hashes; a password must
have ``MIN_PASSWORD_CHARS`` to ``MAX_PASSWORD_BYTES``; names are bounded and plain; ``ROLE_ADMIN`` can
be neither granted through the API nor removed from the last administrator; a non-administrator
changing another user's password gets HTTP 403 (Nacos answers 200 with a 403 body); deleting a user
also removes its role bindings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

from nacosfast.auth.gate import AUTHORIZATION_FAILED, AuthGate, Denial, Identity
from nacosfast.auth.policy import ACTIONS
from nacosfast.auth.store import GLOBAL_ADMIN_ROLE
from nacosfast.errors import BadRequest, Conflict, NacosError
from nacosfast.limits import (
    MAX_PASSWORD_BYTES,
    MAX_RESOURCE_LENGTH,
    MAX_USERNAME_LENGTH,
    MAX_USERS,
    MIN_PASSWORD_CHARS,
)
from nacosfast.naming.context import Context, Routes
from nacosfast.naming.replies import json_reply, page, request_param
from nacosfast.wire.message import APPLICATION_JSON, TEXT_PLAIN, Response

_NAME: Final = re.compile(r"[0-9A-Za-z_.@-]+")
_RESOURCE: Final = re.compile(r"[0-9A-Za-z_.@:/*-]*")
MAX_PAGE_SIZE: Final = 500


def _rest(message: str, durable_seq: int = 0) -> Response:
    """Nacos's ``RestResult`` with a message: ``{"code":200,"message":..,"data":null}``."""
    return json_reply({"code": 200, "message": message, "data": None}, durable_seq=durable_seq)


def _name(ctx: Context, key: str) -> str:
    value = request_param(ctx.params, key)
    if not value or len(value) > MAX_USERNAME_LENGTH or not _NAME.fullmatch(value):
        raise BadRequest(f"Param '{key}' must be 1 to {MAX_USERNAME_LENGTH} of 0-9A-Za-z_.@-")
    return value


def _new_password(ctx: Context, key: str) -> str:
    password = request_param(ctx.params, key)
    if len(password) < MIN_PASSWORD_CHARS or len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise BadRequest(
            f"Param '{key}' must have at least {MIN_PASSWORD_CHARS} characters and at most "
            f"{MAX_PASSWORD_BYTES} bytes"
        )
    return password


def _paged(ctx: Context, items: Sequence[dict[str, Any]]) -> Response:
    """Nacos's ``Page``: ``totalCount``, ``pageNumber``, ``pagesAvailable``, ``pageItems``."""
    params = ctx.params
    number = params.integer("pageNo", low=1)
    size = params.integer("pageSize", low=1, high=MAX_PAGE_SIZE)
    return json_reply(
        {
            "totalCount": len(items),
            "pageNumber": number,
            "pagesAvailable": -(-len(items) // size),
            "pageItems": page(items, (number - 1) * size, size),
        }
    )


def _journal(ctx: Context, records: list[bytes]) -> int:
    seq = 0
    for record in records:
        seq = ctx.state.journal.append(record)
    return seq


def auth_routes(gate: AuthGate) -> Routes:
    """The ``/v1/auth`` routes, bound to ``gate``."""
    store = gate.store

    def login(ctx: Context) -> Response:
        """Nacos's ``UserController.login``: a token from a password (or the token already held)."""
        identity = gate.identify(ctx)
        if isinstance(identity, Response):  # the password is being checked
            return identity
        if isinstance(identity, Denial):
            if identity.status != 403:
                return gate.deny_response(ctx, identity)
            return Response(status=403, body=identity.message.encode(), content_type=TEXT_PLAIN)
        return _token_reply(identity, ctx.wall_ms)

    def _token_reply(identity: Identity, wall_ms: int) -> Response:
        body = {
            "accessToken": identity.token,
            "tokenTtl": max(0, identity.expires_at_s - wall_ms // 1000),
            "globalAdmin": store.is_admin(identity.username),
            "username": identity.username,
        }
        return Response(
            body=json.dumps(body, separators=(",", ":")).encode(),
            content_type=APPLICATION_JSON,
            headers=[(b"Authorization", b"Bearer " + identity.token.encode("ascii"))],
        )

    def _set_password(ctx: Context, username: str, password: str, message: str) -> Response:
        """Store the user with a hash of ``password`` (deferred until a worker thread computed it);
        tokens issued before now stop working."""
        hashed = gate.password_hash(ctx, username, password)
        if isinstance(hashed, Response):
            return hashed
        return _rest(message, _journal(ctx, [store.put_user(username, hashed, ctx.wall_ms // 1000)]))

    def list_users(ctx: Context) -> Response:
        return _paged(ctx, [{"username": name} for name in sorted(store.users)])

    def search_users(ctx: Context) -> Response:
        text = request_param(ctx.params, "username")
        return json_reply([name for name in sorted(store.users) if text in name])

    def create_user(ctx: Context) -> Response:
        username = _name(ctx, "username")
        password = _new_password(ctx, "password")
        if username in store.users:
            raise BadRequest(f"user '{username}' already exist!")
        if len(store.users) >= MAX_USERS:
            raise Conflict(f"too many users: at most {MAX_USERS}")
        return _set_password(ctx, username, password, "create user ok!")

    def delete_user(ctx: Context) -> Response:
        username = request_param(ctx.params, "username")
        if store.is_admin(username):
            raise BadRequest(f"cannot delete admin: {username}")
        if username not in store.users:
            return _rest("delete user ok!")
        return _rest("delete user ok!", _journal(ctx, store.remove_user(username)))

    def update_user(ctx: Context) -> Response:
        username = request_param(ctx.params, "username")
        if ctx.user != username and not store.is_admin(ctx.user):
            raise NacosError(AUTHORIZATION_FAILED, 403)
        if username not in store.users:
            raise BadRequest(f"user {username} not exist!")
        password = _new_password(ctx, "newPassword")
        return _set_password(ctx, username, password, "update user ok!")

    def list_roles(ctx: Context) -> Response:
        username = ctx.params.raw("username")
        bindings = [
            {"role": role, "username": user}
            for role, user in store.bindings()
            if not username or user == username
        ]
        return _paged(ctx, bindings)

    def search_roles(ctx: Context) -> Response:
        text = request_param(ctx.params, "role")
        return json_reply(sorted(role for role in store.role_names() if text in role))

    def add_role(ctx: Context) -> Response:
        role = _name(ctx, "role")
        username = request_param(ctx.params, "username")
        if username not in store.users:
            raise BadRequest(f"user '{username}' not found!")
        if role == GLOBAL_ADMIN_ROLE:
            raise BadRequest(f"role '{GLOBAL_ADMIN_ROLE}' is not permitted to create!")
        if len(store.bindings()) >= MAX_USERS:
            raise Conflict(f"too many role bindings: at most {MAX_USERS}")
        return _rest("add role ok!", _journal(ctx, [store.bind(role, username)]))

    def delete_role(ctx: Context) -> Response:
        role = request_param(ctx.params, "role")
        username = ctx.params.raw("username")
        if role == GLOBAL_ADMIN_ROLE:
            raise BadRequest(f"role '{GLOBAL_ADMIN_ROLE}' cannot be deleted")
        if username:
            records = [store.unbind(role, username)] if role in store.roles.get(username, ()) else []
        else:
            records = [store.unbind(role, user) for held, user in store.bindings() if held == role]
            records += [
                store.revoke(role, resource, action)
                for resource, action in sorted(store.permissions.get(role, ()))
            ]
        return _rest(f"delete role of user {username} ok!", _journal(ctx, records))

    def list_permissions(ctx: Context) -> Response:
        role = ctx.params.raw("role")
        grants = [
            {"role": held, "resource": resource, "action": action}
            for held, resource, action in store.grants()
            if not role or held == role
        ]
        return _paged(ctx, grants)

    def _grant_params(ctx: Context) -> tuple[str, str, str]:
        role = request_param(ctx.params, "role")
        resource = request_param(ctx.params, "resource")
        action = request_param(ctx.params, "action")
        if len(resource) > MAX_RESOURCE_LENGTH or not _RESOURCE.fullmatch(resource):
            raise BadRequest(f"Param 'resource' must be at most {MAX_RESOURCE_LENGTH} of 0-9A-Za-z_.@:/*-")
        if action not in ACTIONS:
            raise BadRequest("Param 'action' must be r, w or rw")
        return role, resource, action

    def add_permission(ctx: Context) -> Response:
        role, resource, action = _grant_params(ctx)
        if role not in store.role_names():
            raise BadRequest(f"role {role} not found!")
        if len(store.grants()) >= MAX_USERS:
            raise Conflict(f"too many permissions: at most {MAX_USERS}")
        return _rest("add permission ok!", _journal(ctx, [store.grant(role, resource, action)]))

    def delete_permission(ctx: Context) -> Response:
        role, resource, action = _grant_params(ctx)
        if (resource, action) not in store.permissions.get(role, ()):
            return _rest("delete permission ok!")
        return _rest("delete permission ok!", _journal(ctx, [store.revoke(role, resource, action)]))

    handlers: dict[tuple[str, str], Callable[[Context], Response]] = {
        ("POST", "/v1/auth/login"): login,
        ("POST", "/v1/auth/users/login"): login,
        ("GET", "/v1/auth/users"): list_users,
        ("GET", "/v1/auth/users/search"): search_users,
        ("POST", "/v1/auth/users"): create_user,
        ("DELETE", "/v1/auth/users"): delete_user,
        ("PUT", "/v1/auth/users"): update_user,
        ("GET", "/v1/auth/roles"): list_roles,
        ("GET", "/v1/auth/roles/search"): search_roles,
        ("POST", "/v1/auth/roles"): add_role,
        ("DELETE", "/v1/auth/roles"): delete_role,
        ("GET", "/v1/auth/permissions"): list_permissions,
        ("POST", "/v1/auth/permissions"): add_permission,
        ("DELETE", "/v1/auth/permissions"): delete_permission,
    }
    return handlers
