"""Registrations and deregistrations of ephemeral instances read from a plain query, in compiled code.

See ``_core/writes.pyx``: it reads what ``POST``/``DELETE /instance`` would read from the same query,
or answers ``None`` for anything but the plain, valid, ephemeral case (the Python reader's then).
"""

from collections.abc import Callable, Mapping
from typing import final

from nacosfast._core.registry import Instance

@final
class WriteReader:
    """Reads plain register and deregister queries of ephemeral instances."""

    def __init__(
        self,
        check_names: Callable[[str, str, str], bool],
        *,
        parse_metadata: Callable[[str], Mapping[str, str] | None],
        memo_limit: int,
        metadata_memo_chars: int,
    ) -> None: ...
    def registration(self, query: bytes, default_ephemeral: bool) -> tuple[str, str, Instance] | None:
        """``(namespace, grouped name, Instance)`` of a plain registration, else None."""

    def deregistration(self, query: bytes, default_ephemeral: bool) -> tuple[str, str, str] | None:
        """``(namespace, grouped name, datumKey)`` of a plain deregistration, else None."""
