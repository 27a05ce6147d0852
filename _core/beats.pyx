# cython: language_level=3, autotestdict=False, auto_pickle=False
"""Heartbeat table: last-beat time per tracked instance, in int64 ms of an injected monotonic clock."""

# Layout
# ------
# Every tracked key owns a *slot*: an index into four parallel C arrays
#
#     _last[slot]     int64  last beat (ms)              \
#     _timeout[slot]  int64  unhealthy once now-last > it  } 25 bytes a slot, no Python objects
#     _delete[slot]   int64  expired once now-last > it   /
#     _state[slot]    uint8  FREE / HEALTHY / UNHEALTHY (= reported unhealthy by sweep)
#
# plus ``_slots`` (dict key -> slot) and ``_keys`` (list slot -> key, to report keys from sweep).
# Freed slots form an intrusive free list threaded through ``_last`` (a free slot's ``_last`` holds the
# next free slot, -1 ends the list), so untrack/track reuse slots without any side allocation.
#
# ``beat`` is one dict lookup and one store; it allocates nothing. ``sweep`` walks slots [0, _used) once,
# touching only the C arrays, and allocates only the lists of keys it reports. Arrays grow by doubling
# and never shrink (their size is the high-water mark of tracked keys).

cimport cython
from cpython.dict cimport PyDict_DelItem, PyDict_GetItemWithError, PyDict_SetItem
from cpython.list cimport PyList_GET_ITEM
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, realloc
from libc.string cimport memset

from nacosfast import limits as _limits

BEAT_UNKNOWN = 0
BEAT_OK = 1
BEAT_REVIVED = 2

cdef enum:
    _UNKNOWN = 0
    _OK = 1
    _REVIVED = 2

cdef enum:
    _FREE = 0
    _HEALTHY = 1
    _UNHEALTHY = 2

cdef int64_t _MAX_ABS_MS = _limits.CORE_MAX_ABS_MS
cdef Py_ssize_t _MIN_CAPACITY = 16


cdef inline int _check_time(int64_t value, str what) except -1:
    if value <= -_MAX_ABS_MS or value >= _MAX_ABS_MS:
        raise ValueError(f"{what} out of range: {value}")
    return 0


cdef inline int _check_timeout(int64_t value, str what) except -1:
    if value < 0 or value >= _MAX_ABS_MS:
        raise ValueError(f"{what} out of range: {value}")
    return 0


@cython.final
cdef class BeatTable:
    """Tracks when each instance last beat and reports health transitions on ``sweep``."""

    def __cinit__(self, Py_ssize_t capacity_hint=1024):
        self._slots = {}
        self._keys = []
        self._last = NULL
        self._timeout = NULL
        self._delete = NULL
        self._state = NULL
        self._capacity = 0
        self._used = 0
        self._free_head = -1
        self._reserve(max(capacity_hint, _MIN_CAPACITY))

    def __init__(self, capacity_hint: int = 1024) -> None:
        pass

    def __dealloc__(self):
        free(self._last)
        free(self._timeout)
        free(self._delete)
        free(self._state)

    cdef int _reserve(self, Py_ssize_t capacity) except -1:
        cdef int64_t* last
        cdef int64_t* timeout
        cdef int64_t* delete
        cdef uint8_t* state
        if capacity <= self._capacity:
            return 0
        # Grow one array at a time and store each result at once, so a failed realloc leaves the table
        # consistent (some arrays merely larger than ``_capacity``).
        last = <int64_t*>realloc(self._last, capacity * sizeof(int64_t))
        if last == NULL:
            raise MemoryError()
        self._last = last
        timeout = <int64_t*>realloc(self._timeout, capacity * sizeof(int64_t))
        if timeout == NULL:
            raise MemoryError()
        self._timeout = timeout
        delete = <int64_t*>realloc(self._delete, capacity * sizeof(int64_t))
        if delete == NULL:
            raise MemoryError()
        self._delete = delete
        state = <uint8_t*>realloc(self._state, capacity * sizeof(uint8_t))
        if state == NULL:
            raise MemoryError()
        self._state = state
        memset(&self._state[self._capacity], _FREE, capacity - self._capacity)
        self._capacity = capacity
        return 0

    cdef Py_ssize_t _slot_of(self, object key) except -2:
        """The key's slot, or -1 when untracked."""
        # ``except? NULL`` in Cython's declaration: an unhashable key's TypeError propagates (as -2).
        cdef PyObject* found = PyDict_GetItemWithError(self._slots, key)
        if found == NULL:
            return -1
        return <Py_ssize_t><object>found

    cdef void _release(self, Py_ssize_t slot) noexcept:
        """Free ``slot`` (its dict entry must already be gone)."""
        self._keys[slot] = None
        self._state[slot] = _FREE
        self._last[slot] = self._free_head
        self._free_head = slot

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    def track(self, key: object, int64_t now_ms, int64_t timeout_ms, int64_t delete_ms, bint healthy=True) -> None:
        """Start tracking ``key`` (or reset it): last beat ``now_ms``, the given per-instance timeouts.

        ``healthy=False`` tracks it as already reported unhealthy (the next beat revives it).
        """
        cdef Py_ssize_t slot
        _check_time(now_ms, "now_ms")
        _check_timeout(timeout_ms, "timeout_ms")
        _check_timeout(delete_ms, "delete_ms")
        slot = self._slot_of(key)
        if slot < 0:
            if self._free_head >= 0:
                slot = self._free_head
                self._free_head = self._last[slot]
                self._keys[slot] = key
            else:
                if self._used == self._capacity:
                    self._reserve(self._capacity * 2)
                slot = self._used
                self._keys.append(key)
                self._used += 1
            try:
                PyDict_SetItem(self._slots, key, slot)
            except BaseException:
                self._release(slot)
                raise
        self._last[slot] = now_ms
        self._timeout[slot] = timeout_ms
        self._delete[slot] = delete_ms
        self._state[slot] = _HEALTHY if healthy else _UNHEALTHY

    def untrack(self, key: object) -> bool:
        """Stop tracking ``key``; ``False`` if it was not tracked."""
        cdef Py_ssize_t slot = self._slot_of(key)
        if slot < 0:
            return False
        PyDict_DelItem(self._slots, key)
        self._release(slot)
        return True

    cpdef int beat(self, object key, int64_t now_ms) except -1:
        """Record a beat: ``BEAT_UNKNOWN``, ``BEAT_OK`` or ``BEAT_REVIVED``. O(1), no allocation."""
        cdef Py_ssize_t slot
        _check_time(now_ms, "now_ms")
        slot = self._slot_of(key)
        if slot < 0:
            return _UNKNOWN
        self._last[slot] = now_ms
        if self._state[slot] == _UNHEALTHY:
            self._state[slot] = _HEALTHY
            return _REVIVED
        return _OK

    def last_beat(self, key: object) -> int | None:
        """The monotonic ms of the last beat, or ``None`` if untracked."""
        cdef Py_ssize_t slot = self._slot_of(key)
        if slot < 0:
            return None
        return self._last[slot]

    def is_healthy(self, key: object) -> bool | None:
        """Health as this table sees it, or ``None`` if untracked."""
        cdef Py_ssize_t slot = self._slot_of(key)
        if slot < 0:
            return None
        return self._state[slot] == _HEALTHY

    def set_timeouts(self, key: object, int64_t timeout_ms, int64_t delete_ms) -> bool:
        """Change one key's timeouts (metadata update); ``False`` if untracked."""
        cdef Py_ssize_t slot
        _check_timeout(timeout_ms, "timeout_ms")
        _check_timeout(delete_ms, "delete_ms")
        slot = self._slot_of(key)
        if slot < 0:
            return False
        self._timeout[slot] = timeout_ms
        self._delete[slot] = delete_ms
        return True

    def touch_all(self, int64_t now_ms) -> None:
        """Set every key's last beat to ``now_ms`` (a node taking over services)."""
        cdef Py_ssize_t slot
        _check_time(now_ms, "now_ms")
        for slot in range(self._used):
            if self._state[slot] != _FREE:
                self._last[slot] = now_ms

    def sweep(self, int64_t now_ms) -> tuple[list[object], list[object]]:
        """``(became_unhealthy, expired)`` since the last sweep. Expired keys are untracked and not
        also listed as unhealthy. Allocates only for keys it reports."""
        cdef list unhealthy = []
        cdef list expired = []
        cdef Py_ssize_t slot
        cdef int64_t elapsed
        cdef uint8_t state
        cdef object key
        _check_time(now_ms, "now_ms")
        for slot in range(self._used):
            state = self._state[slot]
            if state == _FREE:
                continue
            elapsed = now_ms - self._last[slot]
            if elapsed > self._delete[slot]:
                key = <object>PyList_GET_ITEM(self._keys, slot)
                expired.append(key)
                PyDict_DelItem(self._slots, key)
                self._release(slot)
            elif state == _HEALTHY and elapsed > self._timeout[slot]:
                self._state[slot] = _UNHEALTHY
                unhealthy.append(<object>PyList_GET_ITEM(self._keys, slot))
        return unhealthy, expired
