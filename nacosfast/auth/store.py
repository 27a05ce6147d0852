"""Users, role bindings and permissions (Nacos's ``users``, ``roles`` and ``permissions`` tables).

Durable through the node's journal: each change appends one record for one key (a user, a
``(role, user)`` binding or a ``(role, resource, action)`` permission), carrying the whole value or a
tombstone, so replay keeps the last record per key and a snapshot is one record per live key.
Records are JSON objects whose type ``t`` starts with ``auth.``; ``REPLAYERS`` maps each type to the
function that applies it, for ``nacosfast.naming.journal.replay``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Final

from nacosfast.naming.journal import FORMAT_VERSION

GLOBAL_ADMIN_ROLE: Final = "ROLE_ADMIN"
ADMIN_USER: Final = "nacos"
"""The administrator ``--admin-password-file`` creates on first start (Nacos's built-in account)."""

USER_RECORD: Final = "auth.user"
ROLE_RECORD: Final = "auth.role"
PERMISSION_RECORD: Final = "auth.permission"


def _encode(record: dict[str, Any]) -> bytes:
    record["v"] = FORMAT_VERSION
    return json.dumps(record, separators=(",", ":")).encode()


class AuthStore:
    """The three tables in memory; ``revision`` grows with every change (caches compare it)."""

    __slots__ = ("permissions", "revision", "roles", "tokens_since", "users")

    def __init__(self) -> None:
        self.users: dict[str, str] = {}
        """username → bcrypt hash."""
        self.tokens_since: dict[str, int] = {}
        """username → epoch second of its creation or last password change: older tokens are void."""
        self.roles: dict[str, set[str]] = {}
        """username → roles bound to it."""
        self.permissions: dict[str, set[tuple[str, str]]] = {}
        """role → ``(resource, action)`` grants."""
        self.revision = 0

    # --- reading ------------------------------------------------------------------------------------

    def is_admin(self, username: str) -> bool:
        """Whether the user holds ``ROLE_ADMIN``."""
        return GLOBAL_ADMIN_ROLE in self.roles.get(username, ())

    def role_names(self) -> set[str]:
        """Every role that is bound to some user."""
        return {role for bound in self.roles.values() for role in bound}

    def bindings(self) -> list[tuple[str, str]]:
        """``(role, username)`` pairs, sorted."""
        return sorted((role, user) for user, bound in self.roles.items() for role in bound)

    def grants(self) -> list[tuple[str, str, str]]:
        """``(role, resource, action)`` triples, sorted."""
        return sorted(
            (role, resource, action) for role, held in self.permissions.items() for resource, action in held
        )

    def admin_count(self) -> int:
        """How many users hold ``ROLE_ADMIN``."""
        return sum(1 for bound in self.roles.values() if GLOBAL_ADMIN_ROLE in bound)

    # --- changes: each returns the record to journal -------------------------------------------------

    def put_user(self, username: str, password_hash: str, since_s: int = 0) -> bytes:
        """Create a user or replace its password hash; tokens issued before ``since_s`` stop working."""
        self.users[username] = password_hash
        self.tokens_since[username] = since_s
        self.revision += 1
        return self._user_record(username)

    def _user_record(self, username: str) -> bytes:
        return _encode(
            {
                "t": USER_RECORD,
                "name": username,
                "hash": self.users[username],
                "since": self.tokens_since.get(username, 0),
            }
        )

    def remove_user(self, username: str) -> list[bytes]:
        """Delete a user and its role bindings (a user created later under that name starts bare)."""
        records = [self.unbind(role, username) for role in sorted(self.roles.get(username, ()))]
        self.users.pop(username, None)
        self.tokens_since.pop(username, None)
        self.revision += 1
        records.append(_encode({"t": USER_RECORD, "name": username, "deleted": True}))
        return records

    def bind(self, role: str, username: str) -> bytes:
        """Give ``username`` the ``role``."""
        self.roles.setdefault(username, set()).add(role)
        self.revision += 1
        return _encode({"t": ROLE_RECORD, "role": role, "user": username})

    def unbind(self, role: str, username: str) -> bytes:
        """Take ``role`` from ``username``."""
        bound = self.roles.get(username)
        if bound is not None:
            bound.discard(role)
            if not bound:
                del self.roles[username]
        self.revision += 1
        return _encode({"t": ROLE_RECORD, "role": role, "user": username, "deleted": True})

    def grant(self, role: str, resource: str, action: str) -> bytes:
        """Add one permission to a role."""
        self.permissions.setdefault(role, set()).add((resource, action))
        self.revision += 1
        return _encode({"t": PERMISSION_RECORD, "role": role, "resource": resource, "action": action})

    def revoke(self, role: str, resource: str, action: str) -> bytes:
        """Remove one permission from a role."""
        held = self.permissions.get(role)
        if held is not None:
            held.discard((resource, action))
            if not held:
                del self.permissions[role]
        self.revision += 1
        record = {"t": PERMISSION_RECORD, "role": role, "resource": resource, "action": action}
        return _encode({**record, "deleted": True})

    # --- journal ------------------------------------------------------------------------------------

    def snapshot(self) -> Iterator[bytes]:
        """One record per user, binding and permission."""
        for username in sorted(self.users):
            yield self._user_record(username)
        for role, username in self.bindings():
            yield _encode({"t": ROLE_RECORD, "role": role, "user": username})
        for role, resource, action in self.grants():
            yield _encode({"t": PERMISSION_RECORD, "role": role, "resource": resource, "action": action})

    def replayers(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        """Record type → the function applying one record of that type to this store."""
        return {
            USER_RECORD: self._apply_user,
            ROLE_RECORD: self._apply_role,
            PERMISSION_RECORD: self._apply_grant,
        }

    def _apply_user(self, record: dict[str, Any]) -> None:
        if record.get("deleted"):
            self.users.pop(record["name"], None)
            self.tokens_since.pop(record["name"], None)
        else:
            self.users[record["name"]] = record["hash"]
            self.tokens_since[record["name"]] = int(record.get("since", 0))
        self.revision += 1

    def _apply_role(self, record: dict[str, Any]) -> None:
        if record.get("deleted"):
            self.unbind(record["role"], record["user"])
        else:
            self.bind(record["role"], record["user"])

    def _apply_grant(self, record: dict[str, Any]) -> None:
        if record.get("deleted"):
            self.revoke(record["role"], record["resource"], record["action"])
        else:
            self.grant(record["role"], record["resource"], record["action"])
