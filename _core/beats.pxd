# Heartbeat table: C arrays indexed by slot, a dict from key to slot. See beats.pyx for the layout.

cimport cython
from libc.stdint cimport int64_t, uint8_t


@cython.final
cdef class BeatTable:
    cdef dict _slots          # key -> slot (int)
    cdef list _keys           # slot -> key; None while the slot is free
    cdef int64_t* _last       # slot -> last beat (ms); for a free slot: the next free slot, or -1
    cdef int64_t* _timeout    # slot -> unhealthy after (ms)
    cdef int64_t* _delete     # slot -> expired after (ms)
    cdef uint8_t* _state      # slot -> FREE / HEALTHY / UNHEALTHY
    cdef Py_ssize_t _capacity  # length of the C arrays
    cdef Py_ssize_t _used      # slots [0, _used) have been handed out at least once
    cdef Py_ssize_t _free_head  # first free slot below _used, or -1

    cdef int _reserve(self, Py_ssize_t capacity) except -1
    cdef Py_ssize_t _slot_of(self, object key) except -2
    cdef void _release(self, Py_ssize_t slot) noexcept
    cpdef int beat(self, object key, int64_t now_ms) except -1
