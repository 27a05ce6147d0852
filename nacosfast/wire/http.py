"""Sans-I/O HTTP/1.1 server connection: bytes in → ``Request`` values; ``Response`` values → bytes.

Parsing is llhttp (through ``httptools``) in its strict mode: anything it rejects — a bad request line,
an invalid method, bad chunking, ``Content-Length`` together with ``Transfer-Encoding``, bare LF line
ends — is answered 400 and the connection is closed. Keep-alive, pipelining, ``Content-Length`` and
chunked bodies are handled here, together with the size limits (431, 413) and the per-connection
timeouts, which the caller drives by passing ``now_ms`` (this module never reads a clock).

For the server's memory budget (``nacosfast.wire.budget``) a connection reports, after every ``feed``,
how many bytes its unfinished request holds (``buffered``) and how many it may come to hold (``need``).
A request's pieces are kept in one buffer each (URL, body), so many tiny pieces cost no more than
their bytes, and nothing of a request stays referenced once it is complete or refused.

The module holds no state: the limits are an immutable ``HttpLimits`` and the ``Date`` line comes from
an ``HttpDate`` that the server owns and refreshes, shared by its connections.

Use::

    conn = HttpConnection(remote, limits, now_ms=now_ms, date=server_date)
    for request in conn.feed(data, now_ms):
        send(conn.respond(request, handler(request)))
        if conn.closing: break           # a response said ``Connection: close``
    if conn.error is not None and not conn.closing:
        send(conn.respond_error())        # 400 / 413 / 431, then close
    send(conn.take_interim())             # ``100 Continue`` for a request still receiving its body
"""

from __future__ import annotations

import re
from email.utils import formatdate
from typing import Final
from urllib.parse import unquote_to_bytes

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from nacosfast.limits import PARSER_FEED_SLICE_BYTES
from nacosfast.wire.http_limits import DEFAULT_HTTP_LIMITS, HttpLimits, max_request_bytes
from nacosfast.wire.message import REASON_PHRASES, TEXT_PLAIN, Request, Response

__all__ = ["HttpConnection", "HttpDate", "HttpLimits", "encode_response", "max_request_bytes"]

_STATUS_LINES: Final = {
    status: f"HTTP/1.1 {status} {reason}\r\n".encode("ascii") for status, reason in REASON_PHRASES.items()
}
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_KNOWN_METHODS: Final = {
    m.encode(): m for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE")
}
_OWS: Final = b" \t"
_NO_HEADERS: Final[dict[bytes, bytes]] = {}
"""Held between requests instead of the last request's headers (never written to)."""
_NO_REQUESTS: Final[list[Request]] = []
"""Held between feeds instead of the last feed's requests (parser callbacks only run inside ``feed``)."""


class HttpDate:
    """The ``Date`` header line of one server's responses, owned by that server's shell.

    The shell calls ``refresh(wall_ms)`` about once a second (it re-formats only when the second
    changed); every connection of the server holds the same ``HttpDate`` and reads ``line``. Until
    the first refresh, responses carry no ``Date``.
    """

    __slots__ = ("_second", "line")

    def __init__(self) -> None:
        self.line = b""
        """``Date: <IMF-fixdate>\\r\\n``, or b"" before the first refresh."""
        self._second = -1

    def refresh(self, wall_ms: int) -> None:
        """Show the wall time ``wall_ms`` (milliseconds since the epoch), to the second."""
        second = wall_ms // 1000
        if second != self._second:
            self._second = second
            self.line = b"Date: " + formatdate(second, usegmt=True).encode("ascii") + b"\r\n"


def encode_response(
    response: Response,
    keep_alive: bool,
    *,
    keep_alive_header: bool = False,
    head: bool = False,
    date_line: bytes = b"",
) -> bytes:
    """Serialize one response: status line, ``Date``, ``Content-Type``, ``Content-Length``, extra
    headers, body.

    ``keep_alive`` False adds ``Connection: close``; ``keep_alive_header`` adds ``Connection:
    keep-alive`` (for HTTP/1.0 clients that asked for it). ``head`` leaves the body out.
    ``date_line`` is ``HttpDate.line`` (empty: no ``Date``).
    """
    status = response.status
    status_line = _STATUS_LINES.get(status)
    if status_line is None:
        status_line = f"HTTP/1.1 {status} {REASON_PHRASES.get(status, 'Unknown')}\r\n".encode("ascii")
    body = response.body
    if keep_alive:
        connection = b"Connection: keep-alive\r\n" if keep_alive_header else b""
    else:
        connection = b"Connection: close\r\n"
    extra = b"".join([b"%s: %s\r\n" % pair for pair in response.headers]) if response.headers else b""
    if status < 200 or status in (204, 304):
        return b"%s%s%s%s\r\n" % (status_line, date_line, connection, extra)
    return b"%s%sContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n%s" % (
        status_line,
        date_line,
        response.content_type,
        len(body),
        connection,
        extra,
        b"" if head else body,
    )


def _error(status: int, message: str) -> Response:
    return Response(status=status, body=f"caused: {message};".encode(), content_type=TEXT_PLAIN, close=True)


class _Rejected(Exception):
    """Raised inside a parser callback to stop parsing; ``HttpConnection.error`` holds the answer."""


class HttpConnection:
    """One HTTP/1.1 server connection, without I/O. Not thread-safe; one per socket.

    Attributes the shell reads: ``error`` (a response to send before closing, or None), ``closing``
    (a response said ``Connection: close``: send what is pending, then close), ``discarded_input``
    (input was left unparsed: drain it briefly before closing so the client gets the answer rather
    than a reset), ``deadline_ms`` (close the connection if nothing changes before then; send
    ``timeout_response()`` first).

    After every ``feed``: ``buffered`` is an upper bound of the bytes the unfinished request holds (0
    when there is none), and it grew by at most the bytes fed; ``need`` is the most it can reach
    before the request completes (-1 while the head is still arriving: up to ``max_need``), and
    ``remaining`` the bytes still to come of a body with a declared length (else -1).
    """

    __slots__ = (
        "_began",
        "_body",
        "_body_bytes",
        "_content_length",
        "_date",
        "_expect_continue",
        "_head_bytes",
        "_head_fed",
        "_headers",
        "_headers_done",
        "_in_message",
        "_interim",
        "_keep_alive",
        "_now_ms",
        "_parser",
        "_ready",
        "_since_ms",
        "_stop",
        "_url",
        "buffered",
        "closing",
        "discarded_input",
        "error",
        "limits",
        "max_need",
        "need",
        "remaining",
        "remote",
    )

    def __init__(
        self,
        remote: tuple[str, int] = ("127.0.0.1", 0),
        limits: HttpLimits = DEFAULT_HTTP_LIMITS,
        *,
        now_ms: int = 0,
        date: HttpDate | None = None,
    ) -> None:
        self.remote = remote
        self.limits = limits
        """The sizes and timeouts this connection enforces (shared, immutable)."""
        self.max_need = limits.max_need
        self._date = date or HttpDate()
        self._parser = HttpRequestParser(self)
        self._ready = _NO_REQUESTS
        self._now_ms = now_ms
        self._since_ms = now_ms
        self._in_message = False
        self._headers_done = False
        self._url: bytes | bytearray = b""
        self._headers = _NO_HEADERS
        self._head_bytes = 0
        self._head_fed = 0
        self._body: bytes | bytearray = b""
        self._body_bytes = 0
        self._content_length = -1
        self._began = False
        self.buffered = 0
        self.need = 0
        self.remaining = -1
        self._keep_alive = True
        self._expect_continue = False
        self._interim = b""
        self._stop = False
        self.error: Response | None = None
        self.closing = False
        self.discarded_input = False

    # --- the caller's API -------------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray, now_ms: int = 0) -> list[Request]:
        """Parse ``data`` and return every request it completes, in order.

        After a malformed or oversized request, ``error`` is set and nothing more is parsed; the
        requests completed before it are still returned (answer them, then the error).
        """
        if self.error is not None or self._stop:
            if data:
                self.discarded_input = True
            return []
        self._now_ms = now_ms
        fed = len(data)
        if not self._in_message and not data.isascii():
            data = _escape_request_line(data)
        ready: list[Request] = []
        self._ready = ready
        self._began = False
        try:
            if len(data) <= PARSER_FEED_SLICE_BYTES:
                self._parser.feed_data(data)
                if self._in_message and not self._headers_done:
                    self._check_head_fed(len(data))
            else:
                self._feed_slices(data)
        except HttpParserUpgrade as upgrade:
            self._upgraded()
            if upgrade.args and upgrade.args[0] < len(data):
                self.discarded_input = True
        except HttpParserError as error:
            self.discarded_input = True
            if self.error is None and not self._stop:
                # llhttp's reasons are short fixed texts (e.g. "Invalid method encountered").
                self._fail(400, f"malformed HTTP request: {error}")
        self._ready = _NO_REQUESTS  # the caller owns them: answered, they are freed
        if self._in_message:
            self._account(fed)
        elif self.buffered:
            self.buffered = self.need = 0
            self.remaining = -1
        return ready

    def respond(self, request: Request, response: Response) -> bytes:
        """Encode the answer to ``request``; sets ``closing`` when the connection must close after it."""
        keep_alive = request.keep_alive and not response.close
        if not keep_alive:
            self.closing = True
        return encode_response(
            response,
            keep_alive,
            keep_alive_header=keep_alive and request.headers.get(b"connection") is not None,
            head=request.method == "HEAD",
            date_line=self._date.line,
        )

    def respond_error(self) -> bytes:
        """Encode ``error`` (with ``Connection: close``) and mark the connection closing."""
        self.closing = True
        assert self.error is not None
        return encode_response(self.error, keep_alive=False, date_line=self._date.line)

    def end_of_batch(self, answered_all: bool) -> list[bytes]:
        """What follows the answers to one batch of requests: the error answer when every request
        before it was answered (``answered_all``), then any ``100 Continue`` still owed."""
        tail: list[bytes] = []
        if answered_all and self.error is not None:
            tail.append(self.respond_error())
        if not self.closing:
            interim = self.take_interim()
            if interim:
                tail.append(interim)
        return tail

    def take_interim(self) -> bytes:
        """``100 Continue`` owed to a request that is still sending its body, at most once; else b""."""
        interim = self._interim
        if interim:
            self._interim = b""
            if not self._in_message or self.error is not None or self._stop:
                return b""
        return interim

    @property
    def between_requests(self) -> bool:
        """Whether the next byte fed starts a new request (nothing held, nothing refused or closing):
        a caller may then answer leading requests itself and feed only the rest."""
        return not (self._in_message or self._stop or self.closing) and self.error is None

    @property
    def in_request(self) -> bool:
        """Whether part of a request has arrived and the rest has not."""
        return self._in_message

    @property
    def deadline_ms(self) -> int:
        """When to give up on this connection: the head or request deadline, else the idle deadline."""
        if self._in_message:
            timeout = self.limits.request_timeout_ms if self._headers_done else self.limits.head_timeout_ms
            return self._since_ms + timeout
        return self._since_ms + self.limits.idle_timeout_ms

    @property
    def quiet_since_ms(self) -> int:
        """Since when the connection holds nothing worth keeping (idle, or only part of a head); -1
        when a request's head is complete (its body or answer is under way). Shedding goes by it."""
        if self._in_message and self._headers_done:
            return -1
        return self._since_ms

    def timeout_response(self) -> Response | None:
        """What to send when ``deadline_ms`` passes: 408 for a partial request, nothing when idle."""
        if self._in_message:
            return _error(408, "request not received in time")
        return None

    def respond_timeout(self) -> bytes:
        """``timeout_response()`` encoded (with ``Connection: close``), or b"" when idle."""
        response = self.timeout_response()
        if response is None:
            return b""
        return encode_response(response, keep_alive=False, date_line=self._date.line)

    def mark_idle(self, now_ms: int) -> None:
        """Restart the idle clock (the shell calls this after it has sent its answers)."""
        if not self._in_message:
            self._since_ms = now_ms

    # --- feeding --------------------------------------------------------------------------------------

    def _account(self, fed: int) -> None:
        """Set ``buffered``, ``need`` and ``remaining``: ``fed`` bytes of input left a partial request."""
        if self._headers_done:
            head = self._head_bytes
            held = head + self._body_bytes
            length = self._content_length
            if length >= 0:
                self.need = head + length
                self.remaining = length - self._body_bytes
            else:  # chunked: up to the body limit
                self.need = head + self.limits.max_body_bytes
                self.remaining = -1
        else:
            held = self._head_fed  # everything fed since the slice the request began in
            self.need = self.remaining = -1
        # Never more than the bytes fed can account for (the budget relies on it): a request that began
        # in this feed holds at most ``fed`` bytes (its request line may have grown when non-ASCII
        # octets were escaped, by at most twice their number: a head-limited slip, not counted).
        limit = fed if self._began else self.buffered + fed
        self.buffered = held if held < limit else limit

    def _feed_slices(self, data: bytes | bytearray) -> None:
        # Feeding in slices bounds how far an incomplete head can grow before _check_head_fed sees it:
        # llhttp hands httptools partial header values that it accumulates until the line ends.
        view = memoryview(data)
        feed = self._parser.feed_data
        for start in range(0, len(data), PARSER_FEED_SLICE_BYTES):
            if self.error is not None or self._stop:
                return
            piece = view[start : start + PARSER_FEED_SLICE_BYTES]
            feed(piece)
            if self._in_message and not self._headers_done:
                self._check_head_fed(len(piece))

    def _check_head_fed(self, length: int) -> None:
        # An upper bound of the unfinished head: everything fed since the slice it began in.
        self._head_fed += length
        if self._head_fed > self.limits.max_header_bytes + PARSER_FEED_SLICE_BYTES:
            self._fail(431, f"request header fields too large (limit {self.limits.max_header_bytes} bytes)")

    def _fail(self, status: int, message: str) -> None:
        self.discarded_input = True
        self.error = _error(status, message)
        self._in_message = False
        self._stop = True
        self._url = self._body = b""  # nothing of a refused request is kept (the answer may linger)
        self._headers = _NO_HEADERS

    def _upgraded(self) -> None:
        # llhttp stops at an Upgrade (or CONNECT) request after delivering it without a body. We do not
        # switch protocols: the request is answered as plain HTTP/1.1 and the connection then closes.
        ready = self._ready
        if ready:
            ready[-1].keep_alive = False
        self._stop = True

    # --- llhttp callbacks (httptools calls these by name) ---------------------------------------------

    def on_message_begin(self) -> None:
        """Parser callback: a request line starts."""
        self._in_message = True
        self._began = True
        self._headers_done = False
        self._since_ms = self._now_ms
        self._url = b""
        self._headers = {}
        self._head_bytes = 0
        self._head_fed = 0
        self._body = b""
        self._body_bytes = 0
        self._expect_continue = False

    def on_url(self, url: bytes) -> None:
        """Parser callback: (part of) the request target."""
        self._head_bytes += len(url)
        if self._head_bytes > self.limits.max_header_bytes:  # without headers, on_header never checks
            self._fail(431, f"request header fields too large (limit {self.limits.max_header_bytes} bytes)")
            raise _Rejected
        current = self._url
        if not current:
            self._url = url
        elif isinstance(current, bytearray):
            current += url
        else:  # a target arriving in pieces: one growing buffer, not a list of tiny objects
            self._url = bytearray(current) + url

    def on_header(self, name: bytes, value: bytes) -> None:
        """Parser callback: one complete header field; the first of repeated names wins."""
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > self.limits.max_header_bytes:
            self._fail(431, f"request header fields too large (limit {self.limits.max_header_bytes} bytes)")
            raise _Rejected
        name = name.lower()
        headers = self._headers
        if name not in headers:
            if len(headers) >= self.limits.max_header_fields:
                self._fail(431, f"too many header fields (limit {self.limits.max_header_fields})")
                raise _Rejected
            headers[name] = value.rstrip(_OWS)

    def on_headers_complete(self) -> None:
        """Parser callback: the head is complete; check the declared body size."""
        self._headers_done = True
        parser = self._parser
        headers = self._headers
        self._keep_alive = parser.should_keep_alive()
        length = headers.get(b"content-length")
        if length is not None:
            self._content_length = declared = int(length)  # llhttp validated the digits
            if declared > self.limits.max_body_bytes:
                self._fail(413, f"request body too large (limit {self.limits.max_body_bytes} bytes)")
                raise _Rejected
        else:
            self._content_length = -1
        expect = headers.get(b"expect")
        if expect is not None and expect.lower() == b"100-continue":
            self._expect_continue = True
            self._interim = _CONTINUE
        if (
            b"upgrade" in headers
            and (b"content-length" in headers or b"transfer-encoding" in headers)
            and parser.should_upgrade()
        ):
            # llhttp would skip the body of an Upgrade request; refuse rather than answer without it.
            self._fail(400, "a request with a body cannot ask for a protocol upgrade")
            raise _Rejected

    def on_body(self, body: bytes) -> None:
        """Parser callback: a piece of the (de-chunked) body."""
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            self._fail(413, f"request body too large (limit {self.limits.max_body_bytes} bytes)")
            raise _Rejected
        current = self._body
        if not current:
            self._body = body
        elif isinstance(current, bytearray):
            current += body
        else:  # tiny chunks must not cost an object each: one growing buffer
            self._body = bytearray(current) + body

    def on_message_complete(self) -> None:
        """Parser callback: the request is complete; build the ``Request``."""
        url_buffer = self._url
        url = url_buffer if isinstance(url_buffer, bytes) else bytes(url_buffer)
        path_bytes, _, query = url.partition(b"?")
        if not path_bytes.startswith(b"/"):
            path_bytes = _origin_path(path_bytes)
        if b"#" in query:
            query = query.partition(b"#")[0]
        elif b"#" in path_bytes:
            path_bytes = path_bytes.partition(b"#")[0]
        try:
            path = (unquote_to_bytes(path_bytes) if b"%" in path_bytes else path_bytes).decode("utf-8")
        except UnicodeDecodeError:
            self._fail(400, "the request path is not valid UTF-8")
            raise _Rejected from None
        method_bytes = self._parser.get_method()
        method = _KNOWN_METHODS.get(method_bytes) or method_bytes.decode("ascii")
        body_buffer = self._body
        body = body_buffer if isinstance(body_buffer, bytes) else bytes(body_buffer)
        self._ready.append(Request(method, path, query, self._headers, body, self.remote, self._keep_alive))
        self._url = self._body = b""  # the request owns them now; an idle connection keeps nothing
        self._headers = _NO_HEADERS
        self._in_message = False
        self._since_ms = self._now_ms
        if not self._keep_alive:
            self._stop = True  # llhttp refuses data after a request that closes the connection


_NON_ASCII: Final = re.compile(rb"[\x80-\xff]")


def _escape_request_line(data: bytes | bytearray) -> bytes:
    """Percent-escape raw non-ASCII octets in the request line that starts ``data``.

    Tomcat accepts raw UTF-8 in the request target (``curl '...?serviceName=服务'`` sends it so) and
    decodes it as UTF-8; llhttp refuses it. Escaped, it decodes to the same text (and octets that are
    not UTF-8 still fail as parameters). Only a request line that starts a read is seen here; one
    split across reads, or a later pipelined one, is refused by llhttp (400).
    """
    start = 0
    while data[start : start + 1] in (b"\r", b"\n") and start < len(data):
        start += 1
    end = data.find(b"\n", start)
    if end < 0:
        end = len(data)
    line = bytes(data[start:end])
    if line.isascii():
        return bytes(data)
    escaped = _NON_ASCII.sub(lambda match: b"%%%02X" % match.group()[0], line)
    return bytes(data[:start]) + escaped + bytes(data[end:])


def _origin_path(target: bytes) -> bytes:
    """The path of an absolute-form target (``http://host:port/p``); ``*`` and authority forms as is."""
    scheme, sep, rest = target.partition(b"://")
    if sep and scheme.lower() in (b"http", b"https"):
        slash = rest.find(b"/")
        return rest[slash:] if slash >= 0 else b"/"
    return target
