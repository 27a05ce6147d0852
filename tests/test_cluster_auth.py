"""Peer request signatures: valid, tampered, replayed, too old or too new, wrong secret, malformed."""

from __future__ import annotations

import pytest

from nacosfast.cluster.auth import (
    SIGNATURE_HEADER,
    TIME_HEADER,
    PeerAuthError,
    PeerVerifier,
    check_secret,
    signed_headers,
)
from nacosfast.limits import PEER_REPLAY_WINDOW_MS

SECRET = bytes(range(32))
PATH = "/nacos/v1/ns/peer/member/beat"
NOW = 1_700_000_000_000


def headers(
    *, secret: bytes = SECRET, wall_ms: int = NOW, nonce: str = "n1", body: bytes = b"payload"
) -> dict[bytes, bytes]:
    return dict(signed_headers(secret, "POST", PATH, wall_ms, nonce, "10.0.0.2:8848", body))


def verify(
    verifier: PeerVerifier, signed: dict[bytes, bytes], *, body: bytes = b"payload", now: int = NOW
) -> str:
    return verifier.verify("POST", PATH, signed, body, now)


def test_auth_accepts_a_valid_request_and_names_its_sender() -> None:
    assert verify(PeerVerifier(SECRET), headers()) == "10.0.0.2:8848"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("body", "signature is invalid"),
        ("path", "signature is invalid"),
        ("method", "signature is invalid"),
        ("time", "signature is invalid"),
        ("sender", "signature is invalid"),
        ("secret", "signature is invalid"),
        ("signature", "signature is invalid"),
    ],
)
def test_auth_refuses_anything_tampered(change: str, message: str) -> None:
    verifier = PeerVerifier(SECRET)
    signed = headers(secret=b"x" * 32 if change == "secret" else SECRET)
    body, path, method = b"payload", PATH, "POST"
    if change == "body":
        body = b"payloaD"
    elif change == "path":
        path = PATH + "x"
    elif change == "method":
        method = "PUT"
    elif change == "time":
        signed[TIME_HEADER] = str(NOW + 1).encode()
    elif change == "sender":
        signed[b"x-nacosfast-peer"] = b"10.0.0.3:8848"
    elif change == "signature":
        signed[SIGNATURE_HEADER] = signed[SIGNATURE_HEADER][:-1] + b"0"
    with pytest.raises(PeerAuthError, match=message) as caught:
        verifier.verify(method, path, signed, body, NOW)
    assert caught.value.status == 403


def test_auth_refuses_a_replayed_nonce_within_the_window() -> None:
    verifier = PeerVerifier(SECRET)
    signed = headers()
    verify(verifier, signed)
    with pytest.raises(PeerAuthError, match="replayed"):
        verify(verifier, signed, now=NOW + 10)
    verify(verifier, headers(nonce="n2"), now=NOW + 10)  # a new nonce is fine


def test_auth_refuses_old_and_future_timestamps() -> None:
    verifier = PeerVerifier(SECRET)
    with pytest.raises(PeerAuthError, match="off this node's clock"):
        verify(verifier, headers(wall_ms=NOW - PEER_REPLAY_WINDOW_MS - 1))
    with pytest.raises(PeerAuthError, match="off this node's clock"):
        verify(verifier, headers(wall_ms=NOW + PEER_REPLAY_WINDOW_MS + 1, nonce="n2"))
    verify(verifier, headers(wall_ms=NOW - PEER_REPLAY_WINDOW_MS, nonce="n3"))


def test_auth_forgets_nonces_after_the_window_and_bounds_them() -> None:
    verifier = PeerVerifier(SECRET, window_ms=1_000, max_nonces=2)
    verify(verifier, headers(nonce="a"))
    verify(verifier, headers(nonce="b"))
    with pytest.raises(PeerAuthError, match="too many") as caught:
        verify(verifier, headers(nonce="c"))
    assert caught.value.status == 503
    # Once the first two left the window, their nonces are forgotten (their timestamps are too old).
    verify(verifier, headers(nonce="c", wall_ms=NOW + 1_500), now=NOW + 1_500)
    with pytest.raises(PeerAuthError, match="off this node's clock"):
        verify(verifier, headers(nonce="a"), now=NOW + 1_500)


def test_auth_refuses_unsigned_and_malformed_headers() -> None:
    verifier = PeerVerifier(SECRET)
    with pytest.raises(PeerAuthError, match="not signed"):
        verify(verifier, {b"user-agent": b"Nacos-Server:1.4.8"})
    malformed = headers()
    malformed[TIME_HEADER] = b"-5"
    with pytest.raises(PeerAuthError, match="malformed"):
        verify(verifier, malformed)


def test_auth_secret_must_have_32_bytes() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        check_secret(b"x" * 31)
    with pytest.raises(ValueError, match="at least 32"):
        PeerVerifier(b"short")
    assert check_secret(b"x" * 32) == b"x" * 32
