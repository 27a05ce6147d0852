# cython: language_level=3, autotestdict=False, auto_pickle=False
"""The compiled request path: request bytes in, response bytes out, for the hottest request shapes.

``FastPath.serve(data, now_ms, wall_ms, date_line, max_requests, peer_ip)`` reads complete requests
from the start of ``data`` (what one ``recv`` returned on an idle connection from ``peer_ip``),
answers the ones it handles and returns ``(out, consumed, answered, closing)``: the encoded answers
(one buffer: one ``send``), how many bytes of ``data`` they used, how many requests that was, and
whether the last one asked for ``Connection: close``. It stops at the first request it does not fully
understand; the caller feeds ``data[consumed:]`` to the ordinary path (``HttpConnection`` +
``NamingApp``), which answers it and everything after it. No sockets, no clocks: the caller passes
both times.

The contract (what makes it strictly a *fast* path):

- it answers only what the Python path would answer with exactly the same bytes and the same effect on
  the node's state (a hypothesis test runs both on random requests and compares);
- handled: ``PUT /nacos/v1/ns/instance/beat`` light beats (no ``beat`` parameter) of a healthy or
  marked ephemeral instance that exists (on a cluster member, ``members`` and ``owner_of``: of any
  ephemeral instance it knows whose service another member owns, answered here and handed to
  ``relay_beat`` for that owner as the Python path does; an unknown one is left to the Python path,
  which forwards it), ``GET /nacos/v1/ns/instance/list`` whose query the node's list memo already
  validated and whose answer is already rendered on the current snapshot (with ``udpPort`` > 0 too:
  the push subscriber it names is added or refreshed, as the Python handler does it), and
  ``POST``/``DELETE /nacos/v1/ns/instance`` of an ephemeral instance with every parameter in the
  query, of a service this node owns (a plain query is read by ``WriteReader``, any other by the
  naming layer; the write itself is the naming layer's). Only ``HTTP/1.1`` heads of plain printable
  ASCII (no ``%`` in the path, no ``#``, no ``Transfer-Encoding``, ``Expect``, ``Upgrade``, no body,
  ``Connection`` absent, ``keep-alive`` or ``close``) within the head limits; other fields are
  ignored, ``Accept-Encoding`` included (answers are never compressed, as Nacos 1.x does not
  compress them). Everything else — unknown, malformed, oversized, a memo or render-cache miss, a
  traffic rule or server status other than ``UP``, a beat of an unhealthy instance this node owns —
  goes to the Python path untouched (the first miss fills the memos there);
- ``enabled`` switches it off for a node: whoever wires a feature that must see every request (auth,
  per-request metrics) clears it, or gives a ``gate`` that returns False, until that feature
  integrates here. Nothing is cached here that the Python path does not also own (the owner of each
  service is remembered only under the member table's ``version``, which changes with every
  membership change): turning it off at any moment is safe;
- effects are the Python path's: a revived or untracked beat calls the naming layer's
  ``after_beat`` hook, a registration or deregistration its ``upsert``/``remove`` functions, and a
  list that subscribes for push its ``subscribe`` hook (with the connection's ``peer_ip``:
  subscribers are aimed at it), exactly as the Python handlers do. A hook runs only once the answer
  is known to come from here, so a request left to the Python path has had no effect yet.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t
from libc.string cimport memcmp

from nacosfast._core.beats cimport BeatTable
from nacosfast._core.form cimport decoded, ipv4, port_of, scan_query, value_or
from nacosfast._core.registry cimport _HEALTHY, _MARKED, Instance, Registry, Service
from nacosfast._core.writes cimport WriteReader

from nacosfast._core.beats import BEAT_REVIVED as _REVIVED, BEAT_UNKNOWN as _UNKNOWN

ROUTE_BEAT = 0
ROUTE_LIST = 1
ROUTE_REGISTER = 2
ROUTE_DEREGISTER = 3
ROUTE_NAMES = ("beat", "list", "register", "deregister")

cdef object _NOT_ASKED = object()
cdef int _BEAT_UNKNOWN = _UNKNOWN
cdef int _BEAT_REVIVED = _REVIVED
cdef int _CODE_OK = 10200
cdef str _INTERVAL_KEY = "preserved.heart.beat.interval"
cdef bytes _BEAT_PATH = b"/nacos/v1/ns/instance/beat"
cdef bytes _LIST_PATH = b"/nacos/v1/ns/instance/list"
cdef bytes _STATUS_OK = b"HTTP/1.1 200 OK\r\n"
cdef bytes _JSON_LENGTH = b"Content-Type: application/json;charset=UTF-8\r\nContent-Length: "
cdef bytes _KEEP_ALIVE = b"Connection: keep-alive\r\n"
cdef bytes _CLOSE = b"Connection: close\r\n"
cdef bytes _CHECK_BODY = b"{}"
cdef bytes _INSTANCE_PATH = b"/nacos/v1/ns/instance"
cdef bytes _OK_HEADERS = b"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 2\r\n"
cdef bytes _OK = b"ok"
cdef Py_ssize_t _FRAMED_ANSWERS_LIMIT = 64  # distinct (fixed body, Connection) answers kept per Date line

cdef enum _Method:
    _OTHER = 0
    _GET = 1
    _PUT = 2
    _POST = 3
    _DELETE = 4

cdef enum _Connection:
    _DEFAULT = 0      # no Connection header: HTTP/1.1 keeps the connection
    _KEEP = 1         # Connection: keep-alive (echoed in the answer)
    _CLOSING = 2      # Connection: close

cdef struct _Head:
    Py_ssize_t end            # offset just past the blank line
    int method
    Py_ssize_t path_start
    Py_ssize_t path_end
    Py_ssize_t query_start    # -1: no '?'
    Py_ssize_t query_end
    Py_ssize_t agent_start    # User-Agent value (-1: absent)
    Py_ssize_t agent_end
    Py_ssize_t version_start  # Client-Version value (-1: absent)
    Py_ssize_t version_end
    int connection


cdef inline bint _tchar(unsigned char c) noexcept:
    """An RFC 9110 token character."""
    if c >= b'a' and c <= b'z':
        return True
    if c >= b'A' and c <= b'Z':
        return True
    if c >= b'0' and c <= b'9':
        return True
    return c in b"!#$%&'*+-.^_`|~"


cdef inline unsigned char _lower(unsigned char c) noexcept:
    if c >= b'A' and c <= b'Z':
        return c + 32
    return c


cdef bint _name_is(const char* buf, Py_ssize_t start, Py_ssize_t end, const char* lower_name,
                   Py_ssize_t length) noexcept:
    cdef Py_ssize_t i
    if end - start != length:
        return False
    for i in range(length):
        if _lower(<unsigned char>buf[start + i]) != <unsigned char>lower_name[i]:
            return False
    return True


cdef int _parse_head(const char* buf, Py_ssize_t pos, Py_ssize_t n, Py_ssize_t max_head,
                     Py_ssize_t max_fields, _Head* head) noexcept:
    """Parse one plain request head at ``pos``; 1 when it is one this path handles, else 0."""
    cdef Py_ssize_t i = pos
    cdef Py_ssize_t limit = n if n - pos <= max_head else pos + max_head
    cdef Py_ssize_t start
    cdef Py_ssize_t name_end
    cdef Py_ssize_t value_start
    cdef Py_ssize_t value_end
    cdef Py_ssize_t fields = 0
    cdef unsigned char c
    cdef bint seen_connection = False
    cdef bint seen_length = False
    # Request line: GET|PUT SP origin-form target SP HTTP/1.1 CRLF
    if limit - i >= 4 and buf[i] == b'G' and buf[i + 1] == b'E' and buf[i + 2] == b'T' and buf[i + 3] == b' ':
        head.method = _GET
        i += 4
    elif limit - i >= 4 and buf[i] == b'P' and buf[i + 1] == b'U' and buf[i + 2] == b'T' and buf[i + 3] == b' ':
        head.method = _PUT
        i += 4
    elif limit - i >= 5 and memcmp(buf + i, b"POST ", 5) == 0:
        head.method = _POST
        i += 5
    elif limit - i >= 7 and memcmp(buf + i, b"DELETE ", 7) == 0:
        head.method = _DELETE
        i += 7
    else:
        return 0
    if i >= limit or buf[i] != b'/':
        return 0
    head.path_start = i
    head.query_start = -1
    while i < limit:
        c = <unsigned char>buf[i]
        if c == b' ':
            break
        if c <= 0x20 or c >= 0x7f or c == b'#':
            return 0
        if c == b'%' and head.query_start < 0:
            return 0  # an escaped path: the Python path decodes it
        if c == b'?' and head.query_start < 0:
            head.path_end = i
            head.query_start = i + 1
        i += 1
    if i >= limit:
        return 0
    if head.query_start < 0:
        head.path_end = i
        head.query_start = head.query_end = i
    else:
        head.query_end = i
    if limit - i < 11 or buf[i + 1] != b'H' or buf[i + 2] != b'T' or buf[i + 3] != b'T' \
            or buf[i + 4] != b'P' or buf[i + 5] != b'/' or buf[i + 6] != b'1' or buf[i + 7] != b'.' \
            or buf[i + 8] != b'1' or buf[i + 9] != b'\r' or buf[i + 10] != b'\n':
        return 0
    i += 11
    head.agent_start = head.version_start = -1
    head.agent_end = head.version_end = -1
    head.connection = _DEFAULT
    # Header fields: token ":" OWS printable-ASCII OWS CRLF, then an empty line.
    while True:
        if limit - i < 2:
            return 0
        if buf[i] == b'\r':
            if buf[i + 1] != b'\n':
                return 0
            head.end = i + 2
            return 1
        fields += 1
        if fields > max_fields:
            return 0
        start = i
        while i < limit and _tchar(<unsigned char>buf[i]):
            i += 1
        if i == start or i >= limit or buf[i] != b':':
            return 0
        name_end = i
        i += 1
        while i < limit and (buf[i] == b' ' or buf[i] == b'\t'):
            i += 1
        value_start = i
        while i < limit:
            c = <unsigned char>buf[i]
            if c == b'\r':
                break
            if (c < 0x20 and c != b'\t') or c >= 0x7f:
                return 0
            i += 1
        if limit - i < 2 or buf[i + 1] != b'\n':
            return 0
        value_end = i
        while value_end > value_start and (buf[value_end - 1] == b' ' or buf[value_end - 1] == b'\t'):
            value_end -= 1
        i += 2
        if name_end - start == 10 and _name_is(buf, start, name_end, b"user-agent", 10):
            if head.agent_start >= 0:
                return 0
            head.agent_start = value_start
            head.agent_end = value_end
        elif name_end - start == 14 and _name_is(buf, start, name_end, b"client-version", 14):
            if head.version_start >= 0:
                return 0
            head.version_start = value_start
            head.version_end = value_end
        elif name_end - start == 14 and _name_is(buf, start, name_end, b"content-length", 14):
            if seen_length or value_end - value_start != 1 or buf[value_start] != b'0':
                return 0
            seen_length = True
        elif name_end - start == 10 and _name_is(buf, start, name_end, b"connection", 10):
            if seen_connection:
                return 0
            seen_connection = True
            if _name_is(buf, value_start, value_end, b"keep-alive", 10):
                head.connection = _KEEP
            elif _name_is(buf, value_start, value_end, b"close", 5):
                head.connection = _CLOSING
            else:
                return 0
        elif (_name_is(buf, start, name_end, b"transfer-encoding", 17)
              or _name_is(buf, start, name_end, b"expect", 6)
              or _name_is(buf, start, name_end, b"upgrade", 7)
              or _name_is(buf, start, name_end, b"proxy-connection", 16)
              or _name_is(buf, start, name_end, b"keep-alive", 10)):
            return 0


cdef enum _Param:
    _P_NAMESPACE = 0
    _P_SERVICE = 1
    _P_CLUSTER = 2
    _P_IP = 3
    _P_PORT = 4
    _P_BEAT = 5
    _P_REFUSED = 6    # a parameter this reader leaves to the Python path (dom, groupName)
    _P_COUNT = 7


cdef int _param_of(const char* buf, Py_ssize_t start, Py_ssize_t end) noexcept:
    """Which light-beat parameter a raw key names; -1 for any other (ignored) key."""
    cdef Py_ssize_t length = end - start
    cdef const char* key = buf + start
    if length == 11 and memcmp(key, b"namespaceId", 11) == 0:
        return _P_NAMESPACE
    if length == 11 and memcmp(key, b"serviceName", 11) == 0:
        return _P_SERVICE
    if length == 11 and memcmp(key, b"clusterName", 11) == 0:
        return _P_CLUSTER
    if length == 2 and memcmp(key, b"ip", 2) == 0:
        return _P_IP
    if length == 4 and memcmp(key, b"port", 4) == 0:
        return _P_PORT
    if length == 4 and memcmp(key, b"beat", 4) == 0:
        return _P_BEAT
    if (length == 3 and memcmp(key, b"dom", 3) == 0) or (length == 9 and memcmp(key, b"groupName", 9) == 0):
        return _P_REFUSED
    return -1


@cython.final
cdef class FastPath:
    """Answers light beats and cached lists of one node from request bytes (see the module docstring)."""

    def __init__(self, state, *, resolve_beat, after_beat, beat_body, WriteReader writes not None,
                 upsert, remove, register, deregister, list_subscribes, subscribe, list_tag,
                 max_head_bytes, max_header_fields, memo_limit, gate=None, members=None, owner_of=None,
                 relay_beat=None):
        if not (members is None) == (owner_of is None) == (relay_beat is None):
            raise ValueError("members, owner_of and relay_beat go together")
        self.enabled = True
        self._state = state
        self._registry = state.registry
        self._beats = state.beats
        self._resolve_beat = resolve_beat
        self._after_beat = after_beat
        self._beat_body = beat_body
        self._writes = writes
        self._upsert = upsert
        self._remove = remove
        self._register = register
        self._deregister = deregister
        self._list_subscribes = list_subscribes
        self._subscribe = subscribe
        self._gate = gate
        self._members = members
        self._owner_of = owner_of
        self._relay_beat = relay_beat
        self._owners = {}
        self._owners_version = None
        self._list_tag = list_tag
        self._beat_targets = {}
        self._framed_answers = {}
        self._framed_date = None
        self._memo_limit = memo_limit
        self._max_head = max_head_bytes
        self._max_fields = max_header_fields
        self._answered[0] = self._answered[1] = self._answered[2] = self._answered[3] = 0

    def counts(self):
        """Requests answered here so far, by route name."""
        return {ROUTE_NAMES[route]: self._answered[route] for route in range(4)}

    def serve(self, bytes data not None, int64_t now_ms, int64_t wall_ms, bytes date_line not None,
              Py_ssize_t max_requests, str peer_ip not None):
        """Answer the leading requests of ``data`` that this path handles (module docstring)."""
        cdef const char* buf = PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t answered = 0
        cdef bint closing = False
        cdef _Head head
        cdef list out = []
        cdef object body
        cdef bytes query
        if not self.enabled or not self._open():
            return b"", 0, 0, False
        while pos < n and answered < max_requests:
            if not _parse_head(buf, pos, n, self._max_head, self._max_fields, &head):
                break
            if head.connection == _CLOSING and head.end != n:
                break  # input after a closing request: the Python path discards it the careful way
            if head.method == _PUT and _path_is(buf, &head, _BEAT_PATH):
                body = self._beat(buf, head.query_start, head.query_end, now_ms)
                if body is None:
                    break
                self._answered[0] += 1
            elif head.method == _GET and _path_is(buf, &head, _LIST_PATH):
                query = PyBytes_FromStringAndSize(buf + head.query_start, head.query_end - head.query_start)
                body = self._list(query, _agent(buf, &head), peer_ip, now_ms, wall_ms)
                if body is None:
                    break
                self._answered[1] += 1
            elif (head.method == _POST or head.method == _DELETE) and _path_is(buf, &head, _INSTANCE_PATH):
                if not self._write(buf, head.query_start, head.query_end, head.method == _POST, now_ms):
                    break
                self._answered[2 if head.method == _POST else 3] += 1
                body = None
            else:
                break
            if body is None:
                out.append(self._framed(date_line, _OK, head.connection))
            elif head.method == _PUT:
                out.append(self._framed(date_line, <bytes>body, head.connection))
            else:
                out.append(_frame(date_line, <bytes>body, head.connection))
            answered += 1
            pos = head.end
            if head.connection == _CLOSING:
                closing = True
                break
        if not answered:
            return b"", 0, 0, False
        return (out[0] if answered == 1 else b"".join(out)), pos, answered, closing

    cdef bytes _framed(self, bytes date_line, bytes body, int connection):
        """The whole answer for one of the few fixed bodies (beat replies, ``ok``), framed once per
        ``Date`` line and kept while that line is current."""
        if date_line is not self._framed_date:
            self._framed_answers = {}
            self._framed_date = date_line
        key = (body, connection)
        cached = self._framed_answers.get(key)
        if cached is None:
            cached = _frame(date_line, body, connection)
            if len(self._framed_answers) < _FRAMED_ANSWERS_LIMIT:
                self._framed_answers[key] = cached
        return <bytes>cached

    cdef bint _open(self) except -1:
        """Whether no node-wide rule stands between a request and its handler right now."""
        switches = self._state.switches
        if switches.limitedUrlMap:
            return False
        status = switches.overriddenServerStatus
        if status and status != "UP":
            return False
        if self._gate is not None and not self._gate():
            return False
        return True

    cdef object _light_target(self, const char* buf, Py_ssize_t start, Py_ssize_t end):
        """The target of a light beat whose query reads plainly (canonical IPv4 and port, no escaped
        keys, no ``beat``, ``dom`` or ``groupName``), read here; else None. Names are validated by the
        naming layer once per distinct (namespace, service, cluster) (``WriteReader.names_valid``)."""
        cdef Py_ssize_t spans[2 * _P_COUNT]
        cdef int port
        if not scan_query(buf, start, end, spans, _P_COUNT, _param_of):
            return None
        if spans[2 * _P_REFUSED] >= 0 or spans[2 * _P_BEAT + 1] > spans[2 * _P_BEAT] or spans[2 * _P_IP] < 0:
            return None
        ip = ipv4(buf, spans[2 * _P_IP], spans[2 * _P_IP + 1])
        port = port_of(buf, spans[2 * _P_PORT], spans[2 * _P_PORT + 1])
        if ip is None or port < 0 or spans[2 * _P_SERVICE] < 0:
            return None
        name = decoded(buf, spans[2 * _P_SERVICE], spans[2 * _P_SERVICE + 1], False)
        if not name or "@@" not in name:
            return None
        namespace = value_or(buf, spans, _P_NAMESPACE, "public")
        cluster = value_or(buf, spans, _P_CLUSTER, "DEFAULT")
        if namespace is None or cluster is None:
            return None
        if not self._writes.names_valid((namespace, name, cluster)):
            return None
        key = f"{ip}:{port}:unknown:{cluster}" if port else f"{ip}:unknown:{cluster}"
        return namespace, name, key, (namespace, name, key)

    cdef object _beat(self, const char* buf, Py_ssize_t start, Py_ssize_t end, int64_t now_ms):
        """A light beat's reply body, or None to leave the request to the Python path."""
        cdef bytes query = PyBytes_FromStringAndSize(buf + start, end - start)
        cdef object target = self._beat_targets.get(query)
        cdef Service service
        cdef Instance instance
        cdef int status
        cdef bint marked
        cdef int64_t interval
        if target is None:
            target = self._light_target(buf, start, end)
            if target is not None:  # read here: remembered while there is room (a fleet beyond it
                if len(self._beat_targets) < self._memo_limit:  # is read on every beat)
                    self._beat_targets[query] = target
            else:  # an unusual query: validated by the naming layer, memoized per query
                target = self._resolve_beat(query)
                if target is None:
                    target = False
                if len(self._beat_targets) >= self._memo_limit:
                    self._beat_targets.clear()
                self._beat_targets[query] = target
        if target is False:
            return None
        namespace, name, key, beat_key = <tuple>target
        owner = self._owner(namespace, name)
        service = self._registry._lookup(namespace, name)
        if service is None:
            return None
        instance = service._ephemeral.get(key)
        if instance is None:
            return None  # on a cluster member, the Python path forwards it to the owner
        if owner is not None:  # answered as the owner would, whatever the health; the owner beats it
            self._relay_beat(owner, namespace, name, key)
        else:
            marked = (instance._flags & _MARKED) != 0
            if not marked and (instance._flags & _HEALTHY) == 0:
                return None  # the beat makes it healthy again: a write, left to the Python path
            status = self._beats.beat(beat_key, now_ms)
            if not marked and (status == _BEAT_UNKNOWN or status == _BEAT_REVIVED):
                self._after_beat(namespace, name, key, instance, status, now_ms)
        switches = self._state.switches
        if _INTERVAL_KEY in instance._metadata:
            interval = instance._metadata.interval_ms
        else:
            interval = switches.clientBeatInterval
        light = switches.lightBeatEnabled
        body = self._state.memos.beat_replies.get((_CODE_OK, interval, light))
        if body is None:
            body = self._beat_body(interval, light)
        return body

    cdef object _owner(self, str namespace, str name):
        """The address of the member that owns the service, None when this node does (always on a
        standalone node); remembered per service while the member table's ``version`` (bumped on
        every membership change) stays."""
        if self._members is None:
            return None
        version = self._members.version
        if version != self._owners_version:
            self._owners.clear()
            self._owners_version = version
        service = (namespace, name)
        owner = self._owners.get(service, _NOT_ASKED)
        if owner is _NOT_ASKED:
            owner = self._owner_of(namespace, name)
            if len(self._owners) >= self._memo_limit:
                self._owners.clear()
            self._owners[service] = owner
        return owner

    cdef bint _write(self, const char* buf, Py_ssize_t start, Py_ssize_t end, bint register,
                     int64_t now_ms) except -1:
        """Register (or deregister) the ephemeral instance the query names, through the naming layer's
        write functions; False when it is not one, or (on a cluster member) its service is another
        member's (nothing was written: the Python path answers or forwards it). A plain query is read
        here (``WriteReader``), any other by the naming layer."""
        cdef bint ephemeral = self._state.switches.defaultInstanceEphemeral
        if register:
            read = self._writes.read_registration(buf, start, end, ephemeral)
            if read is not None:
                namespace, name, instance = <tuple>read
                if self._owner(namespace, name) is not None:
                    return False
                self._upsert(namespace, name, instance, now_ms)
                return True
            return self._register(PyBytes_FromStringAndSize(buf + start, end - start), now_ms)
        read = self._writes.read_deregistration(buf, start, end, ephemeral)
        if read is not None:
            namespace, name, key = <tuple>read
            if self._owner(namespace, name) is not None:
                return False
            self._remove(namespace, name, key, now_ms)
            return True
        return self._deregister(PyBytes_FromStringAndSize(buf + start, end - start), now_ms)

    cdef object _list(self, bytes query, str agent, str peer_ip, int64_t now_ms, int64_t wall_ms):
        """A cached list answer's body, or None to leave the request to the Python path. A list that
        subscribes for push (``udpPort`` > 0) adds or refreshes its subscriber through the naming
        layer's ``subscribe``, once the answer is known to come from here."""
        state = self._state
        listing = state.memos.list_queries.get(query)
        if listing is None:
            return None
        cdef Service snapshot = self._registry._lookup(listing.namespace, listing.name)
        if snapshot is None or snapshot._cache is None:
            return None
        client = state.clients.get(agent)
        switches = state.switches
        subscribing = listing.udp_port > 0 and self._list_subscribes(listing, client)
        variant = (self._list_tag, listing.clusters, client.wants_grouped_names, listing.healthy_only,
                   switches.defaultPushCacheMillis if subscribing else switches.defaultCacheMillis,
                   listing.env)
        parts = snapshot._cache.get(variant)
        if parts is None:
            return None
        if subscribing:
            self._subscribe(listing, agent, peer_ip, now_ms)
        before, after, has_instances = <tuple>parts
        if listing.is_check and has_instances:
            return _CHECK_BODY
        return b"%b%d%b" % (before, wall_ms, after)


cdef bytes _frame(bytes date_line, bytes body, int connection):
    """A 200 answer: status line, ``Date``, type and length, ``Connection`` as asked, then ``body``.
    ``ok`` is plain text (the write handlers' answer); every other body is JSON."""
    if body is _OK:
        headers = _OK_HEADERS
    else:
        headers = b"%b%d\r\n" % (_JSON_LENGTH, len(body))
    if connection == _KEEP:
        return b"".join((_STATUS_OK, date_line, headers, _KEEP_ALIVE, b"\r\n", body))
    if connection == _CLOSING:
        return b"".join((_STATUS_OK, date_line, headers, _CLOSE, b"\r\n", body))
    return b"".join((_STATUS_OK, date_line, headers, b"\r\n", body))


cdef inline bint _path_is(const char* buf, _Head* head, bytes path) noexcept:
    cdef Py_ssize_t length = PyBytes_GET_SIZE(path)
    cdef const char* expected = PyBytes_AS_STRING(path)
    cdef Py_ssize_t i
    if head.path_end - head.path_start != length:
        return False
    for i in range(length):
        if buf[head.path_start + i] != expected[i]:
            return False
    return True


cdef str _agent(const char* buf, _Head* head):
    """``Request.user_agent``: ``User-Agent``, else (absent or empty) ``Client-Version``, else ""."""
    if head.agent_start >= 0 and head.agent_end > head.agent_start:
        return buf[head.agent_start:head.agent_end].decode("latin-1")
    if head.version_start >= 0 and head.version_end > head.version_start:
        return buf[head.version_start:head.version_end].decode("latin-1")
    return ""
