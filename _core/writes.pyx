# cython: language_level=3, autotestdict=False, auto_pickle=False
"""Registrations and deregistrations of ephemeral instances read from a plain query, in compiled code.

``WriteReader.registration(query, default_ephemeral)`` gives ``(namespace, grouped name, Instance)``
and ``WriteReader.deregistration(query, default_ephemeral)`` gives ``(namespace, grouped name,
datumKey)``: exactly what ``POST /instance`` and ``DELETE /instance`` of the naming layer
(``instances._registration`` / ``_deregistration``) read from the same parameters. Both answer
``None`` — "leave it to the Python reader" — for anything but the plain, valid, ephemeral case:

- every parameter is read once, the first value of its key; keys with escapes, values that are
  blank, trimmable or need UTF-8 judgement, and a missing ``serviceName`` (the ``dom`` alias) are
  declined (``form.pxd``);
- ``ip`` must be dotted IPv4 (host names and IPv6 are the Python reader's), ``port`` 1-5 digits up to
  65535, ``weight`` plain decimal (``1``, ``1.0``, ``.5`` is declined) up to 10000, booleans letters
  only (commons-lang ``toBoolean``: true, on, yes, y, t in any case are true, other words false);
- namespace, grouped service name and cluster are judged by the naming layer (``check_names``) once
  per distinct triple, the ``metadata`` text by ``parse_metadata`` once per distinct text: both memos
  are bounded and cleared when full;
- a persistent instance (``ephemeral`` false) is declined: its write is journaled by the Python path.

Nothing here writes; the caller hands what was read to the naming layer's own write functions.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int32_t, uint8_t

from nacosfast._core.form cimport decoded, ipv4, key_is, port_of, scan_query, value_or
from nacosfast._core.registry cimport (
    _ENABLED,
    _EPHEMERAL,
    _HEALTHY,
    _Metadata,
    new_instance,
    shared_metadata,
)

from nacosfast import limits as _limits
from nacosfast._core import registry as _registry

cdef Py_ssize_t _MAX_NAME = _limits.MAX_NAME_LENGTH
cdef double _MAX_WEIGHT = _registry.MAX_WEIGHT
cdef double _MIN_POSITIVE_WEIGHT = 0.01   # Nacos raises weights in (0, 0.01) to 0.01
cdef Py_ssize_t _MAX_WEIGHT_CHARS = 24    # longer plain decimals are left to the Python reader
cdef str _DEFAULT_NAMESPACE = "public"
cdef str _DEFAULT_GROUP = "DEFAULT_GROUP"
cdef str _DEFAULT_CLUSTER = "DEFAULT"
cdef str _DEFAULT_APP = "DEFAULT"
cdef str _GROUP_SEPARATOR = "@@"

cdef enum _Param:
    _W_NAMESPACE = 0
    _W_SERVICE = 1
    _W_GROUP = 2
    _W_CLUSTER_NAME = 3
    _W_CLUSTER = 4
    _W_IP = 5
    _W_PORT = 6
    _W_WEIGHT = 7
    _W_ENABLED = 8
    _W_ENABLE = 9
    _W_HEALTHY = 10
    _W_EPHEMERAL = 11
    _W_METADATA = 12
    _W_APP = 13
    _W_COUNT = 14

cdef enum _Flag:
    _ABSENT = -1      # missing or empty: the parameter's default
    _DECLINED = -2    # not read here


cdef int _param_of(const char* buf, Py_ssize_t start, Py_ssize_t end) noexcept:
    """Which register/deregister parameter a raw key names; -1 for any other (ignored) key."""
    cdef Py_ssize_t length = end - start
    if length == 11:
        if key_is(buf, start, end, b"namespaceId", 11):
            return _W_NAMESPACE
        if key_is(buf, start, end, b"serviceName", 11):
            return _W_SERVICE
        if key_is(buf, start, end, b"clusterName", 11):
            return _W_CLUSTER_NAME
        return -1
    if key_is(buf, start, end, b"ip", 2):
        return _W_IP
    if key_is(buf, start, end, b"port", 4):
        return _W_PORT
    if key_is(buf, start, end, b"groupName", 9):
        return _W_GROUP
    if key_is(buf, start, end, b"cluster", 7):
        return _W_CLUSTER
    if key_is(buf, start, end, b"weight", 6):
        return _W_WEIGHT
    if key_is(buf, start, end, b"enabled", 7):
        return _W_ENABLED
    if key_is(buf, start, end, b"enable", 6):
        return _W_ENABLE
    if key_is(buf, start, end, b"healthy", 7):
        return _W_HEALTHY
    if key_is(buf, start, end, b"ephemeral", 9):
        return _W_EPHEMERAL
    if key_is(buf, start, end, b"metadata", 8):
        return _W_METADATA
    if key_is(buf, start, end, b"app", 3):
        return _W_APP
    return -1


cdef inline bint _empty(Py_ssize_t* spans, int param) noexcept:
    return spans[2 * param] < 0 or spans[2 * param] == spans[2 * param + 1]


cdef int _commons_bool(const char* buf, Py_ssize_t* spans, int param) noexcept:
    """commons-lang ``BooleanUtils.toBoolean`` of a value of ASCII letters: 1 or 0; ``_ABSENT`` when
    missing or empty, ``_DECLINED`` for any other character (escapes, blanks: the Python reader's)."""
    cdef Py_ssize_t start = spans[2 * param]
    cdef Py_ssize_t end = spans[2 * param + 1]
    cdef Py_ssize_t i
    cdef unsigned char c
    cdef char word[5]
    if start < 0 or start == end:
        return _ABSENT
    for i in range(start, end):
        c = <unsigned char>buf[i]
        if c >= b'A' and c <= b'Z':
            c += 32
        elif c < b'a' or c > b'z':
            return _DECLINED
        if i - start < 5:
            word[i - start] = <char>c
    if end - start > 4:
        return 0
    if end - start == 4:
        return word[0] == b't' and word[1] == b'r' and word[2] == b'u' and word[3] == b'e'
    if end - start == 3:
        return word[0] == b'y' and word[1] == b'e' and word[2] == b's'
    if end - start == 2:
        return word[0] == b'o' and word[1] == b'n'
    return word[0] == b'y' or word[0] == b't'


cdef double _weight(const char* buf, Py_ssize_t start, Py_ssize_t end) except -2.0:
    """``Double.parseDouble`` of a plain decimal (digits, then optionally ``.`` and digits); -1 for any
    other spelling (the Python reader's)."""
    cdef Py_ssize_t i
    cdef bint dot = False
    cdef unsigned char c
    if end - start > _MAX_WEIGHT_CHARS:
        return -1.0
    if end - start == 3 and buf[start] == b'1' and buf[start + 1] == b'.' and buf[start + 2] == b'0':
        return 1.0  # what every Nacos client sends by default
    for i in range(start, end):
        c = <unsigned char>buf[i]
        if c == b'.' and not dot and i > start:
            dot = True
        elif c < b'0' or c > b'9':
            return -1.0
    return float(buf[start:end])


@cython.final
cdef class WriteReader:
    """Reads plain register and deregister queries of ephemeral instances (module docstring)."""

    def __init__(self, check_names, *, parse_metadata, memo_limit, metadata_memo_chars):
        self._check_names = check_names
        self._parse_metadata = parse_metadata
        self._checked_names = {}
        self._metadata = {}
        self._memo_limit = memo_limit
        self._metadata_memo_chars = metadata_memo_chars

    def registration(self, bytes query not None, bint default_ephemeral):
        """``(namespace, grouped name, Instance)`` of a plain registration, else None."""
        return self.read_registration(PyBytes_AS_STRING(query), 0, PyBytes_GET_SIZE(query),
                                      default_ephemeral)

    def deregistration(self, bytes query not None, bint default_ephemeral):
        """``(namespace, grouped name, datumKey)`` of a plain deregistration, else None."""
        return self.read_deregistration(PyBytes_AS_STRING(query), 0, PyBytes_GET_SIZE(query),
                                        default_ephemeral)

    cdef object read_registration(self, const char* buf, Py_ssize_t start, Py_ssize_t end,
                                  bint default_ephemeral):
        cdef Py_ssize_t spans[2 * _W_COUNT]
        cdef int healthy
        cdef int enabled
        cdef double weight = 1.0
        cdef _Metadata metadata
        address = self._address(buf, start, end, default_ephemeral, spans)
        if address is None:
            return None
        if not _empty(spans, _W_WEIGHT):
            weight = _weight(buf, spans[2 * _W_WEIGHT], spans[2 * _W_WEIGHT + 1])
            if weight < 0.0 or weight > _MAX_WEIGHT:
                return None
            if 0.0 < weight < _MIN_POSITIVE_WEIGHT:
                weight = _MIN_POSITIVE_WEIGHT
        enabled = _commons_bool(buf, spans, _W_ENABLED)
        if enabled == _ABSENT:
            enabled = _commons_bool(buf, spans, _W_ENABLE)
            if enabled == _ABSENT:
                enabled = 1
        healthy = _commons_bool(buf, spans, _W_HEALTHY)
        if healthy == _ABSENT:
            healthy = 1
        if enabled == _DECLINED or healthy == _DECLINED:
            return None
        metadata = self._metadata_of(buf, spans)
        if metadata is None:
            return None
        app = value_or(buf, spans, _W_APP, _DEFAULT_APP)
        if app is None or len(<str>app) > _MAX_NAME:
            return None
        namespace, name, cluster, ip, port = <tuple>address
        instance = new_instance(
            ip, <int32_t>port, cluster, weight,
            <uint8_t>((_HEALTHY if healthy else 0) | (_ENABLED if enabled else 0) | _EPHEMERAL),
            metadata, app)
        return namespace, name, instance

    cdef object read_deregistration(self, const char* buf, Py_ssize_t start, Py_ssize_t end,
                                    bint default_ephemeral):
        cdef Py_ssize_t spans[2 * _W_COUNT]
        address = self._address(buf, start, end, default_ephemeral, spans)
        if address is None:
            return None
        if not _empty(spans, _W_WEIGHT) and _weight(buf, spans[2 * _W_WEIGHT], spans[2 * _W_WEIGHT + 1]) < 0:
            return None  # parsed (and refused when malformed) though unused, as in Nacos
        namespace, name, cluster, ip, port = <tuple>address
        key = f"{ip}:{port}:unknown:{cluster}" if port else f"{ip}:unknown:{cluster}"
        return namespace, name, key

    cdef object _address(self, const char* buf, Py_ssize_t start, Py_ssize_t end, bint default_ephemeral,
                         Py_ssize_t* spans):
        """Scan the query into ``spans``; ``(namespace, grouped name, cluster, ip, port)`` of a write of an
        ephemeral instance, all valid, or None."""
        cdef int port
        cdef int ephemeral
        if not scan_query(buf, start, end, spans, _W_COUNT, _param_of):
            return None
        ephemeral = _commons_bool(buf, spans, _W_EPHEMERAL)
        if ephemeral == _ABSENT:
            ephemeral = default_ephemeral
        if ephemeral != 1:
            return None
        names = self._names(buf, spans)
        if names is None:
            return None
        ip = ipv4(buf, spans[2 * _W_IP], spans[2 * _W_IP + 1])
        if ip is None or _empty(spans, _W_PORT):
            return None
        port = port_of(buf, spans[2 * _W_PORT], spans[2 * _W_PORT + 1])
        if port < 0:
            return None
        return (*<tuple>names, ip, port)

    cdef object _names(self, const char* buf, Py_ssize_t* spans):
        """``(namespace, grouped name, cluster)``, all valid, or None."""
        namespace = value_or(buf, spans, _W_NAMESPACE, _DEFAULT_NAMESPACE)
        if _empty(spans, _W_SERVICE):
            return None  # the legacy ``dom`` alias, or a 400: the Python reader's
        service = decoded(buf, spans[2 * _W_SERVICE], spans[2 * _W_SERVICE + 1], False)
        if namespace is None or service is None:
            return None
        if _GROUP_SEPARATOR in <str>service:
            name = service
        else:
            group = value_or(buf, spans, _W_GROUP, _DEFAULT_GROUP)
            if group is None:
                return None
            name = f"{group}{_GROUP_SEPARATOR}{service}"
        if not _empty(spans, _W_CLUSTER_NAME):
            cluster = decoded(buf, spans[2 * _W_CLUSTER_NAME], spans[2 * _W_CLUSTER_NAME + 1], False)
        else:
            cluster = value_or(buf, spans, _W_CLUSTER, _DEFAULT_CLUSTER)
        if cluster is None:
            return None
        names = (namespace, name, cluster)
        return names if self.names_valid(names) else None

    cdef bint names_valid(self, tuple names) except -1:
        """Whether ``(namespace, grouped name, cluster)``, already trimmed, pass the naming layer's
        checks (``check_names``, asked once per distinct triple while the memo has room)."""
        checked = self._checked_names.get(names)
        if checked is None:
            checked = bool(self._check_names(*names))
            if len(self._checked_names) >= self._memo_limit:
                self._checked_names.clear()
            self._checked_names[names] = checked
        return checked

    cdef _Metadata _metadata_of(self, const char* buf, Py_ssize_t* spans):
        """The interned metadata the ``metadata`` parameter names, or None (not read here)."""
        cdef Py_ssize_t start = spans[2 * _W_METADATA]
        cdef Py_ssize_t end = spans[2 * _W_METADATA + 1]
        if start < 0 or start == end:
            return shared_metadata(None)
        text = decoded(buf, start, end, True)
        if text is None:
            return None
        found = self._metadata.get(text)
        if found is None:
            parsed = self._parse_metadata(text)
            if parsed is None:
                found = False
            else:
                try:
                    found = shared_metadata(parsed)
                except ValueError:  # what Instance refuses (the Python path answers its 400)
                    found = False
            if len(<str>text) <= self._metadata_memo_chars:
                if len(self._metadata) >= self._memo_limit:
                    self._metadata.clear()
                self._metadata[text] = found
        if found is False:
            return None
        return <_Metadata>found
