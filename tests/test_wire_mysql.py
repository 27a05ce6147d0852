"""The health check's MySQL conversation against scripted server packets (the real server is
``test_server_checker_probes``): login, plugins, result sets, refusals and malformed input."""

from __future__ import annotations

import hashlib
import struct

import pytest

from nacosfast.wire.mysql import (
    READ_ONLY_QUERY,
    MysqlCheck,
    MysqlResult,
    scramble_caching_sha2,
    scramble_native,
)

SCRAMBLE = bytes(range(1, 21))
PROTOCOL_41 = 0x200
SECURE_CONNECTION = 0x8000
PLUGIN_AUTH = 0x80000
SERVER_CAPS = 0xF7FF | PLUGIN_AUTH | 0x200000


def xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def packet(seq: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes((seq,)) + payload


def greeting(caps: int = SERVER_CAPS, plugin: bytes = b"mysql_native_password") -> bytes:
    body = b"\x0a" + b"10.11.0-fake\0" + struct.pack("<I", 7) + SCRAMBLE[:8] + b"\0"
    body += struct.pack("<H", caps & 0xFFFF) + b"\x21" + b"\x02\x00" + struct.pack("<H", caps >> 16)
    body += bytes((21,)) + bytes(10) + SCRAMBLE[8:] + b"\0" + plugin + b"\0"
    return packet(0, body)


def parse_packets(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    while data:
        length = int.from_bytes(data[:3], "little")
        out.append((data[3], data[4 : 4 + length]))
        data = data[4 + length :]
    return out


def lenenc(text: bytes) -> bytes:
    return bytes((len(text),)) + text


def column(name: bytes) -> bytes:
    return lenenc(b"def") + lenenc(b"") * 3 + lenenc(name) + lenenc(name) + b"\x0c" + bytes(12)


EOF_PACKET = b"\xfe\x00\x00\x02\x00"
OK_PACKET = b"\x00\x00\x00\x02\x00\x00\x00"


def login(check: MysqlCheck) -> bytes:
    """Greet and accept the login; the COM_QUERY the client sends."""
    response = parse_packets(check.feed(greeting()))
    assert [seq for seq, _ in response] == [1]
    sent = parse_packets(check.feed(packet(2, OK_PACKET)))
    assert [seq for seq, _ in sent] == [0]
    return sent[0][1]


def result_set(rows: list[tuple[bytes, bytes]]) -> bytes:
    data = packet(1, b"\x02") + packet(2, column(b"Variable_name")) + packet(3, column(b"Value"))
    data += packet(4, EOF_PACKET)
    seq = 5
    for name, value in rows:
        data += packet(seq, lenenc(name) + lenenc(value))
        seq += 1
    return data + packet(seq, EOF_PACKET)


def test_login_sends_the_user_and_the_native_scramble() -> None:
    check = MysqlCheck("checker", "s3cret", READ_ONLY_QUERY)
    ((seq, body),) = parse_packets(check.feed(greeting()))
    assert seq == 1
    flags, max_packet, charset = struct.unpack("<IIB", body[:9])
    needed = PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH
    assert flags & needed == needed
    assert (max_packet, charset) == (0xFFFFFF, 45)
    assert body[9:32] == bytes(23)
    rest = body[32:]
    user, _, rest = rest.partition(b"\0")
    assert user == b"checker"
    auth = rest[1 : 1 + rest[0]]
    stage1 = hashlib.sha1(b"s3cret").digest()
    expected = xor(stage1, hashlib.sha1(SCRAMBLE + hashlib.sha1(stage1).digest()).digest())
    assert auth == expected == scramble_native(b"s3cret", SCRAMBLE)
    assert rest[1 + rest[0] :] == b"mysql_native_password\0"
    assert check.result is None


def test_writable_server_is_ok_and_the_client_quits() -> None:
    check = MysqlCheck("u", "p", READ_ONLY_QUERY)
    query = login(check)
    assert query == b"\x03" + READ_ONLY_QUERY.encode()
    reply = check.feed(result_set([(b"read_only", b"OFF")]))
    assert check.result is MysqlResult.OK
    assert parse_packets(reply) == [(0, b"\x01")]  # COM_QUIT


@pytest.mark.parametrize("name", [b"read_only", b"READ_ONLY"])
def test_read_only_server_is_a_replica(name: bytes) -> None:
    check = MysqlCheck("u", "p", "SHOW VARIABLES LIKE '%read_only%'")
    login(check)
    rows = [(b"innodb_read_only", b"OFF"), (name, b"ON"), (b"tx_read_only", b"OFF")]
    check.feed(result_set(rows))
    assert check.result is MysqlResult.READ_ONLY


def test_fed_one_byte_at_a_time() -> None:
    check = MysqlCheck("u", "p", "select 1")
    script = [greeting(), packet(2, OK_PACKET), result_set([(b"1", b"1")])]
    sent = b""
    for chunk in script:
        for offset in range(len(chunk)):
            sent += check.feed(chunk[offset : offset + 1])
    assert check.result is MysqlResult.OK
    assert [seq for seq, _ in parse_packets(sent)] == [1, 0, 0]


def test_statement_without_result_set_is_ok() -> None:
    check = MysqlCheck("u", "p", "do 1")
    login(check)
    check.feed(packet(1, OK_PACKET))
    assert check.result is MysqlResult.OK


def test_errors_are_server_errors() -> None:
    check = MysqlCheck("u", "wrong", "select 1")
    check.feed(greeting())
    check.feed(packet(2, b"\xff\x15\x04#28000Access denied for user 'u'"))
    assert (check.result, check.detail) == (MysqlResult.SERVER_ERROR, "1045 Access denied for user 'u'")
    refused = MysqlCheck("u", "p", "select 1")
    refused.feed(packet(0, b"\xff\x6a\x04Host '10.0.0.9' is not allowed to connect"))
    assert refused.result is MysqlResult.SERVER_ERROR
    assert refused.detail.startswith("1130 Host")


def test_auth_switch_to_caching_sha2_with_fast_auth() -> None:
    check = MysqlCheck("u", "pw", "select 1")
    check.feed(greeting())
    new_scramble = bytes(range(40, 60))
    switch = b"\xfecaching_sha2_password\0" + new_scramble + b"\0"
    ((seq, body),) = parse_packets(check.feed(packet(2, switch)))
    assert seq == 3
    stage1 = hashlib.sha256(b"pw").digest()
    digest = hashlib.sha256(hashlib.sha256(stage1).digest() + new_scramble).digest()
    assert body == xor(stage1, digest) == scramble_caching_sha2(b"pw", new_scramble)
    assert check.feed(packet(4, b"\x01\x03")) == b""
    assert parse_packets(check.feed(packet(5, OK_PACKET)))[0][1].startswith(b"\x03select 1")


def test_caching_sha2_full_authentication_is_refused_with_a_reason() -> None:
    check = MysqlCheck("u", "pw", "select 1")
    check.feed(greeting(plugin=b"caching_sha2_password"))
    assert check.feed(packet(2, b"\x01\x04")) == b""
    assert check.result is MysqlResult.PROTOCOL_ERROR
    assert "mysql_native_password" in check.detail


def test_a_cleartext_plugin_never_gets_the_password() -> None:
    check = MysqlCheck("u", "hunter2", "select 1")
    check.feed(greeting())
    sent = check.feed(packet(2, b"\xfemysql_clear_password\0"))
    assert sent == b""
    assert check.result is MysqlResult.PROTOCOL_ERROR


def test_local_infile_request_is_refused() -> None:
    check = MysqlCheck("u", "p", "load data local infile '/etc/passwd' into table t")
    login(check)
    assert check.feed(packet(1, b"\xfb/etc/passwd")) == b""
    assert check.result is MysqlResult.PROTOCOL_ERROR


@pytest.mark.parametrize(
    "data",
    [
        packet(0, b"\x09old protocol\0"),
        greeting(caps=SERVER_CAPS & ~PROTOCOL_41),
        packet(0, b"\x0a5.0\0\x01\x02"),  # truncated
        b"\xff\xff\xff\x00" + bytes(16),  # a 16 MiB packet
        (2 * 1024 * 1024).to_bytes(3, "little") + b"\x00",
        packet(0, b""),
    ],
)
def test_malformed_or_unsupported_greetings_fail(data: bytes) -> None:
    check = MysqlCheck("u", "p", "select 1")
    check.feed(data)
    assert check.result is MysqlResult.PROTOCOL_ERROR
    assert check.feed(b"more") == b""  # ended: nothing more happens


def test_unexpected_login_packet_is_a_protocol_error() -> None:
    check = MysqlCheck("u", "p", "select 1")
    check.feed(greeting())
    check.feed(packet(2, b"\x05whatever"))
    assert check.result is MysqlResult.PROTOCOL_ERROR


def test_empty_password_sends_an_empty_scramble() -> None:
    assert scramble_native(b"", SCRAMBLE) == b""
    assert scramble_caching_sha2(b"", SCRAMBLE) == b""
