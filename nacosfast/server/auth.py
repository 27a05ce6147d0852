"""The Trio shell of auth: secret and password files at start-up, and the bcrypt worker.

``run_password_worker`` takes the gate's queued ``PasswordJob``s, runs each in a worker thread (at most
``PASSWORD_WORKER_THREADS`` at once; bcrypt releases the GIL), hands the result back to the gate on the
Trio thread and answers the requests that waited by handling them again.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Final

import trio

from nacosfast.auth.gate import AuthConfig, AuthGate, PasswordJob
from nacosfast.auth.passwords import hash_password
from nacosfast.auth.store import ADMIN_USER, GLOBAL_ADMIN_ROLE
from nacosfast.config import ConfigError, Settings
from nacosfast.limits import (
    MAX_PASSWORD_BYTES,
    MIN_PASSWORD_CHARS,
    MIN_TOKEN_SECRET_BYTES,
    PASSWORD_WORKER_THREADS,
)
from nacosfast.naming.state import JournalSink
from nacosfast.wire.message import Request, Response

log = logging.getLogger("nacosfast.auth")

NACOS_PUBLISHED_SECRET: Final = b"SecretKey012345678901234567890123456789012345678901234567890123456789"
"""The token secret Nacos shipped in its configuration up to 1.4.4: anyone can sign tokens with it."""


def _read_secret_file(path: str, what: str) -> bytes:
    """The file's bytes without a trailing line break; refuses unreadable files, warns on loose modes."""
    file = Path(path)
    try:
        mode = file.stat().st_mode
        content = file.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read the {what} file {path}: {error.strerror or error}") from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the %s file %s is readable by other users: chmod 600 it", what, path)
    return content.rstrip(b"\r\n")


def load_auth_config(settings: Settings) -> AuthConfig:
    """The gate's configuration from the settings and the secret file (``ConfigError`` if unusable)."""
    if not settings.auth_enabled:
        return AuthConfig(enabled=False)
    secret = _read_secret_file(settings.token_secret_file, "token secret")
    if len(secret) < MIN_TOKEN_SECRET_BYTES:
        raise ConfigError(
            f"the token secret in {settings.token_secret_file} has {len(secret)} bytes; at least "
            f"{MIN_TOKEN_SECRET_BYTES} random bytes are needed (e.g. `openssl rand -base64 48 > FILE`)"
        )
    if secret == NACOS_PUBLISHED_SECRET:
        raise ConfigError("the token secret is Nacos's published default: anyone could sign tokens with it")
    return AuthConfig(enabled=True, secret=secret, token_ttl_s=settings.token_ttl_s)


def read_admin_password(settings: Settings) -> str | None:
    """The first-start administrator password from ``--admin-password-file``, if one was given."""
    if not settings.admin_password_file:
        return None
    raw = _read_secret_file(settings.admin_password_file, "admin password")
    try:
        password = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"the admin password in {settings.admin_password_file} is not UTF-8") from error
    if len(password) < MIN_PASSWORD_CHARS or len(raw) > MAX_PASSWORD_BYTES:
        raise ConfigError(
            f"the admin password must have at least {MIN_PASSWORD_CHARS} characters and at most "
            f"{MAX_PASSWORD_BYTES} bytes"
        )
    return password


async def bootstrap_admin(gate: AuthGate, journal: JournalSink, password: str | None) -> int:
    """Create the ``nacos`` administrator if there are no users yet; the record's sequence number to
    wait on (0 when nothing was written). ``ConfigError`` when there are no users and no password."""
    store = gate.store
    if not gate.enabled:
        return 0
    if store.users:
        if password is not None:
            log.info("users exist already: --admin-password-file is not used")
        return 0
    if password is None:
        raise ConfigError(
            "auth is enabled and there are no users yet: give --admin-password-file to create the "
            f"{ADMIN_USER!r} administrator"
        )
    hashed = await trio.to_thread.run_sync(hash_password, password)
    journal.append(store.put_user(ADMIN_USER, hashed))
    seq = journal.append(store.bind(GLOBAL_ADMIN_ROLE, ADMIN_USER))
    log.info("created the administrator %r", ADMIN_USER)
    return seq


async def run_password_worker(gate: AuthGate, handle: Callable[[Request], Response]) -> None:
    """Run the gate's password jobs off the event loop until cancelled."""
    limiter = trio.CapacityLimiter(PASSWORD_WORKER_THREADS)
    queued = trio.Event()

    def wake() -> None:
        queued.set()

    gate.wake = wake
    try:
        async with trio.open_nursery() as nursery:
            while True:
                await queued.wait()
                queued = trio.Event()
                for job in gate.take_jobs():
                    nursery.start_soon(_run_job, gate, handle, limiter, job)
    finally:
        gate.wake = None


async def _run_job(
    gate: AuthGate, handle: Callable[[Request], Response], limiter: trio.CapacityLimiter, job: PasswordJob
) -> None:
    try:
        await trio.to_thread.run_sync(job.run, limiter=limiter)
    except Exception:
        log.exception("password job failed")  # the result stays None: a check fails, a hash is retried
    for request, pending in gate.complete(job):
        try:
            answer = handle(request)
        except Exception:
            log.exception("handler failed on %s %s", request.method, request.path)
            answer = Response(status=500, body=b"caused: internal error;")
        if answer.deferred is not None and answer.deferred is not pending:
            answer.deferred.on_resolved(pending.resolve)
        else:
            pending.resolve(answer)
