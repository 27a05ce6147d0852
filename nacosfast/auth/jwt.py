"""HS256 JSON Web Tokens (RFC 7519) as Nacos issues them: ``{"alg":"HS256"}``, ``{"sub":..,"exp":..}``
(plus ``iat``, which clients ignore and the gate uses to refuse tokens older than a password change).

Only what Nacos needs, and nothing an attacker could steer: the header must say exactly ``HS256``
(``none``, ``HS512``, ``RS256``... are refused before any other work), the signature is compared in
constant time (``hmac.compare_digest``) before the payload is parsed, base64url must be canonical
(no padding, no stray characters: ``binascii`` would silently skip them), and ``exp`` must be an
integer. Hand-written on ``hmac``/``hashlib`` rather than PyJWT: the whole format is three base64
strings and one HMAC, and a 60-line module that accepts exactly one algorithm leaves no key-confusion
or ``alg: none`` path to configure away.

``exp`` is epoch seconds, so verification takes wall time (``now_s``): tokens must stay valid across
restarts and between nodes, which a monotonic clock cannot give.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Final, NamedTuple

from nacosfast.limits import MAX_TOKEN_BYTES

ALGORITHM: Final = "HS256"
_HEADER: Final = base64.urlsafe_b64encode(b'{"alg":"HS256"}').rstrip(b"=")
_BASE64URL: Final = re.compile(rb"[A-Za-z0-9_-]*")


class Claims(NamedTuple):
    """What a valid token says: who, until when, since when (epoch seconds; ``iat`` 0 if absent)."""

    subject: str
    expires_at_s: int
    issued_at_s: int


class TokenError(Exception):
    """A token that is not accepted; ``expired`` tells Nacos's two answers apart."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


def _encode(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def _decode(part: bytes) -> bytes:
    if len(part) % 4 == 1 or not _BASE64URL.fullmatch(part):
        raise TokenError("not base64url")
    raw = base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))
    if _encode(raw) != part:  # non-canonical trailing bits: one token, one spelling
        raise TokenError("not canonical base64url")
    return raw


def _sign(secret: bytes, signing_input: bytes) -> bytes:
    return hmac.new(secret, signing_input, hashlib.sha256).digest()


def issue(secret: bytes, subject: str, expires_at_s: int, issued_at_s: int = 0) -> str:
    """A token for ``subject`` that expires at ``expires_at_s`` (epoch seconds)."""
    claims: dict[str, str | int] = {"sub": subject, "exp": expires_at_s}
    if issued_at_s:
        claims["iat"] = issued_at_s
    payload = _encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = _HEADER + b"." + payload
    return (signing_input + b"." + _encode(_sign(secret, signing_input))).decode("ascii")


def verify(secret: bytes, token: str, now_s: float) -> Claims:
    """The token's claims; raises ``TokenError`` unless it is a valid, unexpired HS256 token."""
    if len(token) > MAX_TOKEN_BYTES or not token.isascii():
        raise TokenError("malformed")
    parts = token.encode("ascii").split(b".")
    if len(parts) != 3:
        raise TokenError("malformed")
    header_part, payload_part, signature_part = parts
    try:
        header = json.loads(_decode(header_part))
    except (ValueError, RecursionError) as error:  # before the signature: anyone's input
        raise TokenError("malformed header") from error
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM or "crit" in header:
        raise TokenError("algorithm not accepted")
    expected = _sign(secret, header_part + b"." + payload_part)
    if not hmac.compare_digest(expected, _decode(signature_part)):
        raise TokenError("bad signature")
    try:
        claims = json.loads(_decode(payload_part))
    except (ValueError, RecursionError) as error:
        raise TokenError("malformed payload") from error
    if not isinstance(claims, dict):
        raise TokenError("malformed payload")
    subject, expires = claims.get("sub"), claims.get("exp")
    if not isinstance(subject, str) or not subject:
        raise TokenError("no subject")
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise TokenError("no expiry")
    issued = claims.get("iat", 0)
    if not isinstance(issued, int) or isinstance(issued, bool):
        raise TokenError("malformed issue time")
    if now_s >= expires:
        raise TokenError("expired", expired=True)
    return Claims(subject, expires, issued)
