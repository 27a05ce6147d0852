"""The auth gate: who is calling (token or username/password), may they, and what gets audited.

``NamingApp`` asks ``AuthGate.authorize`` before it runs a route's handler. The caller is identified
as Nacos's ``AuthFilter`` does it: ``Authorization: Bearer <jwt>``, else the ``accessToken``
parameter, else the ``username``/``password`` parameters (Node's client sends them on every request).
Nothing else counts: no ``User-Agent``, no address, no header names a trusted peer.

Costs on the hot path: a known token is a dict lookup (``TOKEN_CACHE_ENTRIES`` verified tokens per
node), and a permission decision is cached per (user, route scope, action, query string) until
users, roles or permissions change. A password is never checked while handling a request: bcrypt
takes 100+ ms, so the gate queues a ``PasswordJob``, answers with a deferred response, and the server
runs the job in a worker thread, calls ``complete`` and handles the waiting requests again, which then
find the result in the credential cache (keyed by an HMAC of the password, never the password).

Password attempts are counted per source address (a token bucket: ``LOGIN_FAILURE_BURST`` attempts,
then one per ``LOGIN_FAILURE_REFILL_MS``; an attempt is charged before its check starts and given
back if the password was right, so only failures use the budget and concurrent guesses cannot
overdraw it); a source over its budget gets 429 for every password it sends, right or wrong, until
the bucket refills. A pair already checked good passes without touching the budget.

Audit lines go to the ``nacosfast.audit`` logger: every authorized write (beats excepted), every
denial and every failed or throttled login, with the user and source address and never a password
or token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from nacosfast.auth import jwt
from nacosfast.auth.passwords import check_password, hash_password
from nacosfast.auth.policy import (
    DEFAULT_RULE,
    NO_AUDIT,
    RULES,
    Access,
    NamingResource,
    Rule,
    Scope,
    permits,
)
from nacosfast.auth.store import AuthStore
from nacosfast.limits import (
    BCRYPT_ROUNDS,
    CREDENTIAL_CACHE_ENTRIES,
    LOGIN_FAILURE_BURST,
    LOGIN_FAILURE_REFILL_MS,
    LOGIN_SOURCES_TRACKED,
    MAX_PENDING_PASSWORD_JOBS,
    TOKEN_CACHE_ENTRIES,
    TOKEN_TTL_S,
)
from nacosfast.naming.context import Context
from nacosfast.wire.message import PendingAnswer, Request, Response

audit = logging.getLogger("nacosfast.audit")

UNKNOWN_USER: Final = "unknown user!"
TOKEN_EXPIRED: Final = "token expired!"
TOKEN_INVALID: Final = "token invalid!"
AUTHORIZATION_FAILED: Final = "authorization failed!"
"""Nacos's ``AuthFilter`` messages (403)."""
BEARER: Final = b"bearer "
DECISION_CACHE_ENTRIES: Final = 4_096
"""Permission decisions remembered (cleared whenever the auth tables change)."""
_STAND_IN_HASH: Final = "$2b$10$wtYVDo3fqYbJft96PIDNUupHlGdIkevHqt.ib7.npl3VABi6GrajW"
"""A bcrypt hash checked for unknown users, so that a login for a name that does not exist costs as
long as one that does (no user enumeration by timing). Its result is never used."""


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """How the gate runs: ``enabled`` (``--auth-enabled``), the HMAC ``secret``, token lifetime."""

    enabled: bool = False
    secret: bytes = b""
    token_ttl_s: int = TOKEN_TTL_S
    bcrypt_rounds: int = BCRYPT_ROUNDS
    """Cost of new password hashes (tests lower it; checks use the cost stored in each hash)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller and the token that proves it (fresh when issued for this request)."""

    username: str
    token: str
    expires_at_s: int
    issued_at_s: int = 0


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a caller is refused: 403 with Nacos's message, or 429 with a retry delay."""

    message: str
    status: int = 403
    retry_after_s: int = 0


@dataclass(slots=True, eq=False)
class PasswordJob:
    """One bcrypt computation: check ``password`` against ``hashed``, or hash it (``hashed`` is None).

    ``run`` is the only part that may run outside the event loop; it touches nothing but the job.
    ``waiters`` are the requests to handle again once the result is in the gate.
    """

    key: bytes
    password: str
    hashed: str | None
    rounds: int = BCRYPT_ROUNDS
    waiters: list[tuple[Request, PendingAnswer]] = field(default_factory=list)
    result: str | bool | None = None

    def run(self) -> None:
        """Do the slow part (100+ ms of CPU; bcrypt releases the GIL)."""
        password, self.password = self.password, ""  # the password leaves memory with the job
        if self.hashed is None:
            self.result = hash_password(password, self.rounds)
        else:
            self.result = check_password(password, self.hashed)


@dataclass(slots=True)
class _Checked:
    """A (user, password) pair checked against ``hashed`` (the user's hash at the time)."""

    hashed: str
    ok: bool
    announced: bool = False


class LoginThrottle:
    """Failed logins per source address: a token bucket of ``burst`` attempts refilled one per
    ``refill_ms``; the least recently failing source is forgotten once ``capacity`` are tracked."""

    __slots__ = ("_sources", "burst", "capacity", "refill_ms")

    def __init__(
        self,
        burst: int = LOGIN_FAILURE_BURST,
        refill_ms: int = LOGIN_FAILURE_REFILL_MS,
        capacity: int = LOGIN_SOURCES_TRACKED,
    ) -> None:
        self.burst = burst
        self.refill_ms = refill_ms
        self.capacity = capacity
        self._sources: dict[str, tuple[float, int]] = {}
        """source → (attempts left, monotonic ms of that count)."""

    def _left(self, source: str, now_ms: int) -> float:
        entry = self._sources.get(source)
        if entry is None:
            return self.burst
        left, at_ms = entry
        return min(self.burst, left + (now_ms - at_ms) / self.refill_ms)

    def wait_ms(self, source: str, now_ms: int) -> int:
        """0 if ``source`` may try a password now, else how long until it may."""
        left = self._left(source, now_ms)
        return 0 if left >= 1 else int((1 - left) * self.refill_ms) + 1

    def charge(self, source: str, now_ms: int) -> None:
        """Count one login attempt from ``source`` (refunded if the password was right)."""
        self._set(source, max(0.0, self._left(source, now_ms) - 1), now_ms)

    def refund(self, source: str, now_ms: int) -> None:
        """Give back an attempt whose password was right."""
        left = self._left(source, now_ms) + 1
        if left >= self.burst:
            self._sources.pop(source, None)
        else:
            self._set(source, left, now_ms)

    def _set(self, source: str, left: float, now_ms: int) -> None:
        self._sources.pop(source, None)
        self._sources[source] = (left, now_ms)
        if len(self._sources) > self.capacity:
            del self._sources[next(iter(self._sources))]


def _remember(table: dict[Any, Any], limit: int) -> None:
    """Drop the oldest entries of ``table`` beyond ``limit``."""
    while len(table) > limit:
        del table[next(iter(table))]


class AuthGate:
    """Authentication, authorization and audit for one node; see the module docstring."""

    def __init__(self, config: AuthConfig, store: AuthStore | None = None) -> None:
        if config.enabled and not config.secret:
            raise ValueError("auth needs a token secret")
        self.config = config
        self.store = store if store is not None else AuthStore()
        self.throttle = LoginThrottle()
        self.wake: Callable[[], None] | None = None
        """Set by the server: called when a job is queued."""
        self._tokens: dict[str, Identity] = {}
        self._credentials: dict[bytes, _Checked] = {}
        self._prepared: dict[bytes, str] = {}
        self._jobs: deque[PasswordJob] = deque()
        self._pending: dict[bytes, PasswordJob] = {}
        self._charged: set[int] = set()
        """``id`` of requests waiting for their own password check (already charged to their source)."""
        self._decisions: dict[tuple[str, Scope, str, bytes | NamingResource], bool] = {}
        self._decisions_revision = -1
        self._cache_key = hmac.new(config.secret, b"nacosfast credential cache", hashlib.sha256).digest()

    @property
    def enabled(self) -> bool:
        """Whether requests must authenticate (``--auth-enabled``)."""
        return self.config.enabled

    # --- the gate -----------------------------------------------------------------------------------

    def authorize(self, ctx: Context, route: tuple[str, str]) -> Response | None:
        """``None`` lets the request through to its handler; otherwise the answer to send instead."""
        rule = RULES.get(route, DEFAULT_RULE)
        if rule.access is Access.OPEN:
            return None
        if not self.config.enabled:
            if rule.writes and route not in NO_AUDIT:
                self._audit_write(ctx, "-", rule)
            return None
        identity = self.identify(ctx)
        if isinstance(identity, Response):
            return identity
        if isinstance(identity, Denial):
            return self.deny_response(ctx, identity)
        user = identity.username
        ctx.user = user
        if not self._allowed(user, rule, ctx):
            audit.warning(
                "denied user=%r source=%s %s %s",
                user,
                ctx.request.remote[0],
                ctx.request.method,
                ctx.request.path,
            )
            return self.deny_response(ctx, Denial(AUTHORIZATION_FAILED))
        if rule.writes and route not in NO_AUDIT:
            self._audit_write(ctx, user, rule)
        return None

    def identify(self, ctx: Context) -> Identity | Denial | Response:
        """The caller, a reason to refuse it, or a deferred answer (its password is being checked)."""
        request = ctx.request
        header = request.headers.get(b"authorization")
        if header and header[:7].lower() == BEARER:
            return self._token(header[7:].decode("latin-1").strip(), ctx)
        params = request.params
        token = params.get("accessToken", "").strip()
        if token:
            return self._token(token, ctx)
        return self.credentials(ctx, params.get("username", ""), params.get("password", ""))

    def deny_response(self, ctx: Context, denial: Denial) -> Response:
        """The Spring error JSON Nacos's filter answers, with ``Retry-After`` when throttled."""
        from nacosfast.naming.app import spring_error

        response = spring_error(denial.status, denial.message, ctx.request.path, ctx.wall_ms)
        if denial.retry_after_s:
            response.headers.append((b"Retry-After", str(denial.retry_after_s).encode()))
        return response

    # --- tokens -------------------------------------------------------------------------------------

    def issue(self, username: str, wall_ms: int) -> Identity:
        """A new token for ``username``, valid for ``token_ttl_s``."""
        now_s = wall_ms // 1000
        expires = now_s + self.config.token_ttl_s
        return Identity(username, jwt.issue(self.config.secret, username, expires, now_s), expires, now_s)

    def _token(self, token: str, ctx: Context) -> Identity | Denial:
        identity = self._tokens.get(token)
        if identity is None:
            try:
                claims = jwt.verify(self.config.secret, token, ctx.wall_ms / 1000)
            except jwt.TokenError as error:
                audit.warning(
                    "token refused source=%s reason=%s %s %s",
                    ctx.request.remote[0],
                    error,
                    ctx.request.method,
                    ctx.request.path,
                )
                return Denial(TOKEN_EXPIRED if error.expired else TOKEN_INVALID)
            identity = Identity(claims.subject, token, claims.expires_at_s, claims.issued_at_s)
            self._tokens[token] = identity
            _remember(self._tokens, TOKEN_CACHE_ENTRIES)
        elif ctx.wall_ms >= identity.expires_at_s * 1000:
            del self._tokens[token]
            return Denial(TOKEN_EXPIRED)
        since = self.store.tokens_since.get(identity.username)
        if since is None:  # deleted since the token was issued
            return Denial(UNKNOWN_USER)
        if identity.issued_at_s < since:  # issued before a password change (or to a former namesake)
            return Denial(TOKEN_INVALID)
        return identity

    # --- passwords ----------------------------------------------------------------------------------

    def _key(self, purpose: bytes, username: str, password: str) -> bytes:
        material = purpose + b"\0" + username.encode("utf-8", "surrogatepass") + b"\0"
        return hmac.new(
            self._cache_key, material + password.encode("utf-8", "surrogatepass"), "sha256"
        ).digest()

    def credentials(self, ctx: Context, username: str, password: str) -> Identity | Denial | Response:
        """Check a username and password (from the cache, or by queueing a bcrypt check).

        Every attempt that is not a known-good pair costs the source one attempt, charged *before*
        the check is queued (so that concurrent guesses cannot all start while the budget lasts) and
        given back when the password was right.
        """
        if not username or not password:
            return Denial(UNKNOWN_USER)
        request = ctx.request
        source = request.remote[0]
        charged = id(request) in self._charged  # handled again after its own check ran
        if charged:
            self._charged.discard(id(request))
        stored = self.store.users.get(username)
        expected = stored if stored is not None else _STAND_IN_HASH
        key = self._key(b"check", username, password)
        checked = self._credentials.get(key)
        known_good = checked is not None and checked.ok and checked.hashed == expected and stored is not None
        if not charged and not known_good:
            wait_ms = self.throttle.wait_ms(source, ctx.now_ms)
            if wait_ms:
                audit.warning("login throttled user=%r source=%s", username, source)
                return Denial(
                    "too many failed logins from this address; try again later", 429, -(-wait_ms // 1000)
                )
            self.throttle.charge(source, ctx.now_ms)
        if checked is None or checked.hashed != expected:
            queued = self._queue(PasswordJob(key, password, expected), ctx)
            if queued.deferred is not None:
                self._charged.add(id(request))
            else:  # refused (too many checks waiting): nothing was tried
                self.throttle.refund(source, ctx.now_ms)
            return queued
        if not known_good:
            audit.warning("login failed user=%r source=%s", username, source)
            return Denial(UNKNOWN_USER)
        if charged:
            self.throttle.refund(source, ctx.now_ms)
        if not checked.announced:
            checked.announced = True
            audit.info("login user=%r source=%s", username, source)
        return self.issue(username, ctx.wall_ms)

    def password_hash(self, ctx: Context, username: str, password: str) -> str | Response:
        """A bcrypt hash of a new password: ready if the job for this request ran, else a deferred
        answer (the request is handled again when the hash is computed)."""
        key = self._key(b"hash", username, password)
        hashed = self._prepared.pop(key, None)
        if hashed is not None:
            return hashed
        return self._queue(PasswordJob(key, password, None, self.config.bcrypt_rounds), ctx)

    def _queue(self, job: PasswordJob, ctx: Context) -> Response:
        pending = PendingAnswer()
        existing = self._pending.get(job.key)
        if existing is not None:
            existing.waiters.append((ctx.request, pending))
            return Response(status=503, body=b"", deferred=pending)
        if len(self._pending) >= MAX_PENDING_PASSWORD_JOBS:
            return Response(
                status=503, body=b"caused: too many password checks in progress, try again later;"
            )
        job.waiters.append((ctx.request, pending))
        self._pending[job.key] = job
        self._jobs.append(job)
        if self.wake is not None:
            self.wake()
        return Response(status=503, body=b"", deferred=pending)

    def take_jobs(self) -> list[PasswordJob]:
        """The queued jobs, for the server to ``run`` off the event loop."""
        jobs = list(self._jobs)
        self._jobs.clear()
        return jobs

    def complete(self, job: PasswordJob) -> list[tuple[Request, PendingAnswer]]:
        """Take a finished job's result; the requests to handle again (and where their answers go)."""
        self._pending.pop(job.key, None)
        if job.hashed is None:
            if isinstance(job.result, str):
                self._prepared[job.key] = job.result
                _remember(self._prepared, MAX_PENDING_PASSWORD_JOBS)
        else:
            self._credentials[job.key] = _Checked(job.hashed, job.result is True)
            _remember(self._credentials, CREDENTIAL_CACHE_ENTRIES)
        return job.waiters

    # --- permissions --------------------------------------------------------------------------------

    def _allowed(self, user: str, rule: Rule, ctx: Context) -> bool:
        store = self.store
        if rule.access in (Access.USER, Access.SELF):
            return True
        if store.is_admin(user):
            return True
        if rule.access is not Access.NAMING:
            return False
        if self._decisions_revision != store.revision:
            self._decisions.clear()
            self._decisions_revision = store.revision
        request = ctx.request
        # Without a body the parameters are the query string: the decision is a function of it (a
        # client's beat repeats the same query every 5 s), so the resource need not be parsed again.
        key: tuple[str, Scope, str, bytes | NamingResource] = (
            user,
            rule.scope,
            rule.action,
            request.query if not request.body else NamingResource.of(ctx.params, rule.scope),
        )
        decision = self._decisions.get(key)
        if decision is None:
            resource = NamingResource.of(ctx.params, rule.scope)
            decision = any(
                permits(pattern, granted, resource, rule.action)
                for role in store.roles.get(user, ())
                for pattern, granted in store.permissions.get(role, ())
            )
            self._decisions[key] = decision
            _remember(self._decisions, DECISION_CACHE_ENTRIES)
        return decision

    def _audit_write(self, ctx: Context, user: str, rule: Rule) -> None:
        if audit.isEnabledFor(logging.INFO):
            request = ctx.request
            resource = NamingResource.of(ctx.params, rule.scope) if rule.access is Access.NAMING else None
            audit.info(
                "write user=%r source=%s %s %s%s",
                user,
                request.remote[0],
                request.method,
                request.path,
                f" resource={resource}" if resource else "",
            )
