"""Peer authentication: HMAC-SHA256 request signatures with a replay window (issue item 6).

Every peer request carries four headers: the sender's address, the wall-clock time in epoch ms, a
random nonce and the signature, the lowercase hex HMAC-SHA256 under the shared cluster secret of::

    METHOD \\n PATH \\n TIME \\n NONCE \\n SENDER \\n hex(SHA-256(BODY))

where BODY is the body exactly as sent (compressed). The receiver recomputes it and compares in
constant time, refuses a time more than ``PEER_REPLAY_WINDOW_MS`` away from its own clock and a nonce
it saw within that window. Nothing is trusted because of a ``User-Agent`` (Nacos CVE-2021-29441):
only a valid signature makes a request a peer's.

Sans-I/O: the shell supplies the wall clock and the nonces.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from nacosfast.errors import NacosError
from nacosfast.limits import MAX_PEER_NONCES, MIN_CLUSTER_SECRET_BYTES, PEER_REPLAY_WINDOW_MS

__all__ = [
    "NONCE_HEADER",
    "SENDER_HEADER",
    "SIGNATURE_HEADER",
    "TIME_HEADER",
    "PeerAuthError",
    "PeerVerifier",
    "check_secret",
    "signature",
    "signed_headers",
]

SENDER_HEADER: Final = b"x-nacosfast-peer"
TIME_HEADER: Final = b"x-nacosfast-time"
NONCE_HEADER: Final = b"x-nacosfast-nonce"
SIGNATURE_HEADER: Final = b"x-nacosfast-signature"
_MAX_NONCE_LENGTH: Final = 64
_SIGNATURE_LENGTH: Final = 64


class PeerAuthError(NacosError):
    """A peer request that is not signed correctly (403), or that cannot be checked now (503)."""

    status = 403


def check_secret(secret: bytes) -> bytes:
    """``secret`` if it is long enough for HMAC-SHA256; ``ValueError`` otherwise."""
    if len(secret) < MIN_CLUSTER_SECRET_BYTES:
        raise ValueError(
            f"the cluster secret has {len(secret)} bytes; at least {MIN_CLUSTER_SECRET_BYTES} are needed"
        )
    return secret


def signature(
    secret: bytes, method: str, path: str, wall_ms: int, nonce: str, sender: str, body: bytes
) -> str:
    """The hex HMAC-SHA256 of one request (see the module docstring for what is signed)."""
    digest = hashlib.sha256(body).hexdigest()
    message = f"{method}\n{path}\n{wall_ms}\n{nonce}\n{sender}\n{digest}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signed_headers(
    secret: bytes, method: str, path: str, wall_ms: int, nonce: str, sender: str, body: bytes
) -> list[tuple[bytes, bytes]]:
    """The four authentication headers of one peer request."""
    return [
        (SENDER_HEADER, sender.encode()),
        (TIME_HEADER, str(wall_ms).encode()),
        (NONCE_HEADER, nonce.encode()),
        (SIGNATURE_HEADER, signature(secret, method, path, wall_ms, nonce, sender, body).encode()),
    ]


class PeerVerifier:
    """Checks signed peer requests; remembers nonces for one replay window (at most ``max_nonces``)."""

    def __init__(
        self,
        secret: bytes,
        *,
        window_ms: int = PEER_REPLAY_WINDOW_MS,
        max_nonces: int = MAX_PEER_NONCES,
    ) -> None:
        self._secret = check_secret(secret)
        self.window_ms = window_ms
        self.max_nonces = max_nonces
        self._nonces: dict[str, int] = {}
        """nonce → wall ms after which its timestamp is outside the window; insertion (arrival) order."""

    def verify(self, method: str, path: str, headers: dict[bytes, bytes], body: bytes, wall_ms: int) -> str:
        """The sender's address if the request is a valid, fresh peer request; ``PeerAuthError`` if not."""
        sender_raw = headers.get(SENDER_HEADER)
        time_raw = headers.get(TIME_HEADER)
        nonce_raw = headers.get(NONCE_HEADER)
        given = headers.get(SIGNATURE_HEADER)
        if not sender_raw or not time_raw or not nonce_raw or not given:
            raise PeerAuthError("peer request is not signed")
        if not time_raw.isdigit() or len(time_raw) > 15 or len(nonce_raw) > _MAX_NONCE_LENGTH:
            raise PeerAuthError("peer request signature headers are malformed")
        if len(given) != _SIGNATURE_LENGTH:
            raise PeerAuthError("peer request signature is invalid")
        sent_ms = int(time_raw)
        sender = sender_raw.decode("latin-1")
        nonce = nonce_raw.decode("latin-1")
        expected = signature(self._secret, method, path, sent_ms, nonce, sender, body).encode()
        if not hmac.compare_digest(expected, given):
            raise PeerAuthError("peer request signature is invalid")
        if abs(wall_ms - sent_ms) > self.window_ms:
            raise PeerAuthError(
                f"peer request time is {wall_ms - sent_ms} ms off this node's clock "
                f"(at most {self.window_ms} ms are accepted)"
            )
        self._forget_expired(wall_ms)
        if nonce in self._nonces:
            raise PeerAuthError("peer request was replayed")
        if len(self._nonces) >= self.max_nonces:
            raise PeerAuthError("too many peer requests within the replay window", status=503)
        self._nonces[nonce] = sent_ms + self.window_ms
        return sender

    def _forget_expired(self, wall_ms: int) -> None:
        nonces = self._nonces
        while nonces:
            oldest = next(iter(nonces))
            if nonces[oldest] >= wall_ms:
                return
            del nonces[oldest]
