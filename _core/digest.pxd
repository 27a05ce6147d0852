# Digest tables for anti-entropy. See digest.pyx for the layout and the message format.

cimport cython
from libc.stdint cimport int64_t, uint64_t


@cython.final
cdef class _Entry:
    cdef int64_t version
    cdef uint64_t digest


@cython.final
cdef class DigestTable:
    cdef dict _entries        # key (str) -> _Entry, mutated in place by ``set``
