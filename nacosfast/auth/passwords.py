"""Password hashing with bcrypt (as Nacos stores its users): slow on purpose, so never on the event loop.

Both functions take 100+ ms of CPU (``BCRYPT_ROUNDS``). The application never calls them while
handling a request: it queues a ``PasswordJob`` (``nacosfast.auth.gate``) and the server runs the job
in a worker thread (bcrypt releases the GIL), then handles the request again with the result cached.
"""

from __future__ import annotations

import bcrypt

from nacosfast.limits import BCRYPT_ROUNDS, MAX_PASSWORD_BYTES


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    """A new salted bcrypt hash (``$2b$...``). The password must fit bcrypt's 72 bytes."""
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password longer than {MAX_PASSWORD_BYTES} bytes")
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches the bcrypt ``hashed`` (``$2a$``/``$2b$``); ``False`` for anything
    that cannot match (too long, malformed hash)."""
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(raw, hashed.encode("ascii"))
    except ValueError:
        return False
