"""Forwarding payloads: fields, requests, answers and beats round-trip; malformed ones are ValueError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nacosfast.cluster.codec import (
    ZstdCodec,
    decode_beats,
    decode_requests,
    decode_responses,
    encode_beats,
    encode_requests,
    encode_responses,
    pack_fields,
    unpack_fields,
)
from nacosfast.wire.message import FORM_CONTENT_TYPE, Request, Response


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_codec_fields_round_trip(fields: list[bytes]) -> None:
    assert unpack_fields(pack_fields(fields)) == fields


@given(st.binary(max_size=64))
def test_codec_garbage_is_a_value_error_or_fields(data: bytes) -> None:
    try:
        fields = unpack_fields(data)
    except ValueError:
        return
    assert pack_fields(fields) == data


def test_codec_truncated_and_trailing_payloads_are_refused() -> None:
    payload = pack_fields([b"abc", b"de"])
    for bad in (payload[:-1], payload + b"x", b"\xff\xff\xff\xff", b""):
        with pytest.raises(ValueError, match="peer payload"):
            unpack_fields(bad)
    with pytest.raises(ValueError, match="whole records"):
        decode_beats(pack_fields([b"a", b"b"]))


def test_codec_requests_answers_and_beats_round_trip() -> None:
    request = Request(
        method="POST",
        path="/nacos/v1/ns/instance",
        query=b"serviceName=s&ip=1.1.1.1&port=1",
        headers={b"content-type": FORM_CONTENT_TYPE, b"user-agent": b"Nacos-Java-Client:v1.4.8", b"x": b"y"},
        body=b"weight=2",
        remote=("10.0.0.9", 5000),
    )
    (decoded,) = decode_requests(encode_requests([request]))
    assert (decoded.method, decoded.path, decoded.query, decoded.body, decoded.remote) == (
        request.method,
        request.path,
        request.query,
        request.body,
        request.remote,
    )
    assert decoded.headers == {b"content-type": FORM_CONTENT_TYPE, b"user-agent": b"Nacos-Java-Client:v1.4.8"}
    assert decoded.params == request.params
    answers = [Response(), Response(status=400, body=b"caused: x;")]
    assert [(r.status, r.body, r.content_type) for r in decode_responses(encode_responses(answers))] == [
        (r.status, r.body, r.content_type) for r in answers
    ]
    beats = [("public", "DEFAULT_GROUP@@s", "1.1.1.1:1:unknown:DEFAULT"), ("ns-é", "g@@t", "k")]
    assert decode_beats(encode_beats(beats)) == beats
    with pytest.raises(ValueError, match="status"):
        decode_responses(pack_fields([b"999", b"", b""]))


def test_codec_zstd_round_trips_and_refuses_bombs_and_garbage() -> None:
    codec = ZstdCodec(max_bytes=1_000)
    assert codec.decompress(codec.compress(b"x" * 1_000)) == b"x" * 1_000
    assert codec.decompress(codec.compress(b"")) == b""
    with pytest.raises(ValueError, match="decompresses to 1001 bytes"):
        codec.decompress(codec.compress(b"x" * 1_001))
    for garbage in (b"", b"not zstd", codec.compress(b"abc")[:-3]):
        with pytest.raises(ValueError, match="zstd"):
            codec.decompress(garbage)
