# Little-endian integers in byte buffers, shared by the core's binary encodings (the registry's
# instance digests, the digest-table message). Header-only: inline functions compile into each user.
from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef inline void put_u32(void* out, uint32_t v) noexcept:
    cdef uint8_t* p = <uint8_t*>out
    cdef int i
    for i in range(4):
        p[i] = <uint8_t>(v >> (8 * i))


cdef inline void put_u64(void* out, uint64_t v) noexcept:
    cdef uint8_t* p = <uint8_t*>out
    cdef int i
    for i in range(8):
        p[i] = <uint8_t>(v >> (8 * i))


cdef inline uint32_t get_u32(const void* data) noexcept:
    cdef const uint8_t* p = <const uint8_t*>data
    cdef uint32_t v = 0
    cdef int i
    for i in range(4):
        v |= (<uint32_t>p[i]) << (8 * i)
    return v


cdef inline uint64_t get_u64(const void* data) noexcept:
    cdef const uint8_t* p = <const uint8_t*>data
    cdef uint64_t v = 0
    cdef int i
    for i in range(8):
        v |= (<uint64_t>p[i]) << (8 * i)
    return v
