"""The MySQL client protocol, sans-I/O, as far as a health check needs it: log in, run one command.

``MysqlCheck`` takes the bytes a MySQL or MariaDB server sends (:meth:`MysqlCheck.feed`) and returns
the bytes to send back, until :attr:`MysqlCheck.result` is set. The exchange (MySQL client/server
protocol 4.1, "classic" protocol):

1. The server greets (Initial Handshake v10): version, a 20-byte scramble, capabilities, auth plugin.
2. The client answers (HandshakeResponse41) with the user and the password scrambled for the plugin:
   ``mysql_native_password`` ``SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)))``, or
   ``caching_sha2_password`` ``SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble)``. The server may
   ask for another plugin (AuthSwitchRequest) with a new scramble; those two are answered, any other
   (cleartext, PAM, ed25519) ends the check: a password is never sent in clear. ``caching_sha2``'s
   full authentication (first login after a server restart) needs TLS or RSA, which this client does
   not speak: that check fails with a message saying so.
3. ``COM_QUERY`` with the check's command; the answer is an OK, an ERR, or a text result set (column
   count, column definitions, EOF, rows, EOF). A row ``read_only | ON`` (what Nacos's check command
   ``show global variables where variable_name='read_only'`` returns on a replica) means the server is
   read-only. A ``LOCAL INFILE`` request is refused: a check never sends a file.
4. ``COM_QUIT``.

Every packet is ``3-byte little-endian length, 1-byte sequence, payload``; packets larger than
``MYSQL_CHECK_MAX_PACKET_BYTES`` (or split over the 16 MiB packet limit) end the check as a failure.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from types import MappingProxyType
from typing import Final

from nacosfast.limits import MYSQL_CHECK_MAX_PACKET_BYTES, MYSQL_CHECK_MAX_ROWS

__all__ = ["READ_ONLY_QUERY", "MysqlCheck", "MysqlResult", "scramble_caching_sha2", "scramble_native"]

READ_ONLY_QUERY: Final = "show global variables where variable_name='read_only'"
"""Nacos's master check (``MysqlHealthCheckProcessor.CHECK_MYSQL_MASTER_SQL``); the default command."""

_NATIVE: Final = "mysql_native_password"
_CACHING_SHA2: Final = "caching_sha2_password"
_CLIENT_LONG_PASSWORD: Final = 0x1
_CLIENT_LONG_FLAG: Final = 0x4
_CLIENT_PROTOCOL_41: Final = 0x200
_CLIENT_TRANSACTIONS: Final = 0x2000
_CLIENT_SECURE_CONNECTION: Final = 0x8000
_CLIENT_PLUGIN_AUTH: Final = 0x80000
_CLIENT_FLAGS: Final = (
    _CLIENT_LONG_PASSWORD
    | _CLIENT_LONG_FLAG
    | _CLIENT_PROTOCOL_41
    | _CLIENT_TRANSACTIONS
    | _CLIENT_SECURE_CONNECTION
    | _CLIENT_PLUGIN_AUTH
)
_UTF8MB4: Final = 45
_MAX_PACKET_PAYLOAD: Final = 0xFFFFFF
_COM_QUIT: Final = b"\x01"
_COM_QUERY: Final = 0x03
_OK: Final = 0x00
_ERR: Final = 0xFF
_EOF: Final = 0xFE
_LOCAL_INFILE: Final = 0xFB
_NULL: Final = 0xFB
_AUTH_MORE_DATA: Final = 0x01
_FAST_AUTH_OK: Final = 3
_FULL_AUTH: Final = 4


class MysqlResult(enum.Enum):
    """How a check ended."""

    OK = "ok"
    """Logged in and the command answered, on a writable server."""
    READ_ONLY = "read-only"
    """The command's answer says ``read_only`` is ``ON``: a replica."""
    SERVER_ERROR = "server-error"
    """The server answered an error packet (access denied, unknown command, too many connections)."""
    PROTOCOL_ERROR = "protocol-error"
    """Not a MySQL server we can talk to: bad packets, missing capabilities, unsupported login."""


class _Stage(enum.Enum):
    GREETING = 1
    AUTH = 2
    QUERY = 3
    COLUMNS = 4
    ROWS = 5


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def scramble_native(password: bytes, scramble: bytes) -> bytes:
    """``mysql_native_password``'s answer to ``scramble`` (empty for an empty password)."""
    if not password:
        return b""
    stage1 = hashlib.sha1(password).digest()
    stage2 = hashlib.sha1(stage1).digest()
    return _xor(stage1, hashlib.sha1(scramble[:20] + stage2).digest())


def scramble_caching_sha2(password: bytes, scramble: bytes) -> bytes:
    """``caching_sha2_password``'s fast-auth answer to ``scramble`` (empty for an empty password)."""
    if not password:
        return b""
    stage1 = hashlib.sha256(password).digest()
    stage2 = hashlib.sha256(stage1).digest()
    return _xor(stage1, hashlib.sha256(stage2 + scramble[:20]).digest())


_SCRAMBLERS: Final = MappingProxyType({_NATIVE: scramble_native, _CACHING_SHA2: scramble_caching_sha2})


class _Malformed(Exception):
    """A packet that does not parse."""


class _Reader:
    """Reads the fields of one packet's payload."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if count < 0 or end > len(self.data):
            raise _Malformed("packet too short")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def integer(self, size: int) -> int:
        return int.from_bytes(self.take(size), "little")

    def nul_string(self) -> bytes:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise _Malformed("string without terminator")
        chunk = self.data[self.pos : end]
        self.pos = end + 1
        return chunk

    def lenenc_int(self) -> int:
        first = self.integer(1)
        if first < 0xFB:
            return first
        sizes = {0xFC: 2, 0xFD: 3, 0xFE: 8}
        if first not in sizes:
            raise _Malformed(f"bad length-encoded integer 0x{first:02x}")
        return self.integer(sizes[first])

    def lenenc_string(self) -> bytes | None:
        if self.pos < len(self.data) and self.data[self.pos] == _NULL:
            self.pos += 1
            return None
        return self.take(self.lenenc_int())

    @property
    def rest(self) -> bytes:
        return self.data[self.pos :]


def _error_text(payload: bytes) -> str:
    """``code message`` of an ERR packet (with or without the SQL state)."""
    reader = _Reader(payload)
    reader.take(1)
    code = reader.integer(2) if len(payload) >= 3 else 0
    rest = reader.rest
    if rest.startswith(b"#") and len(rest) >= 6:
        rest = rest[6:]
    return f"{code} {rest.decode('utf-8', 'replace')}"


class MysqlCheck:
    """One health check's conversation with a MySQL server (see the module docstring)."""

    def __init__(
        self, user: str, password: str, command: str, max_packet_bytes: int = MYSQL_CHECK_MAX_PACKET_BYTES
    ) -> None:
        self._user = user.encode("utf-8")
        self._password = password.encode("utf-8")
        self._command = command.encode("utf-8")
        self._max_packet = max_packet_bytes
        self._buffer = bytearray()
        self._stage = _Stage.GREETING
        self._seq = 0
        self._plugin = _NATIVE
        self._columns = 0
        self._rows = 0
        self._read_only = False
        self.result: MysqlResult | None = None
        """Set once the check has ended; nothing more is to be fed or sent then."""
        self.detail = ""
        """The server version after the greeting; the error or reason once the check has failed."""

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the server; return the bytes to send to it (may be empty)."""
        if self.result is not None:
            return b""
        self._buffer += data
        out: list[bytes] = []
        try:
            while self.result is None:
                payload = self._next_packet()
                if payload is None:
                    break
                out.append(self._handle(payload))
        except _Malformed as error:
            self._finish(MysqlResult.PROTOCOL_ERROR, f"malformed packet: {error}")
        return b"".join(out)

    def _next_packet(self) -> bytes | None:
        buffer = self._buffer
        if len(buffer) < 4:
            return None
        length = int.from_bytes(buffer[:3], "little")
        if length > self._max_packet or length == _MAX_PACKET_PAYLOAD:
            raise _Malformed(f"packet of {length} bytes is larger than {self._max_packet}")
        if len(buffer) < 4 + length:
            return None
        self._seq = (buffer[3] + 1) & 0xFF
        payload = bytes(buffer[4 : 4 + length])
        del buffer[: 4 + length]
        return payload

    def _packet(self, payload: bytes) -> bytes:
        header = len(payload).to_bytes(3, "little") + bytes((self._seq,))
        self._seq = (self._seq + 1) & 0xFF
        return header + payload

    def _finish(self, result: MysqlResult, detail: str) -> bytes:
        self.result = result
        self.detail = detail
        if result in (MysqlResult.OK, MysqlResult.READ_ONLY):
            self._seq = 0
            return self._packet(_COM_QUIT)
        return b""

    def _handle(self, payload: bytes) -> bytes:
        if not payload:
            raise _Malformed("empty packet")
        head = payload[0]
        if head == _ERR:
            return self._finish(MysqlResult.SERVER_ERROR, _error_text(payload))
        if self._stage is _Stage.GREETING:
            return self._greeting(payload)
        if self._stage is _Stage.AUTH:
            return self._auth(payload)
        if self._stage is _Stage.QUERY:
            return self._query_answer(payload)
        if self._stage is _Stage.COLUMNS:
            self._columns -= 1
            if self._columns < 0:  # the EOF after the column definitions
                if head != _EOF or len(payload) >= 9:
                    raise _Malformed("expected EOF after the column definitions")
                self._stage = _Stage.ROWS
            return b""
        return self._row(payload)

    def _greeting(self, payload: bytes) -> bytes:
        reader = _Reader(payload)
        version = reader.integer(1)
        if version != 10:
            return self._finish(MysqlResult.PROTOCOL_ERROR, f"unsupported handshake version {version}")
        server = reader.nul_string().decode("utf-8", "replace")
        reader.take(4)  # connection id
        scramble = reader.take(8)
        reader.take(1)
        capabilities = reader.integer(2)
        auth_length = 0
        plugin = _NATIVE
        if reader.rest:
            reader.take(3)  # character set, status flags
            capabilities |= reader.integer(2) << 16
            auth_length = reader.integer(1)
            reader.take(10)
            if capabilities & _CLIENT_SECURE_CONNECTION:
                scramble += reader.take(max(13, auth_length - 8)).rstrip(b"\0")
            if capabilities & _CLIENT_PLUGIN_AUTH:
                name = reader.nul_string() if b"\0" in reader.rest else reader.rest
                plugin = name.decode("ascii", "replace")
        needed = _CLIENT_PROTOCOL_41 | _CLIENT_SECURE_CONNECTION
        if capabilities & needed != needed:
            return self._finish(MysqlResult.PROTOCOL_ERROR, f"server {server} lacks protocol 4.1")
        self.detail = server
        self._plugin = plugin if plugin in _SCRAMBLERS else _NATIVE
        auth = _SCRAMBLERS[self._plugin](self._password, scramble)
        flags = _CLIENT_FLAGS & (capabilities | ~_CLIENT_PLUGIN_AUTH)
        body = struct.pack("<IIB23x", flags, _MAX_PACKET_PAYLOAD, _UTF8MB4)
        body += self._user + b"\0" + bytes((len(auth),)) + auth
        if flags & _CLIENT_PLUGIN_AUTH:
            body += self._plugin.encode("ascii") + b"\0"
        self._stage = _Stage.AUTH
        return self._packet(body)

    def _auth(self, payload: bytes) -> bytes:
        head = payload[0]
        if head == _OK:
            self._stage = _Stage.QUERY
            self._seq = 0
            return self._packet(bytes((_COM_QUERY,)) + self._command)
        if head == _EOF:  # AuthSwitchRequest: another plugin, a new scramble
            reader = _Reader(payload[1:])
            plugin = reader.nul_string().decode("ascii", "replace")
            if plugin not in _SCRAMBLERS:
                return self._finish(MysqlResult.PROTOCOL_ERROR, f"unsupported auth plugin {plugin}")
            self._plugin = plugin
            return self._packet(_SCRAMBLERS[plugin](self._password, reader.rest.rstrip(b"\0")))
        if head == _AUTH_MORE_DATA and self._plugin == _CACHING_SHA2 and len(payload) == 2:
            if payload[1] == _FAST_AUTH_OK:
                return b""  # the OK follows
            if payload[1] == _FULL_AUTH:
                return self._finish(
                    MysqlResult.PROTOCOL_ERROR,
                    "caching_sha2_password needs full authentication (TLS or RSA), which the check "
                    "does not do: use mysql_native_password for the check user",
                )
        raise _Malformed(f"unexpected packet 0x{head:02x} during login")

    def _query_answer(self, payload: bytes) -> bytes:
        head = payload[0]
        if head == _OK:
            return self._finish(MysqlResult.OK, "ok")
        if head == _LOCAL_INFILE:
            return self._finish(MysqlResult.PROTOCOL_ERROR, "the command asked for a local file")
        reader = _Reader(payload)
        self._columns = reader.lenenc_int()
        if self._columns <= 0:
            raise _Malformed("result set without columns")
        self._stage = _Stage.COLUMNS
        return b""

    def _row(self, payload: bytes) -> bytes:
        if payload[0] == _EOF and len(payload) < 9:
            if self._read_only:
                return self._finish(MysqlResult.READ_ONLY, "read_only is ON: the server is a replica")
            return self._finish(MysqlResult.OK, "ok")
        self._rows += 1
        if self._rows > MYSQL_CHECK_MAX_ROWS:
            return self._finish(MysqlResult.PROTOCOL_ERROR, f"more than {MYSQL_CHECK_MAX_ROWS} rows")
        reader = _Reader(payload)
        first = reader.lenenc_string()
        if first is not None and first.lower() == b"read_only" and reader.rest:
            value = reader.lenenc_string()
            if value is not None and value.upper() == b"ON":
                self._read_only = True
        return b""
