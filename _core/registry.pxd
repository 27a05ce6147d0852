# Copy-on-write service registry. See registry.pyx for the data structure.

cimport cython
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t


cdef enum:
    # Instance._flags bits (shared with the compiled request path, which reads them directly).
    _HEALTHY = 1
    _ENABLED = 2
    _EPHEMERAL = 4
    _MARKED = 8


@cython.final
cdef class _Metadata(dict):
    """An interned, immutable metadata map (a dict subclass whose mutators raise)."""
    cdef int64_t interval_ms      # preserved.heart.beat.interval, parsed once
    cdef int64_t timeout_ms       # preserved.heart.beat.timeout
    cdef int64_t delete_ms        # preserved.ip.delete.timeout
    cdef uint64_t digest          # xxh3-64 of the canonical encoding of the sorted items


@cython.final
@cython.no_gc
cdef class Instance:
    cdef str _ip
    cdef str _cluster             # interned
    cdef str _key                 # datumKey; shared with the snapshot dict's key once stored
    cdef _Metadata _metadata      # interned
    cdef object _app              # str (interned) or None
    cdef object _instance_id      # str or None
    cdef double _weight
    cdef uint64_t _digest         # xxh3-64 of the canonical encoding; the set digests sum these
    cdef int32_t _port
    cdef uint8_t _flags           # _HEALTHY | _ENABLED | _EPHEMERAL | _MARKED

    cdef bint _same(self, Instance other)


@cython.final
@cython.no_gc
cdef class _InstanceSet:
    cdef tuple _chunks            # pages of dicts key -> Instance; insertion order = chunk order, then dict order
    cdef Py_ssize_t _chunk_count  # chunks in the pages
    cdef tuple _index             # pages of dicts key -> chunk number, by hash(key) & mask; None for <= 1 chunk
    cdef Py_ssize_t _bucket_mask  # index buckets - 1 (0 without an index)
    cdef Py_ssize_t _count
    cdef uint64_t _digest         # sum of the instances' digests, mod 2**64

    cdef Instance get(self, str key)
    cdef list to_list(self)


@cython.final
cdef class Service:
    cdef str _namespace
    cdef str _name
    cdef int64_t _revision
    cdef object _meta
    cdef _InstanceSet _ephemeral
    cdef _InstanceSet _persistent
    cdef dict _cache              # variant -> memoized value; None until the first ``cache``
    cdef list _clusters           # sorted cluster names; None until the first ``clusters``


cdef Instance new_instance(str ip, int32_t port, str cluster, double weight, uint8_t flags,
                           _Metadata metadata, object app)
cdef _Metadata shared_metadata(object metadata)


@cython.final
cdef class Change:
    cdef Service _service
    cdef Instance _before
    cdef Instance _after
    cdef bint _removed


@cython.final
cdef class Registry:
    cdef dict _namespaces         # namespace -> {grouped name -> Service}; no empty inner dicts
    cdef int64_t _revision        # the last revision handed out
    cdef Py_ssize_t _service_count
    cdef Py_ssize_t _instance_count

    cdef Service _lookup(self, str namespace, str name)
    cdef Service _install(self, str namespace, str name, Service old, object meta,
                          _InstanceSet ephemeral, _InstanceSet persistent)
