"""The compiled request path: request bytes in, response bytes out, for the hottest request shapes.

See ``_core/fastpath.pyx`` for the contract: it answers only light beats, cached lists and ephemeral (de)registrations it fully
understands, byte-identically to the Python path, and stops at anything else; ``enabled`` (or a
``gate`` returning False) switches it off for a node.
"""

from collections.abc import Callable, Hashable
from typing import Any, Final, final

from nacosfast._core.registry import Instance
from nacosfast._core.writes import WriteReader

ROUTE_BEAT: Final[int]
ROUTE_LIST: Final[int]
ROUTE_REGISTER: Final[int]
ROUTE_DEREGISTER: Final[int]
ROUTE_NAMES: Final[tuple[str, str, str, str]]

@final
class FastPath:
    """Answers light beats and cached lists of one node from request bytes."""

    enabled: bool
    def __init__(
        self,
        state: Any,
        *,
        resolve_beat: Callable[[bytes], tuple[str, str, str, Hashable] | None],
        after_beat: Callable[[str, str, str, Instance, int, int], None],
        beat_body: Callable[[int, bool], bytes],
        writes: WriteReader,
        upsert: Callable[[str, str, Instance, int], object],
        remove: Callable[[str, str, str, int], object],
        register: Callable[[bytes, int], bool],
        deregister: Callable[[bytes, int], bool],
        list_subscribes: Callable[[Any, Any], bool],
        subscribe: Callable[[Any, str, str, int], None],
        list_tag: str,
        max_head_bytes: int,
        max_header_fields: int,
        memo_limit: int,
        gate: Callable[[], bool] | None = None,
        members: object | None = None,
        owner_of: Callable[[str, str], str | None] | None = None,
        relay_beat: Callable[[str, str, str, str], None] | None = None,
    ) -> None: ...
    def counts(self) -> dict[str, int]:
        """Requests answered here so far, by route name."""

    def serve(
        self,
        data: bytes,
        now_ms: int,
        wall_ms: int,
        date_line: bytes,
        max_requests: int,
        peer_ip: str,
    ) -> tuple[bytes, int, int, bool]:
        """``(out, consumed, answered, closing)`` for the leading requests of ``data`` handled here;
        ``peer_ip`` is the address the connection comes from (push subscribers are aimed at it)."""
