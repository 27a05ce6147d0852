"""HS256 tokens (``nacosfast.auth.jwt``) and resource matching (``nacosfast.auth.policy``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nacosfast.auth import jwt
from nacosfast.auth.passwords import check_password, hash_password
from nacosfast.auth.policy import NamingResource, Scope, glob_match, permits
from nacosfast.naming.params import Params

KEY = b"0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(header: dict[str, object], claims: dict[str, object], key: bytes = KEY) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_jwt_issue_verify_round_trip_in_nacos_shape() -> None:
    token = jwt.issue(KEY, "nacos", NOW + 60)
    header, payload, _ = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256"}
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == {"sub": "nacos", "exp": NOW + 60}
    assert jwt.verify(KEY, token, NOW) == ("nacos", NOW + 60, 0)
    assert jwt.verify(KEY, signed({"alg": "HS256", "typ": "JWT"}, {"sub": "a", "exp": NOW + 1}), NOW) == (
        "a",
        NOW + 1,
        0,
    )
    assert jwt.verify(KEY, jwt.issue(KEY, "b", NOW + 60, NOW - 5), NOW) == ("b", NOW + 60, NOW - 5)


@pytest.mark.parametrize(
    "token",
    [
        signed({"alg": "none"}, {"sub": "nacos", "exp": NOW + 60}),
        signed({"alg": "HS512"}, {"sub": "nacos", "exp": NOW + 60}),
        signed({"alg": "HS256", "crit": ["exp"]}, {"sub": "nacos", "exp": NOW + 60}),
        signed({"typ": "JWT"}, {"sub": "nacos", "exp": NOW + 60}),
        signed({"alg": "HS256"}, {"sub": "nacos", "exp": NOW + 60}, key=b"another key of 32 bytes........."),
        signed({"alg": "HS256"}, {"sub": "nacos"}),
        signed({"alg": "HS256"}, {"sub": "nacos", "exp": "9999999999"}),
        signed({"alg": "HS256"}, {"sub": "nacos", "exp": True}),
        signed({"alg": "HS256"}, {"sub": "nacos", "exp": NOW + 60, "iat": "0"}),
        signed({"alg": "HS256"}, {"sub": "", "exp": NOW + 60}),
        signed({"alg": "HS256"}, {"exp": NOW + 60}),
        b64(b'{"alg":"none"}') + "." + b64(b'{"sub":"nacos","exp":9999999999}') + ".",
        "a.b",
        "a.b.c.d",
        "",
        "é.b.c",
        b64(b"[" * 3000) + ".e30.",
        "x" * 5000,
    ],
)
def test_jwt_refuses(token: str) -> None:
    with pytest.raises(jwt.TokenError) as caught:
        jwt.verify(KEY, token, NOW)
    assert not caught.value.expired


def test_jwt_refuses_non_canonical_base64_and_stray_characters() -> None:
    token = jwt.issue(KEY, "nacos", NOW + 60)
    header, payload, signature = token.split(".")
    for bad in (f"{header}.{payload}.{signature}=", f"{header}.{payload}.{signature[:-1]}!{signature[-1]}"):
        with pytest.raises(jwt.TokenError):
            jwt.verify(KEY, bad, NOW)


def test_jwt_expiry_is_exact() -> None:
    token = jwt.issue(KEY, "nacos", NOW + 60)
    assert jwt.verify(KEY, token, NOW + 59.999)[0] == "nacos"
    with pytest.raises(jwt.TokenError) as caught:
        jwt.verify(KEY, token, NOW + 60)
    assert caught.value.expired


def test_passwords_hash_and_check() -> None:
    hashed = hash_password("correct horse", 4)
    assert hashed.startswith("$2b$04$")
    assert check_password("correct horse", hashed)
    assert not check_password("correct horsE", hashed)
    assert not check_password("x" * 73, hashed)
    assert not check_password("correct horse", "not a hash")
    with pytest.raises(ValueError, match="72 bytes"):
        hash_password("é" * 37, 4)


def _glob_reference(pattern: str, text: str) -> bool:
    return (
        re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), text, re.DOTALL) is not None
    )


@given(st.text("ab*.:", max_size=8), st.text("ab.:*", max_size=10))
def test_glob_match_against_regex_reference(pattern: str, text: str) -> None:
    assert glob_match(pattern, text) == _glob_reference(pattern, text)


def test_glob_match_is_fast_on_adversarial_patterns() -> None:
    assert not glob_match("*a" * 200 + "b", "a" * 500)


def test_naming_resource_follows_the_handlers_reading() -> None:
    def of(scope: Scope = Scope.SERVICE, **params: str) -> str:
        return str(NamingResource.of(Params(params), scope))

    assert of(serviceName="orders") == "public:DEFAULT_GROUP:naming/orders"
    assert of(serviceName="g1@@orders", groupName="g2", namespaceId="dev") == "dev:g1:naming/orders"
    assert of(serviceName="orders", groupName="g2") == "public:g2:naming/orders"
    assert of(dom="orders") == "public:DEFAULT_GROUP:naming/orders"
    assert of(Scope.LEGACY, dom="orders", groupName="g2") == "public:DEFAULT_GROUP:naming/orders"
    assert of(namespaceId="dev") == "dev:*:naming/*"
    assert of(Scope.NAMESPACE, serviceName="orders", namespaceId="dev") == "dev:*:naming/*"
    assert of(Scope.NAMES) == "*:*:naming/*"
    assert of(Scope.NAMES, namespaceId="dev") == "dev:*:naming/*"
    assert of(Scope.EVERYWHERE, namespaceId="dev") == "*:*:naming/*"


def test_permits_matches_parts_separately() -> None:
    orders = NamingResource("public", "DEFAULT_GROUP", "orders")
    assert permits("*", "r", orders, "r")
    assert permits(":*:*", "rw", orders, "w")
    assert permits("public:DEFAULT_GROUP:naming/ord*", "r", orders, "r")
    assert not permits("public:DEFAULT_GROUP:naming/ord*", "r", orders, "w")
    assert not permits(
        "public:DEFAULT_GROUP:naming/o.ders", "r", NamingResource("public", "DEFAULT_GROUP", "oXders"), "r"
    )
    assert not permits("ns1:*:*", "rw", NamingResource("ns1:x", "g", "s"), "r")
    assert not permits("public:g:*", "rw", NamingResource("public", "*", "*"), "r")
    assert permits("*:*:*", "r", NamingResource("*", "*", "*"), "r")
