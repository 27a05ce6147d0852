# cython: language_level=3, autotestdict=False, auto_pickle=False
"""Digest tables for anti-entropy: key → (version, digest), diffed against a peer's table."""

# Layout
# ------
# ``DigestTable._entries`` is a dict ``key (str) -> _Entry`` where ``_Entry`` is a 32-byte object with a
# C int64 version and a C uint64 digest. ``set`` on an existing key writes the two C fields in place;
# ``diff`` walks the remote dict with PyDict_Next and compares C fields, so diffing 100k keys costs two
# dict probes per key and allocates only the reported key lists.
#
# Message (before compression; all integers little-endian)
# -------------------------------------------------------
#     magic   4 bytes  b"NFD1"
#     count   uint32   number of entries
#     count × { version int64, digest uint64, key_len uint32, key: key_len bytes of UTF-8 }
#
# Keys are written sorted and unique. The whole message is one zstd frame (level 1) that records its
# content size. ``decode`` refuses a frame without a content size or larger than ``max_bytes`` before
# decompressing anything, refuses trailing data after the frame, checks every length against the
# buffer, requires strict UTF-8 and unique keys, and raises ``ValueError`` for any violation.

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_Next, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from nacosfast._core.byteorder cimport get_u32, get_u64, put_u32, put_u64

import zstandard

from nacosfast import limits as _limits

MAX_DIGEST_MESSAGE_BYTES = _limits.CORE_MAX_DIGEST_MESSAGE_BYTES

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object unicode, Py_ssize_t* size) except NULL
    PyObject* PyDict_SetDefault(object mapping, object key, object default) except NULL  # borrowed

cdef bytes _MAGIC = b"NFD1"
cdef Py_ssize_t _HEADER_SIZE = 8
cdef Py_ssize_t _ENTRY_HEAD_SIZE = 20
cdef int _COMPRESSION_LEVEL = 1
cdef uint64_t _MAX_COUNT = 0xFFFFFFFF


cdef inline _Entry _new_entry(int64_t version, uint64_t digest):
    cdef _Entry entry = _Entry.__new__(_Entry)
    entry.version = version
    entry.digest = digest
    return entry


@cython.final
cdef class _Entry:
    """One (version, digest) pair; private to this module."""


@cython.final
cdef class DigestTable:
    """key (str) → (version int64, digest uint64)."""

    def __cinit__(self):
        self._entries = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __repr__(self) -> str:
        return f"<DigestTable of {len(self._entries)} keys>"

    def set(self, str key not None, int64_t version, uint64_t digest) -> None:
        """Store ``key`` → ``(version, digest)``; ``ValueError`` for a key that is not valid text."""
        cdef Py_ssize_t size
        cdef PyObject* found = PyDict_GetItem(self._entries, key)
        cdef _Entry entry
        if found != NULL:
            entry = <_Entry>found
            entry.version = version
            entry.digest = digest
            return
        PyUnicode_AsUTF8AndSize(key, &size)  # lone surrogates cannot go on the wire: fail here, not in encode
        if <uint64_t>size > _MAX_COUNT:
            raise ValueError("digest key too long")
        PyDict_SetItem(self._entries, key, _new_entry(version, digest))

    def get(self, key: str) -> tuple[int, int] | None:
        """``(version, digest)`` for ``key``, or ``None``."""
        cdef PyObject* found = PyDict_GetItem(self._entries, key)
        cdef _Entry entry
        if found == NULL:
            return None
        entry = <_Entry>found
        return (entry.version, entry.digest)

    def remove(self, key: str) -> bool:
        """Drop ``key``; ``False`` if it was absent."""
        return self._entries.pop(key, None) is not None

    def keys(self) -> list[str]:
        """Sorted keys."""
        return sorted(self._entries)

    def encode(self, keys=None) -> bytes:
        """The zstd-compressed digest message for ``keys`` (all keys when ``None``; unknown keys skipped)."""
        cdef list selected
        cdef Py_ssize_t total = _HEADER_SIZE
        cdef Py_ssize_t size
        cdef Py_ssize_t i
        cdef const char* text
        cdef bytes raw
        cdef uint8_t* out
        cdef _Entry entry
        cdef PyObject* found
        if keys is None:
            selected = sorted(self._entries.items())
        else:
            selected = []
            for key in set(keys):
                found = PyDict_GetItem(self._entries, key)
                if found != NULL:
                    selected.append((key, <object>found))
            selected.sort()
        if <uint64_t>len(selected) > _MAX_COUNT:
            raise ValueError("too many keys for one digest message")
        for key, _ in selected:
            PyUnicode_AsUTF8AndSize(key, &size)
            total += _ENTRY_HEAD_SIZE + size
        raw = PyBytes_FromStringAndSize(NULL, total)
        out = <uint8_t*>PyBytes_AS_STRING(raw)
        memcpy(out, PyBytes_AS_STRING(_MAGIC), 4)
        put_u32(out + 4, <uint32_t>len(selected))
        out += _HEADER_SIZE
        for key, entry in selected:
            text = PyUnicode_AsUTF8AndSize(key, &size)
            put_u64(out, <uint64_t>entry.version)
            put_u64(out + 8, entry.digest)
            put_u32(out + 16, <uint32_t>size)
            memcpy(out + _ENTRY_HEAD_SIZE, text, size)
            out += _ENTRY_HEAD_SIZE + size
        return zstandard.ZstdCompressor(level=_COMPRESSION_LEVEL).compress(raw)

    def diff(self, DigestTable remote not None) -> tuple[list[str], list[str]]:
        """``(to_fetch, to_delete)`` against the owner's ``remote`` table, both sorted.

        Fetch a key the remote has and we lack, or whose version or digest differs; delete a key we
        hold that the remote does not list.
        """
        cdef list to_fetch = []
        cdef list to_delete = []
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t matched = 0
        cdef PyObject* key
        cdef PyObject* value
        cdef PyObject* mine
        cdef _Entry theirs
        cdef _Entry ours
        while PyDict_Next(remote._entries, &pos, &key, &value):
            mine = PyDict_GetItem(self._entries, <object>key)
            if mine == NULL:
                to_fetch.append(<object>key)
                continue
            matched += 1
            theirs = <_Entry>value
            ours = <_Entry>mine
            if theirs.version != ours.version or theirs.digest != ours.digest:
                to_fetch.append(<object>key)
        if matched < len(self._entries):
            # Some local key is not in the remote table (otherwise every local key was matched).
            pos = 0
            while PyDict_Next(self._entries, &pos, &key, &value):
                if PyDict_GetItem(remote._entries, <object>key) == NULL:
                    to_delete.append(<object>key)
        to_fetch.sort()
        to_delete.sort()
        return to_fetch, to_delete


def decode(data, max_bytes: int = MAX_DIGEST_MESSAGE_BYTES) -> DigestTable:
    """Parse an ``encode`` message; ``ValueError`` if it is malformed or too large."""
    cdef object content_size
    cdef bytes raw
    cdef const uint8_t* p
    cdef Py_ssize_t n
    cdef Py_ssize_t pos
    cdef uint64_t count
    cdef uint64_t i
    cdef uint64_t key_len
    cdef int64_t version
    cdef uint64_t digest
    cdef _Entry entry
    cdef DigestTable table = DigestTable.__new__(DigestTable)
    cdef dict entries = table._entries
    try:
        content_size = zstandard.frame_content_size(data)
    except zstandard.ZstdError as error:
        raise ValueError(f"digest message: not a zstd frame ({error})") from None
    if content_size < 0:
        raise ValueError("digest message: the zstd frame does not record its content size")
    if content_size > max_bytes:
        raise ValueError(f"digest message too large: {content_size} bytes > {max_bytes}")
    try:
        raw = zstandard.ZstdDecompressor().decompress(data, allow_extra_data=False)
    except zstandard.ZstdError as error:
        raise ValueError(f"digest message: bad zstd data ({error})") from None
    n = PyBytes_GET_SIZE(raw)
    if n != content_size:
        raise ValueError("digest message: content size mismatch")
    p = <const uint8_t*>PyBytes_AS_STRING(raw)
    if n < _HEADER_SIZE or raw[:4] != _MAGIC:
        raise ValueError("digest message: bad header")
    count = get_u32(p + 4)
    if count > <uint64_t>((n - _HEADER_SIZE) // _ENTRY_HEAD_SIZE):
        raise ValueError("digest message: entry count exceeds the message")
    pos = _HEADER_SIZE
    for i in range(count):
        if n - pos < _ENTRY_HEAD_SIZE:
            raise ValueError("digest message: truncated entry")
        version = <int64_t>get_u64(p + pos)
        digest = get_u64(p + pos + 8)
        key_len = get_u32(p + pos + 16)
        pos += _ENTRY_HEAD_SIZE
        if key_len > <uint64_t>(n - pos):
            raise ValueError("digest message: truncated key")
        try:
            key = PyUnicode_DecodeUTF8(<const char*>(p + pos), <Py_ssize_t>key_len, "strict")
        except UnicodeDecodeError:
            raise ValueError("digest message: a key is not UTF-8") from None
        pos += <Py_ssize_t>key_len
        entry = _new_entry(version, digest)
        if PyDict_SetDefault(entries, key, entry) != <PyObject*>entry:
            raise ValueError("digest message: duplicate key")
    if pos != n:
        raise ValueError("digest message: trailing bytes")
    return table
