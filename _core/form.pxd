# Reading query strings the way the Python path does, for the compiled request path.
#
# Only the plain cases are read here; every function answers "leave it to the Python path" (0, -1 or
# None) for anything whose reading takes judgement: an escaped key, an escape of a non-ASCII octet
# (UTF-8 validity), a value ``String.trim`` would change. Inline functions, shared by the modules that
# cimport this file (fastpath, writes).

from libc.string cimport memcmp

# Which parameter a raw key (``buf[start:end]``) names, 0..count-1; -1 for any other (ignored) key.
ctypedef int (*ParamOf)(const char* buf, Py_ssize_t start, Py_ssize_t end) noexcept


cdef inline bint key_is(const char* buf, Py_ssize_t start, Py_ssize_t end, const char* name,
                        Py_ssize_t length) noexcept:
    """Whether the raw key ``buf[start:end]`` is exactly ``name`` (``length`` octets)."""
    return end - start == length and memcmp(buf + start, name, length) == 0


cdef inline int hex_digit(unsigned char c) noexcept:
    if c >= b'0' and c <= b'9':
        return c - 48  # '0'
    if c >= b'a' and c <= b'f':
        return c - 87  # 'a' is 10
    if c >= b'A' and c <= b'F':
        return c - 55  # 'A' is 10
    return -1


cdef inline int scan_query(const char* buf, Py_ssize_t start, Py_ssize_t end, Py_ssize_t* spans,
                           int count, ParamOf param_of) noexcept:
    """Find the first value of each of ``count`` parameters (``spans[2*p]``, ``spans[2*p+1]``; -1 when
    absent); 0 when the query needs the Python path: a key with an escape or a ``+``, or an escape of a
    non-ASCII octet anywhere (its UTF-8 validity is the Python path's to judge)."""
    cdef Py_ssize_t i = start
    cdef Py_ssize_t pair_start
    cdef Py_ssize_t key_end
    cdef int param
    cdef unsigned char c
    cdef int high
    cdef int low
    for param in range(2 * count):
        spans[param] = -1
    while i <= end:
        pair_start = i
        key_end = -1
        while i < end and buf[i] != b'&':
            c = <unsigned char>buf[i]
            if c == b'=' and key_end < 0:
                key_end = i
            elif c == b'%':
                if key_end < 0:
                    return 0
                if i + 2 < end:
                    high = hex_digit(<unsigned char>buf[i + 1])
                    low = hex_digit(<unsigned char>buf[i + 2])
                    if high >= 8 and low >= 0:
                        return 0
            elif c == b'+' and key_end < 0:
                return 0
            i += 1
        if key_end < 0:
            key_end = i
        param = param_of(buf, pair_start, key_end)
        if param >= 0 and spans[2 * param] < 0:
            spans[2 * param] = key_end + 1 if key_end < i else i
            spans[2 * param + 1] = i
        i += 1
    return 1


cdef inline str decoded(const char* buf, Py_ssize_t start, Py_ssize_t end, bint inner_blanks):
    """A form value: ``%XX`` escapes (ASCII only, checked by ``scan_query``) and ``+`` as space;
    ``None`` if it holds a character ``String.trim`` would remove (the Python path trims) — with
    ``inner_blanks``, only at either end."""
    cdef bytearray out
    cdef Py_ssize_t i = start
    cdef unsigned char c
    cdef int high
    cdef int low
    out = bytearray()
    while i < end:
        c = <unsigned char>buf[i]
        if c == b'%' and i + 2 < end:
            high = hex_digit(<unsigned char>buf[i + 1])
            low = hex_digit(<unsigned char>buf[i + 2])
            if high >= 0 and low >= 0:
                c = <unsigned char>(high * 16 + low)
                i += 2
        elif c == b'+':
            c = b' '
        if c <= 0x20 and not (inner_blanks and len(out)):
            return None
        out.append(c)
        i += 1
    if len(out) and out[len(out) - 1] <= 0x20:
        return None
    return out.decode("ascii")


cdef inline str value_or(const char* buf, Py_ssize_t* spans, int param, str default):
    """A parameter's decoded value; ``default`` when absent or empty (None: the Python path trims)."""
    cdef Py_ssize_t start = spans[2 * param]
    cdef Py_ssize_t end = spans[2 * param + 1]
    if start < 0 or start == end:
        return default
    return decoded(buf, start, end, False)


cdef inline str ipv4(const char* buf, Py_ssize_t start, Py_ssize_t end):
    """The value when it is plain dotted IPv4 (four decimal octets up to 255), else None."""
    cdef Py_ssize_t i
    cdef int octets = 0
    cdef int digits = 0
    cdef int value = 0
    cdef unsigned char c
    if start < 0 or end - start > 15:
        return None
    for i in range(start, end + 1):
        c = <unsigned char>buf[i] if i < end else b'.'
        if c == b'.':
            if digits == 0 or value > 255:
                return None
            octets += 1
            digits = value = 0
        elif c >= b'0' and c <= b'9':
            digits += 1
            value = value * 10 + (c - 48)
            if digits > 3:
                return None
        else:
            return None
    if octets != 4:
        return None
    return buf[start:end].decode("ascii")


cdef inline int port_of(const char* buf, Py_ssize_t start, Py_ssize_t end) noexcept:
    """A port of 1..5 decimal digits up to 65535 (absent or empty: 0); -1 for anything else."""
    cdef Py_ssize_t i
    cdef int value = 0
    cdef unsigned char c
    if start < 0 or start == end:
        return 0
    if end - start > 5:
        return -1
    for i in range(start, end):
        c = <unsigned char>buf[i]
        if c < b'0' or c > b'9':
            return -1
        value = value * 10 + (c - 48)
    return value if value <= 65535 else -1
