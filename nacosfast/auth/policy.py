"""Who may call what: the per-route rules and Nacos's resource model (``namespace:group:naming/service``).

Nacos marks controller methods ``@Secured``: naming endpoints build the resource from the request
(``NamingResourceParser``) and need ``r`` or ``w``; console endpoints name a fixed ``console/...``
resource that only ``ROLE_ADMIN`` holds. Endpoints without ``@Secured`` pass unauthenticated in Nacos;
here every route has an explicit rule in ``RULES`` and a route without one needs an administrator, so
a new endpoint is closed until someone decides otherwise.

Matching differs from Nacos on purpose: Nacos turns a permission's resource into a Java regex (``*``
becomes ``.*``, every other character, ``.`` included, keeps its regex meaning) and matches it against
the whole ``ns:group:naming/service`` string. Here ``*`` is the only wildcard (a ``.`` in a service
name means a dot) and the namespace, group and service parts are matched separately, so a permission
for namespace ``ns1`` never covers a namespace named ``ns1:x``. An empty namespace in a permission
(what Nacos's console writes for ``public``) means ``public``, as a missing ``namespaceId`` does in a
request.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from nacosfast.naming.names import (
    DEFAULT_GROUP,
    DEFAULT_NAMESPACE,
    GROUP_SEPARATOR,
    grouped_name,
    namespace_param,
    split_grouped,
)
from nacosfast.naming.params import Params

READ: Final = "r"
WRITE: Final = "w"
ACTIONS: Final = ("r", "w", "rw")
"""What a permission may grant; a request needs ``r`` or ``w`` and ``rw`` holds both."""
NAMING_PREFIX: Final = "naming/"


class Access(Enum):
    """What a route demands of its caller."""

    OPEN = "open"
    """No authentication: login, liveness and readiness probes."""
    USER = "user"
    """Any authenticated user: server status and configuration reads that name no service."""
    NAMING = "naming"
    """A permission on the request's ``namespace:group:naming/service`` resource."""
    SELF = "self"
    """An authenticated user, acting on itself (password change); the endpoint checks the rest."""
    ADMIN = "admin"
    """``ROLE_ADMIN``: users, roles, permissions, namespaces, switches, peer-only endpoints."""


class Scope(Enum):
    """Which naming resource a route acts on: derived from the parameters the way its handler reads
    them, so that the resource checked is the resource touched."""

    SERVICE = "service"
    """``namespaceId`` and the grouped ``serviceName`` (else ``dom``) with ``groupName``."""
    LEGACY = "legacy"
    """``namespaceId`` and ``dom`` in ``DEFAULT_GROUP`` (``/api/srvIPXT``, ``/api/clientBeat``)."""
    NAMESPACE = "namespace"
    """Every service of ``namespaceId`` (lists, and subscribers, which match names by substring)."""
    NAMES = "names"
    """``/service/names``: every service of ``namespaceId``, or of every namespace when it is blank."""
    EVERYWHERE = "everywhere"
    """Every service of every namespace (``/api/allDomNames``)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One route's demand: the access kind, the action (``r``/``w``) and, for naming routes, the scope."""

    access: Access
    action: str = READ
    scope: Scope = Scope.SERVICE

    @property
    def writes(self) -> bool:
        """Whether the route changes something (and so is audited)."""
        return self.action == WRITE


OPEN: Final = Rule(Access.OPEN)
USER_READ: Final = Rule(Access.USER)
NAMING_READ: Final = Rule(Access.NAMING, READ)
NAMING_WRITE: Final = Rule(Access.NAMING, WRITE)
ADMIN_READ: Final = Rule(Access.ADMIN, READ)
ADMIN_WRITE: Final = Rule(Access.ADMIN, WRITE)
SELF_WRITE: Final = Rule(Access.SELF, WRITE)
LEGACY_READ: Final = Rule(Access.NAMING, READ, Scope.LEGACY)
LEGACY_WRITE: Final = Rule(Access.NAMING, WRITE, Scope.LEGACY)
NAMESPACE_READ: Final = Rule(Access.NAMING, READ, Scope.NAMESPACE)
DEFAULT_RULE: Final = ADMIN_WRITE
"""For a route missing from ``RULES`` (tests keep the table complete)."""

_ANY: Final = ("GET", "POST", "PUT", "DELETE", "PATCH")


def _every_method(path: str, rule: Rule) -> dict[tuple[str, str], Rule]:
    return {(method, path): rule for method in _ANY}


RULES: Final[dict[tuple[str, str], Rule]] = {
    # naming: Nacos's @Secured(parser = NamingResourceParser) methods
    ("POST", "/v1/ns/instance"): NAMING_WRITE,
    ("DELETE", "/v1/ns/instance"): NAMING_WRITE,
    ("PUT", "/v1/ns/instance"): NAMING_WRITE,
    ("PATCH", "/v1/ns/instance"): NAMING_WRITE,
    ("GET", "/v1/ns/instance"): NAMING_READ,
    ("GET", "/v1/ns/instance/list"): NAMING_READ,
    ("PUT", "/v1/ns/instance/beat"): NAMING_WRITE,
    ("PUT", "/v1/ns/instance/metadata/batch"): NAMING_WRITE,
    ("DELETE", "/v1/ns/instance/metadata/batch"): NAMING_WRITE,
    ("POST", "/v1/ns/service"): NAMING_WRITE,
    ("DELETE", "/v1/ns/service"): NAMING_WRITE,
    ("PUT", "/v1/ns/service"): NAMING_WRITE,
    ("GET", "/v1/ns/service"): NAMING_READ,
    ("GET", "/v1/ns/service/list"): NAMESPACE_READ,
    **_every_method("/v1/ns/service/names", Rule(Access.NAMING, READ, Scope.NAMES)),
    ("GET", "/v1/ns/service/subscribers"): NAMESPACE_READ,
    ("GET", "/v1/ns/catalog/service"): NAMING_READ,
    ("GET", "/v1/ns/catalog/services"): NAMESPACE_READ,
    **_every_method("/v1/ns/catalog/instances", NAMING_READ),
    **_every_method("/v1/ns/catalog/rt/service", NAMING_READ),
    ("PUT", "/v1/ns/cluster"): NAMING_WRITE,
    ("PUT", "/v1/ns/health"): NAMING_WRITE,
    ("PUT", "/v1/ns/health/instance"): NAMING_WRITE,
    # legacy API: the same data as instance/list, service/names and beat
    **_every_method("/v1/ns/api/srvIPXT", LEGACY_READ),
    **_every_method("/v1/ns/api/allDomNames", Rule(Access.NAMING, READ, Scope.EVERYWHERE)),
    **_every_method("/v1/ns/api/clientBeat", LEGACY_WRITE),
    # peer-only in Nacos (unsecured there, trusted by User-Agent): administrators only here
    **_every_method("/v1/ns/instance/statuses", ADMIN_READ),
    ("PUT", "/v1/ns/service/checksum"): ADMIN_WRITE,
    # server status and settings: any user reads them (clients poll metrics and servers)
    **_every_method("/v1/ns/health/server", USER_READ),
    ("GET", "/v1/ns/health/checkers"): USER_READ,
    ("GET", "/v1/ns/operator/metrics"): USER_READ,
    ("GET", "/v1/ns/operator/servers"): USER_READ,
    ("GET", "/v1/ns/operator/switches"): USER_READ,
    ("GET", "/v1/ns/operator/cluster/state"): USER_READ,
    ("GET", "/v1/ns/operator/distro/server"): USER_READ,
    ("GET", "/v1/ns/operator/distro/status"): USER_READ,
    ("GET", "/v1/ns/operator/push/state"): USER_READ,
    ("GET", "/v1/core/cluster/nodes"): USER_READ,
    ("GET", "/v1/core/cluster/self"): USER_READ,
    ("GET", "/v1/core/cluster/simple/nodes"): USER_READ,
    ("GET", "/v1/core/cluster/health"): USER_READ,
    ("GET", "/v1/console/server/state"): USER_READ,
    ("GET", "/v1/console/namespaces"): USER_READ,
    ("GET", "/v1/console/health/liveness"): OPEN,
    ("GET", "/v1/console/health/readiness"): OPEN,
    # administration: Nacos's fixed resources naming/switches and console/*
    ("PUT", "/v1/ns/operator/switches"): ADMIN_WRITE,
    ("PUT", "/v1/ns/operator/log"): ADMIN_WRITE,
    **{(method, "/v1/ns/operator/push/state"): ADMIN_WRITE for method in _ANY if method != "GET"},
    ("POST", "/v1/console/namespaces"): ADMIN_WRITE,
    ("PUT", "/v1/console/namespaces"): ADMIN_WRITE,
    ("DELETE", "/v1/console/namespaces"): ADMIN_WRITE,
    # auth: login is open; users, roles and permissions are console/* resources
    ("POST", "/v1/auth/login"): OPEN,
    ("POST", "/v1/auth/users/login"): OPEN,
    ("GET", "/v1/auth/users"): ADMIN_READ,
    ("GET", "/v1/auth/users/search"): ADMIN_READ,
    ("POST", "/v1/auth/users"): ADMIN_WRITE,
    ("DELETE", "/v1/auth/users"): ADMIN_WRITE,
    ("PUT", "/v1/auth/users"): SELF_WRITE,
    ("GET", "/v1/auth/roles"): ADMIN_READ,
    ("GET", "/v1/auth/roles/search"): ADMIN_READ,
    ("POST", "/v1/auth/roles"): ADMIN_WRITE,
    ("DELETE", "/v1/auth/roles"): ADMIN_WRITE,
    ("GET", "/v1/auth/permissions"): ADMIN_READ,
    ("POST", "/v1/auth/permissions"): ADMIN_WRITE,
    ("DELETE", "/v1/auth/permissions"): ADMIN_WRITE,
}
"""``(METHOD, path below /nacos)`` → rule, for every route the server has."""

NO_AUDIT: Final = frozenset({("PUT", "/v1/ns/instance/beat"), *_every_method("/v1/ns/api/clientBeat", OPEN)})
"""Writes not audited: a beat every 5 s per instance only renews what registration created (and
logged)."""


@dataclass(frozen=True, slots=True)
class NamingResource:
    """A request's naming resource: namespace, group and service (``*`` when it names none)."""

    namespace: str
    group: str
    service: str

    @classmethod
    def of(cls, params: Params, scope: Scope) -> NamingResource:
        """The resource a request acts on: the handlers' own parameter readers, so the gate and the
        handler always agree (Nacos's parser prefers ``groupName`` over a ``group@@`` prefix that its
        handlers use, which checks one service and touches another)."""
        if scope is Scope.EVERYWHERE:
            return cls("*", "*", "*")
        if scope is Scope.NAMES and not params.optional("namespaceId"):
            return cls("*", "*", "*")
        namespace = namespace_param(params)
        if scope is Scope.SERVICE:
            name = grouped_name(params)
        elif scope is Scope.LEGACY:
            dom = params.optional("dom")
            name = f"{DEFAULT_GROUP}{GROUP_SEPARATOR}{dom}" if dom else ""
        else:
            name = ""
        if not name:
            return cls(namespace, "*", "*")
        group, service = split_grouped(name)
        return cls(namespace, group, service)

    def __str__(self) -> str:
        return f"{self.namespace}:{self.group}:{NAMING_PREFIX}{self.service}"


def glob_match(pattern: str, text: str) -> bool:
    """Whether ``text`` matches ``pattern``, where ``*`` stands for any run of characters (and nothing
    else is special). Greedy with one backtrack point: O(len(pattern) * len(text)) at worst."""
    p = t = 0
    star = -1
    resume = 0
    while t < len(text):
        if p < len(pattern) and pattern[p] != "*" and pattern[p] == text[t]:
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume = p, t
            p += 1
        elif star >= 0:
            p = star + 1
            resume += 1
            t = resume
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def permits(resource_pattern: str, granted: str, resource: NamingResource, action: str) -> bool:
    """Whether one permission (``resource_pattern``, ``granted`` action) covers ``action`` on ``resource``.

    A pattern with fewer than three ``:``-separated parts is matched against the whole resource (so
    ``*`` covers everything, as in Nacos).
    """
    if action not in granted:
        return False
    parts = resource_pattern.split(":", 2)
    if len(parts) < 3:
        return glob_match(resource_pattern, str(resource))
    namespace, group, service = parts
    return (
        glob_match(namespace or DEFAULT_NAMESPACE, resource.namespace)
        and glob_match(group, resource.group)
        and glob_match(service, NAMING_PREFIX + resource.service)
    )
