# cython: language_level=3, autotestdict=False, auto_pickle=False
"""Copy-on-write service registry: namespace → grouped service → instances."""

# Data structure
# --------------
# Registry._namespaces: {namespace: {grouped name: Service}}. A write never mutates a published
# ``Service``: it builds a new snapshot and stores it under the same name (one dict store), so a reader
# holding a snapshot never sees a half-applied write.
#
# Service: namespace, name, revision, the application's ``meta`` and two ``_InstanceSet``s (ephemeral,
# persistent). A write replaces only the touched set; the other set is shared with the old snapshot.
#
# _InstanceSet is a persistent (immutable, structure-sharing) insertion-ordered map key -> Instance:
#
#     _chunks  (c0, c1, ..., cN)    dicts of at most CHUNK_SIZE entries; iteration order is c0's entries,
#                                   then c1's, ... New keys go to the last chunk (or a new one), so the
#                                   order is insertion order, exactly like a single dict.
#     _index   (b0, ..., bM)        only when there are 2+ chunks: dicts key -> chunk number, a key lives
#                                   in bucket hash(key) & M (M + 1 a power of two, ~64 keys a bucket).
#
# Both tuples are paged: the set holds a tuple of pages, each a tuple of up to 64 chunk (or bucket)
# references, and item i is pages[i >> 6][i & 63]. A write copies the one chunk it touches (<= 128
# entries), when a key is added or removed one index bucket (32-128 entries), the page of references
# holding each (64), and the tuples of page references (count / 8,192 and count / 4,096 pointers):
# putting one instance into a 100,000-instance service copies ~400 references, into 10,000 ~300
# (without pages it copied both whole reference tuples, twice: ~5,800 at 100,000). Chunks emptied by
# removals stay in place (chunk numbers are stable); when more than half the chunks would be
# wasted, the set is repacked in one O(n) pass, which is amortized over the removals that caused it;
# the index is rebuilt in one O(n) pass when it doubles (amortized over the additions).
# A set of at most 128 instances is one dict and has no index.
#
# Each set keeps its size and an order-independent digest: the sum mod 2**64 of its instances'
# xxh3-64 digests (each computed once, from a canonical byte encoding of every field), updated by
# adding the new and subtracting the old instance's digest on every write.
#
# Instance is a 96-byte object without GC tracking. Cluster names, app names and metadata keys are
# interned in a bounded table; identical metadata maps are interned as one immutable ``_Metadata``
# (a dict subclass) that also caches the parsed ``preserved.*`` timeouts and its own digest, so a
# million instances with a few distinct metadata maps hold a few maps, not a million.

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem, PyDict_GetItemWithError, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_CheckExact
from libc.math cimport isfinite
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from nacosfast._core.byteorder cimport put_u32, put_u64

import xxhash

from nacosfast import limits as _limits

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object unicode, Py_ssize_t* size) except NULL
    object PyUnicode_FromObject(object obj)

DEFAULT_BEAT_INTERVAL_MS = _limits.CLIENT_BEAT_INTERVAL_MS
DEFAULT_BEAT_TIMEOUT_MS = _limits.HEARTBEAT_TIMEOUT_MS
DEFAULT_DELETE_TIMEOUT_MS = _limits.IP_DELETE_TIMEOUT_MS
MAX_WEIGHT = 10000.0
MAX_CACHED_VARIANTS = _limits.CORE_MAX_CACHED_VARIANTS

cdef int64_t _DEFAULT_INTERVAL = DEFAULT_BEAT_INTERVAL_MS
cdef int64_t _DEFAULT_TIMEOUT = DEFAULT_BEAT_TIMEOUT_MS
cdef int64_t _DEFAULT_DELETE = DEFAULT_DELETE_TIMEOUT_MS
cdef int64_t _MAX_MS = _limits.CORE_MAX_ABS_MS - 1
cdef double _MAX_WEIGHT = MAX_WEIGHT
cdef Py_ssize_t _MAX_CACHED = MAX_CACHED_VARIANTS
cdef Py_ssize_t _MAX_INTERNED_METADATA = _limits.CORE_MAX_INTERNED_METADATA
cdef Py_ssize_t _MAX_INTERNED_STRINGS = _limits.CORE_MAX_INTERNED_STRINGS

# Structure constants (not limits: they only trade copy size against pointer count).
cdef Py_ssize_t CHUNK_SIZE = 128        # instances per chunk
cdef Py_ssize_t INDEX_BUCKET_KEYS = 64  # target keys per index bucket; the index doubles at 2x this
cdef Py_ssize_t PAGE_BITS = 6           # chunk and bucket references come in pages of 64
cdef Py_ssize_t PAGE_SIZE = 64
cdef Py_ssize_t PAGE_MASK = 63

# The instance flag bits (_HEALTHY, _ENABLED, _EPHEMERAL, _MARKED) are declared in registry.pxd.

cdef uint8_t _ENCODING_VERSION = 1
cdef str _WEIGHT_ERROR = "instance format invalid: The weights range from 0.0 to 10000.0"
cdef str _IMMUTABLE = "instance metadata is shared and immutable; copy it with dict(...) to change it"
cdef object _xxh3 = xxhash.xxh3_64_intdigest
cdef object _MISSING = object()


# --- helpers -----------------------------------------------------------------------------------------

cdef inline str _exact(object text):
    """``text`` as an exact ``str`` (a subclass could override hashing or equality)."""
    if PyUnicode_CheckExact(text):
        return <str>text
    return <str>PyUnicode_FromObject(text)


cdef inline Py_ssize_t _utf8_size(str text, str field) except -1:
    """UTF-8 size of ``text``; ``ValueError`` if it cannot be encoded (lone surrogates)."""
    cdef Py_ssize_t size
    try:
        PyUnicode_AsUTF8AndSize(text, &size)
    except UnicodeEncodeError:
        raise ValueError(f"instance format invalid: {field} is not valid text") from None
    return size


cdef inline char* _put_text(char* p, str text) noexcept:
    """Write u32 length + UTF-8 bytes (already validated by ``_utf8_size``)."""
    cdef Py_ssize_t size
    cdef const char* data = PyUnicode_AsUTF8AndSize(text, &size)
    put_u32(p, <uint32_t>size)
    memcpy(p + 4, data, size)
    return p + 4 + size


cdef dict _strings = {}


cdef str _intern(str text):
    """One shared object per distinct cluster name, app name or metadata key (bounded table)."""
    cdef PyObject* found = PyDict_GetItem(_strings, text)
    if found != NULL:
        return <str>found
    text = _exact(text)
    if len(_strings) >= _MAX_INTERNED_STRINGS:
        _strings.clear()
    _strings[text] = text
    return text


cdef int64_t _preserved_ms(object value, int64_t default):
    """Nacos ``^\\d+$`` (ASCII digits) or the default; huge values saturate below ``CORE_MAX_ABS_MS``."""
    cdef str text
    cdef Py_ssize_t i
    cdef Py_UCS4 c
    if value is None:
        return default
    text = <str>value
    if len(text) == 0:
        return default
    for c in text:
        if c < u'0' or c > u'9':
            return default
    text = text.lstrip(u'0')
    if len(text) == 0:
        return 0
    if len(text) > 19:
        return _MAX_MS
    return min(int(text), _MAX_MS)


# --- metadata ----------------------------------------------------------------------------------------

@cython.final
cdef class _Metadata(dict):
    """An instance's metadata: interned, shared, immutable (mutators raise ``TypeError``).

    Keys are in sorted order. ``dict(metadata)`` gives a mutable copy.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("metadata maps are made by Instance; use a plain dict")

    def __setitem__(self, key, value):
        raise TypeError(_IMMUTABLE)

    def __delitem__(self, key):
        raise TypeError(_IMMUTABLE)

    def __ior__(self, other):
        raise TypeError(_IMMUTABLE)

    def clear(self):
        raise TypeError(_IMMUTABLE)

    def pop(self, *args):
        raise TypeError(_IMMUTABLE)

    def popitem(self):
        raise TypeError(_IMMUTABLE)

    def setdefault(self, *args):
        raise TypeError(_IMMUTABLE)

    def update(self, *args, **kwargs):
        raise TypeError(_IMMUTABLE)

    def copy(self):
        """A mutable ``dict`` copy."""
        return dict(self)

    def __reduce__(self):
        return (dict, (dict(self),))


cdef dict _metadata_table = {}     # tuple(sorted items) -> _Metadata
cdef _Metadata _EMPTY_METADATA = _build_metadata([])


cdef _Metadata _build_metadata(list pairs):
    """A new ``_Metadata`` from sorted, type-checked ``(key, value)`` pairs."""
    cdef _Metadata metadata = _Metadata.__new__(_Metadata)
    cdef Py_ssize_t total = 4
    cdef bytes encoded
    cdef char* p
    cdef str key
    cdef str value
    for key, value in pairs:
        total += 8 + _utf8_size(key, "metadata key") + _utf8_size(value, "metadata value")
    for key, value in pairs:
        PyDict_SetItem(metadata, _intern(key), _exact(value))
    encoded = PyBytes_FromStringAndSize(NULL, total)
    p = PyBytes_AS_STRING(encoded)
    put_u32(p, <uint32_t>len(pairs))
    p += 4
    for key, value in pairs:
        p = _put_text(p, key)
        p = _put_text(p, value)
    metadata.digest = _xxh3(encoded)
    metadata.interval_ms = _preserved_ms(metadata.get("preserved.heart.beat.interval"), _DEFAULT_INTERVAL)
    metadata.timeout_ms = _preserved_ms(metadata.get("preserved.heart.beat.timeout"), _DEFAULT_TIMEOUT)
    metadata.delete_ms = _preserved_ms(metadata.get("preserved.ip.delete.timeout"), _DEFAULT_DELETE)
    return metadata


cdef _Metadata _intern_metadata(object metadata):
    """The shared ``_Metadata`` equal to ``metadata`` (a mapping of str to str, or None)."""
    cdef list pairs
    cdef tuple table_key
    cdef PyObject* found
    cdef _Metadata result
    if metadata is None:
        return _EMPTY_METADATA
    if type(metadata) is _Metadata:
        return <_Metadata>metadata
    if len(metadata) == 0:
        return _EMPTY_METADATA
    pairs = list(metadata.items())
    for key, value in pairs:
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError("metadata format incorrect: keys and values must be strings")
    pairs.sort()
    table_key = tuple(pairs)
    found = PyDict_GetItem(_metadata_table, table_key)
    if found != NULL:
        return <_Metadata>found
    result = _build_metadata(pairs)
    if len(_metadata_table) >= _MAX_INTERNED_METADATA:
        _metadata_table.clear()
    _metadata_table[table_key] = result
    return result


# --- Instance ----------------------------------------------------------------------------------------

cdef inline double _check_weight(double weight) except? -1.0:
    if not (isfinite(weight) and 0.0 <= weight <= _MAX_WEIGHT):
        raise ValueError(_WEIGHT_ERROR)
    return weight + 0.0   # -0.0 becomes 0.0: equal weights encode (and digest) identically


cdef inline str _check_cluster(object cluster):
    if not isinstance(cluster, str):
        raise TypeError("cluster must be a str")
    if len(<str>cluster) == 0:
        raise ValueError("instance format invalid: the cluster name is empty")
    _utf8_size(<str>cluster, "cluster")
    return _intern(<str>cluster)


cdef inline object _check_optional_text(object value, str field, bint intern):
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str or None")
    _utf8_size(<str>value, field)
    return _intern(<str>value) if intern else _exact(value)


cdef inline str _datum_key(str ip, int32_t port, str cluster):
    if port == 0:
        return f"{ip}:unknown:{cluster}"
    return f"{ip}:{port}:unknown:{cluster}"


cdef uint64_t _instance_digest(Instance inst) except? 0:
    """xxh3-64 of the canonical encoding: every field, length-prefixed, little-endian."""
    cdef Py_ssize_t total
    cdef bytes encoded
    cdef char* p
    cdef uint64_t weight_bits
    total = (1 + 4 + _utf8_size(inst._ip, "ip") + 4 + 4 + _utf8_size(inst._cluster, "cluster") + 8 + 1
             + 1 + 8)
    if inst._app is not None:
        total += 4 + _utf8_size(<str>inst._app, "app")
    if inst._instance_id is not None:
        total += 4 + _utf8_size(<str>inst._instance_id, "instance id")
    encoded = PyBytes_FromStringAndSize(NULL, total)
    p = PyBytes_AS_STRING(encoded)
    p[0] = <char>_ENCODING_VERSION
    p = _put_text(p + 1, inst._ip)
    put_u32(p, <uint32_t>inst._port)
    p = _put_text(p + 4, inst._cluster)
    memcpy(&weight_bits, &inst._weight, 8)
    put_u64(p, weight_bits)
    p[8] = <char>inst._flags
    p[9] = <char>((1 if inst._app is not None else 0) | (2 if inst._instance_id is not None else 0))
    p += 10
    if inst._app is not None:
        p = _put_text(p, <str>inst._app)
    if inst._instance_id is not None:
        p = _put_text(p, <str>inst._instance_id)
    put_u64(p, inst._metadata.digest)
    return _xxh3(encoded)


cdef Instance _copy_instance(Instance source):
    cdef Instance inst = Instance.__new__(Instance)
    inst._ip = source._ip
    inst._port = source._port
    inst._cluster = source._cluster
    inst._key = source._key
    inst._metadata = source._metadata
    inst._app = source._app
    inst._instance_id = source._instance_id
    inst._weight = source._weight
    inst._flags = source._flags
    return inst


cdef int _fill_instance(Instance inst, str ip, int32_t port, object cluster, double weight, uint8_t flags,
                        _Metadata metadata, object app, object instance_id) except -1:
    """Validate and set every field of a new instance (``ip`` not empty, ``port`` in 0..65535)."""
    _utf8_size(ip, "ip")
    inst._ip = _exact(ip)
    inst._port = port
    inst._cluster = _check_cluster(cluster)
    inst._weight = _check_weight(weight)
    inst._flags = flags
    inst._metadata = metadata
    inst._app = _check_optional_text(app, "app", True)
    inst._instance_id = _check_optional_text(instance_id, "instance id", False)
    inst._digest = _instance_digest(inst)
    inst._key = _datum_key(inst._ip, inst._port, inst._cluster)
    return 0


cdef Instance new_instance(str ip, int32_t port, str cluster, double weight, uint8_t flags,
                           _Metadata metadata, object app):
    """``Instance(ip, port, cluster, weight=..., <flags>, metadata=..., app=...)`` without the keyword
    parsing (the compiled request path); ``ip`` must not be empty and ``port`` must be in 0..65535, the
    rest is validated as the constructor does."""
    cdef Instance inst = Instance.__new__(Instance)
    _fill_instance(inst, ip, port, cluster, weight, flags, metadata, app, None)
    return inst


cdef _Metadata shared_metadata(object metadata):
    """The interned ``_Metadata`` equal to ``metadata`` (a mapping of str to str, or None); a
    ``ValueError`` when ``Instance`` would refuse it."""
    return _intern_metadata(metadata)


def _restore_instance(ip, port, cluster, weight, healthy, enabled, ephemeral, marked, metadata, app,
                      instance_id):
    """Unpickle helper."""
    return Instance(ip, port, cluster, weight=weight, healthy=healthy, enabled=enabled, ephemeral=ephemeral,
                    marked=marked, metadata=metadata, app=app, instance_id=instance_id)


@cython.final
@cython.no_gc
cdef class Instance:
    """An immutable service instance (Nacos ``Instance``); change one with :meth:`replace`."""

    def __cinit__(self):
        # Safe defaults for an object made by ``Instance.__new__`` alone: nothing may dereference None.
        self._metadata = _EMPTY_METADATA

    def __init__(self, str ip not None, port, cluster="DEFAULT", *, double weight=1.0, bint healthy=True,
                 bint enabled=True, bint ephemeral=True, bint marked=False, metadata=None, app=None,
                 instance_id=None):
        if self._key is not None:
            raise TypeError("Instance is immutable")
        if len(ip) == 0:
            raise ValueError("instance format invalid: the ip is empty")
        if not isinstance(port, int):
            raise TypeError("port must be an int")
        if not 0 <= port <= 65535:
            raise ValueError(f"instance format invalid: port {port} is outside 0..65535")
        _fill_instance(self, ip, <int32_t>port, cluster, weight,
                       ((_HEALTHY if healthy else 0) | (_ENABLED if enabled else 0)
                        | (_EPHEMERAL if ephemeral else 0) | (_MARKED if marked else 0)),
                       _intern_metadata(metadata), app, instance_id)

    @property
    def ip(self) -> str:
        return self._ip

    @property
    def port(self) -> int:
        return self._port

    @property
    def cluster(self) -> str:
        return self._cluster

    @property
    def weight(self) -> float:
        return self._weight

    @property
    def healthy(self) -> bool:
        return (self._flags & _HEALTHY) != 0

    @property
    def enabled(self) -> bool:
        return (self._flags & _ENABLED) != 0

    @property
    def ephemeral(self) -> bool:
        return (self._flags & _EPHEMERAL) != 0

    @property
    def marked(self) -> bool:
        return (self._flags & _MARKED) != 0

    @property
    def metadata(self):
        return self._metadata

    @property
    def app(self):
        return self._app

    @property
    def instance_id(self):
        """An explicit id (snowflake generator); ``None`` means the default id, see :meth:`id_in`."""
        return self._instance_id

    @property
    def key(self) -> str:
        """The Nacos datumKey: ``ip:port:unknown:cluster``, or ``ip:unknown:cluster`` for port 0."""
        return self._key

    @property
    def beat_interval_ms(self) -> int:
        """``preserved.heart.beat.interval`` when it is all digits, else the default."""
        return self._metadata.interval_ms

    @property
    def beat_timeout_ms(self) -> int:
        """``preserved.heart.beat.timeout`` when it is all digits, else the default."""
        return self._metadata.timeout_ms

    @property
    def delete_timeout_ms(self) -> int:
        """``preserved.ip.delete.timeout`` when it is all digits, else the default."""
        return self._metadata.delete_ms

    def id_in(self, str service_name not None) -> str:
        """The instanceId shown to clients: the explicit id, else ``ip#port#cluster#service_name``."""
        if self._instance_id is not None:
            return self._instance_id
        return f"{self._ip}#{self._port}#{self._cluster}#{service_name}"

    def replace(self, *, cluster=_MISSING, weight=_MISSING, healthy=_MISSING, enabled=_MISSING,
                ephemeral=_MISSING, marked=_MISSING, metadata=_MISSING, app=_MISSING,
                instance_id=_MISSING) -> Instance:
        """A copy with the given fields changed (validated like the constructor)."""
        cdef Instance inst = _copy_instance(self)
        if cluster is not _MISSING:
            inst._cluster = _check_cluster(cluster)
            if inst._cluster != self._cluster:
                inst._key = _datum_key(inst._ip, inst._port, inst._cluster)
        if weight is not _MISSING:
            inst._weight = _check_weight(weight)
        if healthy is not _MISSING:
            inst._flags = (inst._flags | _HEALTHY) if healthy else (inst._flags & ~_HEALTHY)
        if enabled is not _MISSING:
            inst._flags = (inst._flags | _ENABLED) if enabled else (inst._flags & ~_ENABLED)
        if ephemeral is not _MISSING:
            inst._flags = (inst._flags | _EPHEMERAL) if ephemeral else (inst._flags & ~_EPHEMERAL)
        if marked is not _MISSING:
            inst._flags = (inst._flags | _MARKED) if marked else (inst._flags & ~_MARKED)
        if metadata is not _MISSING:
            inst._metadata = _intern_metadata(metadata)
        if app is not _MISSING:
            inst._app = _check_optional_text(app, "app", True)
        if instance_id is not _MISSING:
            inst._instance_id = _check_optional_text(instance_id, "instance id", False)
        inst._digest = _instance_digest(inst)
        return inst

    cdef bint _same(self, Instance other):
        """Field-by-field equality (the digest is a fast negative)."""
        if self is other:
            return True
        return (self._digest == other._digest
                and self._port == other._port
                and self._flags == other._flags
                and self._weight == other._weight
                and self._ip == other._ip
                and self._cluster == other._cluster
                and self._app == other._app
                and self._instance_id == other._instance_id
                and (self._metadata is other._metadata or self._metadata == other._metadata))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instance):
            return NotImplemented
        return self._same(<Instance>other)

    def __hash__(self) -> int:
        return <Py_hash_t>(self._digest >> 1)

    def __repr__(self) -> str:
        return (f"Instance({self._ip!r}, {self._port}, {self._cluster!r}, weight={self._weight!r}, "
                f"healthy={self.healthy}, enabled={self.enabled}, ephemeral={self.ephemeral}, "
                f"marked={self.marked}, metadata={dict(self._metadata)!r}, app={self._app!r}, "
                f"instance_id={self._instance_id!r})")

    def __reduce__(self):
        return (_restore_instance, (self._ip, self._port, self._cluster, self._weight, self.healthy,
                                    self.enabled, self.ephemeral, self.marked, dict(self._metadata),
                                    self._app, self._instance_id))


cdef Instance _with_health(Instance source, bint healthy):
    cdef Instance inst = _copy_instance(source)
    inst._flags = (source._flags | _HEALTHY) if healthy else (source._flags & ~_HEALTHY)
    inst._digest = _instance_digest(inst)
    return inst


cdef inline void _share_strings(Instance fresh, Instance stored) noexcept:
    """Let a replacing instance reuse the stored one's key (and ip) objects: equal, so invisible."""
    fresh._key = stored._key
    if fresh._ip == stored._ip:
        fresh._ip = stored._ip


# --- _InstanceSet ------------------------------------------------------------------------------------

cdef list _chunk_numbers = list(range(1024))   # shared int objects for chunk numbers


cdef inline object _chunk_number(Py_ssize_t number):
    while len(_chunk_numbers) <= number:
        _chunk_numbers.append(len(_chunk_numbers))
    return _chunk_numbers[number]


cdef inline object _paged(tuple pages, Py_ssize_t number):
    """Item ``number`` of a paged tuple (a tuple of pages of ``PAGE_SIZE`` items)."""
    return (<tuple>pages[number >> PAGE_BITS])[number & PAGE_MASK]


@cython.final
@cython.no_gc
cdef class _InstanceSet:
    """An immutable insertion-ordered map key -> Instance (see the header comment)."""

    cdef Instance get(self, str key):
        cdef PyObject* found
        cdef PyObject* number
        cdef dict chunk
        if self._count == 0:
            return None
        if self._index is None:
            chunk = <dict>_paged(self._chunks, 0)
        else:
            number = PyDict_GetItem(<dict>_paged(self._index, hash(key) & self._bucket_mask), key)
            if number == NULL:
                return None
            chunk = <dict>_paged(self._chunks, <Py_ssize_t><object>number)
        found = PyDict_GetItem(chunk, key)
        if found == NULL:
            return None
        return <Instance>found

    cdef list to_list(self):
        cdef list result = []
        cdef tuple page
        cdef dict chunk
        for page in self._chunks:
            for chunk in page:
                result.extend(chunk.values())
        return result


cdef _InstanceSet _new_set(tuple chunks, Py_ssize_t chunk_count, tuple index, Py_ssize_t bucket_mask,
                           Py_ssize_t count, uint64_t digest):
    cdef _InstanceSet result = _InstanceSet.__new__(_InstanceSet)
    result._chunks = chunks
    result._chunk_count = chunk_count
    result._index = index
    result._bucket_mask = bucket_mask
    result._count = count
    result._digest = digest
    return result


cdef _InstanceSet _EMPTY_SET = _new_set((), 0, None, 0, 0, 0)


@cython.final
cdef class _Pages:
    """A builder's copy of a paged tuple: each page is copied (into a list) on its first write, so a
    write costs one page and the list of page references, whatever the length."""
    cdef list pages             # per page: the source's tuple (shared) or a list (owned)
    cdef set owned              # numbers of the pages already copied
    cdef Py_ssize_t length

    cdef object get(self, Py_ssize_t number):
        return self.pages[number >> PAGE_BITS][number & PAGE_MASK]

    cdef list _page(self, Py_ssize_t page_number):
        cdef list page
        if page_number in self.owned:
            return <list>self.pages[page_number]
        page = list(<tuple>self.pages[page_number])
        self.pages[page_number] = page
        self.owned.add(page_number)
        return page

    cdef int put(self, Py_ssize_t number, object value) except -1:
        self._page(number >> PAGE_BITS)[number & PAGE_MASK] = value
        return 0

    cdef int append(self, object value) except -1:
        if self.length & PAGE_MASK == 0:
            self.pages.append([value])
            self.owned.add(len(self.pages) - 1)
        else:
            self._page(self.length >> PAGE_BITS).append(value)
        self.length += 1
        return 0

    cdef tuple freeze(self):
        """The paged tuple: owned pages become tuples, the others are shared as they are."""
        cdef Py_ssize_t number
        for number in self.owned:
            self.pages[number] = tuple(<list>self.pages[number])
        self.owned = set()
        return tuple(self.pages)


cdef _Pages _pages_of(tuple frozen, Py_ssize_t length):
    """A builder's view of a paged tuple of ``length`` items (copies only the page references)."""
    cdef _Pages pages = _Pages.__new__(_Pages)
    pages.pages = list(frozen)
    pages.owned = set()
    pages.length = length
    return pages


cdef _Pages _pages_from(list items):
    """A fresh, fully owned paged array of ``items``."""
    cdef _Pages pages = _Pages.__new__(_Pages)
    cdef Py_ssize_t start
    pages.pages = [items[start:start + PAGE_SIZE] for start in range(0, len(items), PAGE_SIZE)]
    pages.owned = set(range(len(pages.pages)))
    pages.length = len(items)
    return pages


@cython.final
cdef class _SetBuilder:
    """A transient, mutable copy of an ``_InstanceSet``: copies each chunk/bucket on first write."""
    cdef _Pages chunks
    cdef _Pages index           # None while there is at most one chunk
    cdef Py_ssize_t bucket_mask # index buckets - 1 (a power of two minus one)
    cdef set own_chunks         # chunk numbers already copied by this builder
    cdef set own_buckets        # index bucket numbers already copied by this builder
    cdef Py_ssize_t count
    cdef uint64_t digest

    cdef dict _chunk(self, Py_ssize_t number):
        cdef dict chunk
        if number in self.own_chunks:
            return <dict>self.chunks.get(number)
        chunk = (<dict>self.chunks.get(number)).copy()
        self.chunks.put(number, chunk)
        self.own_chunks.add(number)
        return chunk

    cdef dict _bucket(self, Py_ssize_t number):
        cdef dict bucket
        if number in self.own_buckets:
            return <dict>self.index.get(number)
        bucket = (<dict>self.index.get(number)).copy()
        self.index.put(number, bucket)
        self.own_buckets.add(number)
        return bucket

    cdef int _rebuild_index(self, Py_ssize_t count) except -1:
        cdef Py_ssize_t size = 1
        cdef Py_ssize_t number
        cdef Py_ssize_t mask
        cdef list buckets
        cdef dict chunk
        while size * INDEX_BUCKET_KEYS < count:
            size *= 2
        mask = size - 1
        buckets = [{} for _ in range(size)]
        for number in range(self.chunks.length):
            chunk = <dict>self.chunks.get(number)
            value = _chunk_number(number)
            for key in chunk:
                PyDict_SetItem(<dict>buckets[hash(key) & mask], key, value)
        self.index = _pages_from(buckets)
        self.bucket_mask = mask
        self.own_buckets = set(range(size))
        return 0

    cdef Py_ssize_t _locate(self, str key) except -2:
        """The chunk number holding ``key``, or -1."""
        cdef PyObject* number
        if self.count == 0:
            return -1
        if self.index is None:
            return 0 if PyDict_GetItem(<dict>self.chunks.get(0), key) != NULL else -1
        number = PyDict_GetItem(<dict>self.index.get(hash(key) & self.bucket_mask), key)
        if number == NULL:
            return -1
        return <Py_ssize_t><object>number

    cdef Instance get(self, str key):
        cdef Py_ssize_t number = self._locate(key)
        if number < 0:
            return None
        return <Instance>(<dict>self.chunks.get(number))[key]

    cdef Instance put(self, Instance inst):
        """Upsert; the previous instance or None."""
        cdef str key = inst._key
        cdef Py_ssize_t number = self._locate(key)
        cdef Py_ssize_t last
        cdef dict chunk
        cdef Instance old
        if number >= 0:
            chunk = self._chunk(number)
            old = <Instance>chunk[key]
            chunk[key] = inst
            self.digest += inst._digest - old._digest
            return old
        last = self.chunks.length - 1
        if last >= 0 and len(<dict>self.chunks.get(last)) < CHUNK_SIZE:
            number = last
            self._chunk(number)[key] = inst
        else:
            number = last + 1
            self.chunks.append({key: inst})
            self.own_chunks.add(number)
        self.count += 1
        self.digest += inst._digest
        if self.index is None:
            if self.chunks.length > 1:
                self._rebuild_index(self.count)
        elif self.count > (self.bucket_mask + 1) * 2 * INDEX_BUCKET_KEYS:
            self._rebuild_index(self.count)
        else:
            self._bucket(hash(key) & self.bucket_mask)[key] = _chunk_number(number)
        return None

    cdef Instance remove(self, str key):
        """Remove; the removed instance or None."""
        cdef Py_ssize_t number = self._locate(key)
        cdef Instance old
        if number < 0:
            return None
        old = <Instance>self._chunk(number).pop(key)
        self.count -= 1
        self.digest -= old._digest
        if self.index is not None:
            del self._bucket(hash(key) & self.bucket_mask)[key]
        return old

    cdef _InstanceSet freeze(self):
        cdef Py_ssize_t needed
        cdef Py_ssize_t number
        cdef list packed
        cdef dict chunk
        cdef dict current
        if self.count == 0:
            return _EMPTY_SET
        needed = (self.count + CHUNK_SIZE - 1) // CHUNK_SIZE
        if self.chunks.length > 2 * needed + 1:
            packed = []
            current = {}
            for number in range(self.chunks.length):
                chunk = <dict>self.chunks.get(number)
                for key, value in chunk.items():
                    if len(current) == CHUNK_SIZE:
                        packed.append(current)
                        current = {}
                    current[key] = value
            packed.append(current)
            self.chunks = _pages_from(packed)
            self.own_chunks = set(range(len(packed)))
            if len(packed) > 1:
                self._rebuild_index(self.count)
            else:
                self.index = None
                self.bucket_mask = 0
        return _new_set(self.chunks.freeze(), self.chunks.length,
                        None if self.index is None else self.index.freeze(), self.bucket_mask,
                        self.count, self.digest)


cdef _SetBuilder _builder(_InstanceSet source):
    cdef _SetBuilder builder = _SetBuilder.__new__(_SetBuilder)
    builder.chunks = _pages_of(source._chunks, source._chunk_count)
    builder.index = None if source._index is None else _pages_of(source._index, source._bucket_mask + 1)
    builder.bucket_mask = source._bucket_mask
    builder.own_chunks = set()
    builder.own_buckets = set()
    builder.count = source._count
    builder.digest = source._digest
    return builder


cdef _InstanceSet _set_from_list(list instances):
    """A fresh set holding ``instances`` (unique keys) in order."""
    cdef _SetBuilder builder = _builder(_EMPTY_SET)
    cdef Instance inst
    for inst in instances:
        builder.put(inst)
    return builder.freeze()


# --- Service, Change ---------------------------------------------------------------------------------

@cython.final
cdef class Service:
    """One immutable snapshot of a service: its instances, revision, digests and app attributes."""

    def __cinit__(self):
        self._ephemeral = _EMPTY_SET
        self._persistent = _EMPTY_SET

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def name(self) -> str:
        """The grouped name, ``group@@service``."""
        return self._name

    @property
    def revision(self) -> int:
        """Registry-wide monotonically increasing; a new value on every change of this service."""
        return self._revision

    @property
    def ephemeral_digest(self) -> int:
        """Order-independent xxh3-64 digest of the ephemeral instance set (0 when empty)."""
        return self._ephemeral._digest

    @property
    def persistent_digest(self) -> int:
        """Order-independent xxh3-64 digest of the persistent instance set (0 when empty)."""
        return self._persistent._digest

    @property
    def meta(self):
        """Service attributes owned by the application (threshold, metadata, selector, clusters)."""
        return self._meta

    @property
    def ephemeral_count(self) -> int:
        return self._ephemeral._count

    @property
    def persistent_count(self) -> int:
        return self._persistent._count

    def __len__(self) -> int:
        """All instances, ephemeral and persistent."""
        return self._ephemeral._count + self._persistent._count

    def __repr__(self) -> str:
        return (f"<Service {self._namespace}/{self._name} revision={self._revision} "
                f"ephemeral={self._ephemeral._count} persistent={self._persistent._count}>")

    def instances(self, ephemeral=None) -> list:
        """Instances in insertion order: ephemeral ones, persistent ones, or (``None``) both."""
        cdef list result
        if ephemeral is None:
            result = self._ephemeral.to_list()
            result.extend(self._persistent.to_list())
            return result
        return (self._ephemeral if ephemeral else self._persistent).to_list()

    def get(self, str key not None, bint ephemeral):
        """The instance with this datumKey in the ephemeral or persistent set."""
        return (self._ephemeral if ephemeral else self._persistent).get(key)

    def clusters(self) -> list:
        """Sorted names of the clusters that hold at least one instance."""
        cdef set names
        cdef Instance inst
        if self._clusters is None:
            names = set()
            for inst in self._ephemeral.to_list():
                names.add(inst._cluster)
            for inst in self._persistent.to_list():
                names.add(inst._cluster)
            self._clusters = sorted(names)
        return list(self._clusters)

    def cached(self, variant):
        """A value memoized on this snapshot for ``variant``, or ``None``."""
        cdef PyObject* found
        if self._cache is None:
            hash(variant)  # an unhashable variant is a TypeError, cached or not
            return None
        found = PyDict_GetItemWithError(self._cache, variant)
        if found == NULL:
            return None
        return <object>found

    def cache(self, variant, value) -> None:
        """Memoize ``value`` (an encoded response) on this snapshot; ignored past the cap."""
        if self._cache is None:
            self._cache = {}
        if len(self._cache) < _MAX_CACHED or variant in self._cache:
            self._cache[variant] = value


cdef Service _new_service(str namespace, str name, int64_t revision, object meta,
                          _InstanceSet ephemeral, _InstanceSet persistent):
    cdef Service service = Service.__new__(Service)
    service._namespace = namespace
    service._name = name
    service._revision = revision
    service._meta = meta
    service._ephemeral = ephemeral
    service._persistent = persistent
    return service


@cython.final
cdef class Change:
    """What one write did: the new snapshot, and the instance before/after for single writes."""

    @property
    def service(self) -> Service:
        """The snapshot after the write (for a removed service: its last snapshot)."""
        return self._service

    @property
    def before(self):
        return self._before

    @property
    def after(self):
        return self._after

    @property
    def service_removed(self) -> bool:
        return self._removed

    def __repr__(self) -> str:
        return (f"<Change {self._service!r} before={self._before!r} after={self._after!r}"
                f"{' removed' if self._removed else ''}>")


cdef Change _new_change(Service service, Instance before, Instance after, bint removed):
    cdef Change change = Change.__new__(Change)
    change._service = service
    change._before = before
    change._after = after
    change._removed = removed
    return change


cdef inline _InstanceSet _set_of(Service service, bint ephemeral):
    if service is None:
        return _EMPTY_SET
    return service._ephemeral if ephemeral else service._persistent


cdef inline int _check_instance(object inst) except -1:
    if not isinstance(inst, Instance):
        raise TypeError(f"expected an Instance, got {type(inst).__name__}")
    if (<Instance>inst)._key is None:
        raise TypeError("the Instance was never initialized")
    return 0


cdef list _checked_instances(object instances):
    cdef list result = list(instances)
    for inst in result:
        _check_instance(inst)
    return result


# --- Registry ----------------------------------------------------------------------------------------

@cython.final
cdef class Registry:
    """namespace → grouped name → ``Service`` snapshot. Writes swap in new snapshots."""

    def __cinit__(self):
        self._namespaces = {}
        self._revision = 0
        self._service_count = 0
        self._instance_count = 0

    def __repr__(self) -> str:
        return f"<Registry services={self._service_count} instances={self._instance_count}>"

    cdef Service _lookup(self, str namespace, str name):
        cdef PyObject* services = PyDict_GetItem(self._namespaces, namespace)
        cdef PyObject* found
        if services == NULL:
            return None
        found = PyDict_GetItem(<dict>services, name)
        if found == NULL:
            return None
        return <Service>found

    cdef Service _install(self, str namespace, str name, Service old, object meta,
                          _InstanceSet ephemeral, _InstanceSet persistent):
        cdef dict services
        cdef Service service
        if old is not None:
            namespace = old._namespace
            name = old._name
        else:
            namespace = _exact(namespace)
            name = _exact(name)
        self._revision += 1
        service = _new_service(namespace, name, self._revision, meta, ephemeral, persistent)
        services = self._namespaces.get(namespace)
        if services is None:
            services = {}
            self._namespaces[namespace] = services
        services[name] = service
        if old is None:
            self._service_count += 1
        else:
            self._instance_count -= old._ephemeral._count + old._persistent._count
        self._instance_count += ephemeral._count + persistent._count
        return service

    def get(self, str namespace not None, str name not None):
        """The current snapshot, or ``None``."""
        return self._lookup(namespace, name)

    def namespaces(self) -> list:
        """Sorted ids of namespaces holding at least one service."""
        return sorted(self._namespaces)

    def services(self, str namespace not None) -> list:
        """Sorted grouped names of the services in ``namespace``."""
        services = self._namespaces.get(namespace)
        return [] if services is None else sorted(services)

    @property
    def service_count(self) -> int:
        return self._service_count

    @property
    def instance_count(self) -> int:
        """All instances in all services, ephemeral and persistent."""
        return self._instance_count

    def ensure_service(self, str namespace not None, str name not None, meta) -> Service:
        """The existing snapshot, or a new empty service created with ``meta``."""
        cdef Service old = self._lookup(namespace, name)
        if old is not None:
            return old
        return self._install(namespace, name, None, meta, _EMPTY_SET, _EMPTY_SET)

    def set_meta(self, str namespace not None, str name not None, meta) -> Change:
        """Create the service or replace its attributes; always a new revision."""
        cdef Service old = self._lookup(namespace, name)
        return _new_change(
            self._install(namespace, name, old, meta, _set_of(old, True), _set_of(old, False)),
            None, None, False)

    def remove_service(self, str namespace not None, str name not None):
        """Drop the service and all its instances; ``None`` if it did not exist."""
        cdef Service old = self._lookup(namespace, name)
        cdef dict services
        if old is None:
            return None
        services = <dict>self._namespaces[namespace]
        del services[name]
        if not services:
            del self._namespaces[namespace]
        self._service_count -= 1
        self._instance_count -= old._ephemeral._count + old._persistent._count
        return _new_change(old, None, None, True)

    def put_instance(self, str namespace not None, str name not None, Instance instance not None, meta):
        """Upsert by ``(ephemeral, key)``, creating the service with ``meta`` if it is missing.

        ``None`` when an equal instance was already stored (no new revision).
        """
        cdef Service old
        cdef bint ephemeral
        cdef _InstanceSet current
        cdef Instance before
        cdef _SetBuilder builder
        cdef _InstanceSet updated
        _check_instance(instance)
        old = self._lookup(namespace, name)
        ephemeral = (instance._flags & _EPHEMERAL) != 0
        current = _set_of(old, ephemeral)
        before = current.get(instance._key)
        if before is not None:
            if before._same(instance):
                return None
            _share_strings(instance, before)
        builder = _builder(current)
        builder.put(instance)
        updated = builder.freeze()
        return _new_change(
            self._install(namespace, name, old, meta if old is None else old._meta,
                          updated if ephemeral else _set_of(old, True),
                          _set_of(old, False) if ephemeral else updated),
            before, instance, False)

    def put_instances(self, str namespace not None, str name not None, instances, meta):
        """Upsert many instances as one write and one revision; ``None`` if none changed."""
        cdef list batch = _checked_instances(instances)
        cdef Service old = self._lookup(namespace, name)
        cdef _SetBuilder eph_builder = None
        cdef _SetBuilder pers_builder = None
        cdef _SetBuilder builder
        cdef dict originals = {}      # (ephemeral, key) -> instance before the batch (or None)
        cdef Instance inst
        cdef Instance previous
        cdef bint ephemeral
        cdef bint changed = False
        for inst in batch:
            ephemeral = (inst._flags & _EPHEMERAL) != 0
            if ephemeral:
                if eph_builder is None:
                    eph_builder = _builder(_set_of(old, True))
                builder = eph_builder
            else:
                if pers_builder is None:
                    pers_builder = _builder(_set_of(old, False))
                builder = pers_builder
            previous = builder.get(inst._key)
            if previous is not None:
                if previous._same(inst):
                    continue
                _share_strings(inst, previous)
            originals.setdefault((ephemeral, inst._key), previous)
            builder.put(inst)
        for (ephemeral, key), previous in originals.items():
            inst = (eph_builder if ephemeral else pers_builder).get(key)
            if previous is None or not previous._same(inst):
                changed = True
                break
        if not changed:
            return None
        return _new_change(
            self._install(namespace, name, old, meta if old is None else old._meta,
                          _set_of(old, True) if eph_builder is None else eph_builder.freeze(),
                          _set_of(old, False) if pers_builder is None else pers_builder.freeze()),
            None, None, False)

    def remove_instance(self, str namespace not None, str name not None, str key not None, bint ephemeral):
        """Remove one instance; ``None`` when the service or instance does not exist."""
        cdef Service old = self._lookup(namespace, name)
        cdef _InstanceSet current
        cdef _SetBuilder builder
        cdef _InstanceSet updated
        cdef Instance before
        if old is None:
            return None
        current = _set_of(old, ephemeral)
        if current.get(key) is None:
            return None
        builder = _builder(current)
        before = builder.remove(key)
        updated = builder.freeze()
        return _new_change(
            self._install(namespace, name, old, old._meta,
                          updated if ephemeral else old._ephemeral,
                          old._persistent if ephemeral else updated),
            before, None, False)

    def replace_instances(self, str namespace not None, str name not None, bint ephemeral, instances, meta):
        """Make the ephemeral (or persistent) set exactly ``instances`` (replication apply).

        Instances already stored keep their place; new keys follow in the given order; a later
        duplicate key wins. ``None`` when the set already holds exactly these instances.
        """
        cdef list batch = _checked_instances(instances)
        cdef Service old = self._lookup(namespace, name)
        cdef _InstanceSet current = _set_of(old, ephemeral)
        cdef dict wanted = {}
        cdef list ordered = []
        cdef Instance inst
        cdef Instance stored
        cdef _InstanceSet updated
        cdef bint changed
        for inst in batch:
            if ((inst._flags & _EPHEMERAL) != 0) != ephemeral:
                raise ValueError("replace_instances: an instance's ephemeral flag does not match the set")
            wanted[inst._key] = inst
        changed = len(wanted) != current._count
        if not changed:
            for key, inst in wanted.items():
                stored = current.get(key)
                if stored is None or not stored._same(inst):
                    changed = True
                    break
        if not changed:
            return None
        for stored in current.to_list():
            inst = wanted.pop(stored._key, None)
            if inst is not None:
                if stored._same(inst):
                    ordered.append(stored)
                else:
                    _share_strings(inst, stored)
                    ordered.append(inst)
        ordered.extend(wanted.values())
        updated = _set_from_list(ordered)
        return _new_change(
            self._install(namespace, name, old, meta if old is None else old._meta,
                          updated if ephemeral else _set_of(old, True),
                          _set_of(old, False) if ephemeral else updated),
            None, None, False)

    def set_healthy(self, str namespace not None, str name not None, str key not None, bint ephemeral,
                    bint healthy):
        """Flip one instance's health; ``None`` when missing or already in that state."""
        cdef Service old = self._lookup(namespace, name)
        cdef _InstanceSet current
        cdef Instance before
        cdef Instance after
        cdef _SetBuilder builder
        cdef _InstanceSet updated
        if old is None:
            return None
        current = _set_of(old, ephemeral)
        before = current.get(key)
        if before is None or ((before._flags & _HEALTHY) != 0) == healthy:
            return None
        after = _with_health(before, healthy)
        builder = _builder(current)
        builder.put(after)
        updated = builder.freeze()
        return _new_change(
            self._install(namespace, name, old, old._meta,
                          updated if ephemeral else old._ephemeral,
                          old._persistent if ephemeral else updated),
            before, after, False)
