# Plain register/deregister queries read in compiled code. See writes.pyx.

cimport cython

from nacosfast._core.registry cimport _Metadata


@cython.final
cdef class WriteReader:
    cdef object _check_names      # (namespace, grouped name, cluster) -> whether all three are valid
    cdef object _parse_metadata   # metadata text -> dict, or None when the naming layer refuses it
    cdef dict _checked_names      # (namespace, grouped name, cluster) -> bool
    cdef dict _metadata           # metadata text -> interned _Metadata, or False (not read here)
    cdef Py_ssize_t _memo_limit
    cdef Py_ssize_t _metadata_memo_chars

    cdef object read_registration(self, const char* buf, Py_ssize_t start, Py_ssize_t end,
                                  bint default_ephemeral)
    cdef object read_deregistration(self, const char* buf, Py_ssize_t start, Py_ssize_t end,
                                    bint default_ephemeral)
    cdef bint names_valid(self, tuple names) except -1
    cdef object _address(self, const char* buf, Py_ssize_t start, Py_ssize_t end, bint default_ephemeral,
                         Py_ssize_t* spans)
    cdef object _names(self, const char* buf, Py_ssize_t* spans)
    cdef _Metadata _metadata_of(self, const char* buf, Py_ssize_t* spans)
