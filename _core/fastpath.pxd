# The compiled request path. See fastpath.pyx for the contract.

cimport cython
from libc.stdint cimport int64_t

from nacosfast._core.beats cimport BeatTable
from nacosfast._core.registry cimport Registry
from nacosfast._core.writes cimport WriteReader


@cython.final
cdef class FastPath:
    cdef public bint enabled
    cdef object _state
    cdef Registry _registry
    cdef BeatTable _beats
    cdef object _resolve_beat     # query bytes -> (namespace, name, key, beat key) or None
    cdef object _after_beat       # the naming layer's effects of an untracked or revived beat
    cdef object _beat_body        # (interval, light) -> the encoded beat reply (fills the node's memo)
    cdef WriteReader _writes      # reads plain register/deregister queries; judges names (memoized)
    cdef object _upsert           # (namespace, name, Instance, now_ms): the naming layer's register write
    cdef object _remove           # (namespace, name, datumKey, now_ms): its ephemeral deregister write
    cdef object _register         # (query, now_ms) -> True once an ephemeral instance is registered
    cdef object _deregister       # (query, now_ms) -> True once an ephemeral instance is deregistered
    cdef object _list_subscribes  # (list query, client info) -> whether the list subscribes for push
    cdef object _subscribe        # (list query, agent, peer ip, now_ms): add or refresh its subscriber
    cdef object _gate             # () -> bool, or None
    cdef object _members          # cluster: whose ``version`` changes with ownership; None: owns all
    cdef object _owner_of         # cluster: (namespace, grouped name) -> owner address, None: this node
    cdef object _relay_beat       # cluster: (owner, namespace, grouped name, key) -> None
    cdef dict _owners             # (namespace, grouped name) -> owner_of's answer, under ``_owners_version``
    cdef object _owners_version
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
    cdef object _owner(self, str namespace, str name)
    cdef object _beat(self, const char* buf, Py_ssize_t start, Py_ssize_t end, int64_t now_ms)
    cdef bint _write(self, const char* buf, Py_ssize_t start, Py_ssize_t end, bint register,
                     int64_t now_ms) except -1
    cdef object _list(self, bytes query, str agent, str peer_ip, int64_t now_ms, int64_t wall_ms)
    cdef bytes _framed(self, bytes date_line, bytes body, int connection)
