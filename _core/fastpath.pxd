# The compiled request path. See fastpath.pyx for the contract.

cimport cython
from libc.stdint cimport int64_t

from nacosfast._core.beats cimport BeatTable
from nacosfast._core.registry cimport Registry


@cython.final
cdef class FastPath:
    cdef public bint enabled
    cdef object _state
    cdef Registry _registry
    cdef BeatTable _beats
    cdef object _resolve_beat     # query bytes -> (namespace, name, key, beat key) or None
    cdef object _check_names      # (namespace, grouped name, cluster) -> whether all three are valid
    cdef dict _checked_names      # (namespace, grouped name, cluster) -> bool
    cdef object _after_beat       # the naming layer's effects of an untracked or revived beat
    cdef object _beat_body        # (interval, light) -> the encoded beat reply (fills the node's memo)
    cdef object _register         # (query, now_ms) -> True once an ephemeral instance is registered
    cdef object _deregister       # (query, now_ms) -> True once an ephemeral instance is deregistered
    cdef object _gate             # () -> bool, or None
    cdef object _members          # cluster: whose ``version`` changes with ownership; None: owns all
    cdef object _owns             # cluster: (namespace, grouped name) -> whether this node owns it
    cdef dict _owned              # (namespace, grouped name) -> bool, under ``_owned_version``
    cdef object _owned_version
    cdef str _list_tag            # the list render cache's variant tag
    cdef dict _beat_targets       # query bytes -> resolved target, or False (not a light beat)
    cdef dict _framed_answers     # (fixed body, Connection kind) -> the whole answer, for _framed_date
    cdef object _framed_date      # the Date line _framed_answers were framed with
    cdef Py_ssize_t _memo_limit
    cdef Py_ssize_t _max_head
    cdef Py_ssize_t _max_fields
    cdef Py_ssize_t[4] _answered

    cdef bint _open(self) except -1
    cdef object _light_target(self, const char* buf, Py_ssize_t start, Py_ssize_t end)
    cdef bint _owned_here(self, str namespace, str name) except -1
    cdef object _beat(self, const char* buf, Py_ssize_t start, Py_ssize_t end, int64_t now_ms)
    cdef bint _write(self, bytes query, bint register, int64_t now_ms) except -1
    cdef object _list(self, bytes query, str agent, int64_t wall_ms)
    cdef bytes _framed(self, bytes date_line, bytes body, int connection)
