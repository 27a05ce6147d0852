"""Member lists as Nacos writes them: ``cluster.conf``, the address server's answer, ``--members``.

One member per line as ``ip[:port]`` (port 8848 if omitted); ``#`` starts a comment, also at the end
of a line; several members on one line may be separated by commas (compatibility.md §9.1). Lines may end in
``\\n`` or ``\\r\\n``. The result is sorted and free of duplicates.
"""

from __future__ import annotations

from nacosfast.limits import DEFAULT_MEMBER_PORT, MAX_MEMBER_LIST_BYTES, MAX_MEMBERS

__all__ = ["check_address", "parse_member_list"]

_MAX_PORT = 65535


def check_address(entry: str, default_port: int = DEFAULT_MEMBER_PORT) -> str:
    """``host:port`` of one entry (``host`` alone gets ``default_port``); ``ValueError`` if malformed."""
    host, colon, port_text = entry.rpartition(":")
    if not colon:
        host, port_text = entry, str(default_port)
    if not host or any(char.isspace() or char in "/@[]" for char in host):
        raise ValueError(f"not a member address (host[:port]): {entry[:128]!r}")
    if not port_text.isdigit() or not 0 < int(port_text) <= _MAX_PORT:
        raise ValueError(f"not a member port (1..{_MAX_PORT}): {entry[:128]!r}")
    return f"{host}:{int(port_text)}"


def parse_member_list(text: str, default_port: int = DEFAULT_MEMBER_PORT) -> tuple[str, ...]:
    """The sorted, distinct member addresses in ``text``; ``ValueError`` naming the first bad entry."""
    if len(text) > MAX_MEMBER_LIST_BYTES:
        raise ValueError(f"member list longer than {MAX_MEMBER_LIST_BYTES} bytes")
    found: set[str] = set()
    for line in text.splitlines():
        for raw_entry in line.partition("#")[0].split(","):
            entry = raw_entry.strip()
            if entry:
                found.add(check_address(entry, default_port))
    if len(found) > MAX_MEMBERS:
        raise ValueError(f"too many members: {len(found)} (at most {MAX_MEMBERS})")
    return tuple(sorted(found))
