"""The disk cache and the failover directory (Nacos ``DiskCache`` and ``FailoverReactor`` files).

Layout, the same as the Java client's, so operators' tooling for one works for the other::

    <cache_dir>/<key>                  one file per service selection, rewritten on every change
    <cache_dir>/failover/<key>         the backup taken every 24 h, served while failover is on
    <cache_dir>/failover/00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00
                                       the switch: "1" serves reads from the failover files, "0" not

``<key>`` is the URL-encoded cache key ``group@@service[@@clusters]`` (``%40%40`` for ``@@``), and a
file holds the service as JSON (a list answer plus ``groupName``).

Invariants: a file is replaced atomically (written under a temporary name starting with ``.`` in the
same directory, then renamed over the old one), so a reader sees the old or the new file, never a
mix. Files are not fsync'd: after a power cut a file may be lost or empty, and a file that does not
parse is skipped on load — the cache is a fallback, the servers hold the truth.
"""

from __future__ import annotations

import contextlib
import os  # noqa: TID251 - the disk cache owns its files (cache, failover backup, switch)
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final
from urllib.parse import quote

from nacosfast.client.errors import InvalidResponse
from nacosfast.client.limits import MAX_CACHE_FILE_BYTES
from nacosfast.client.model import ServiceInfo

FAILOVER_DIR: Final = "failover"
SWITCH_FILE: Final = "00-00---000-VIPSRV_FAILOVER_SWITCH-000---00-00"
"""The Java client's failover switch file name (``UtilAndComs.FAILOVER_SWITCH``)."""


def file_name(key: str) -> str:
    """The file name of a cache key (URL-encoded; never starts with ``.``)."""
    return quote(key, safe="")


def write_atomic(directory: Path, name: str, data: bytes) -> None:
    """Replace ``directory/name`` with ``data`` in one rename."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name[:64]}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, directory / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_service(directory: Path, info: ServiceInfo) -> None:
    """Write one service's file."""
    write_atomic(directory, file_name(info.key), info.encode())


def write_all(directory: Path, infos: Iterable[ServiceInfo]) -> int:
    """Write every service (a failover backup); how many files were written."""
    written = 0
    for info in infos:
        write_service(directory, info)
        written += 1
    return written


def read_service(path: Path) -> ServiceInfo | None:
    """One cache file, or ``None`` if it is unreadable, too large or not a service."""
    try:
        if path.stat().st_size > MAX_CACHE_FILE_BYTES:
            return None
        return ServiceInfo.decode(path.read_bytes())
    except (OSError, InvalidResponse):
        return None


def load_dir(directory: Path, limit: int) -> list[ServiceInfo]:
    """Every readable service file directly in ``directory`` (at most ``limit``), skipping temporary
    files, the switch file and sub-directories."""
    found: list[ServiceInfo] = []
    try:
        with os.scandir(directory) as iterator:
            entries = sorted(iterator, key=lambda entry: entry.name)
    except OSError:
        return found
    for entry in entries:
        if len(found) >= limit:
            break
        if entry.name.startswith(".") or entry.name == SWITCH_FILE:
            continue
        with contextlib.suppress(OSError):
            if not entry.is_file(follow_symlinks=False):
                continue
            info = read_service(Path(entry.path))
            if info is not None:
                found.append(info)
    return found


def switch_on(directory: Path) -> bool:
    """Whether ``<failover dir>/<switch file>`` says ``1`` (a missing or unreadable file is off)."""
    try:
        with (directory / SWITCH_FILE).open("rb") as handle:
            text = handle.read(64)
    except OSError:
        return False
    return text.strip() == b"1"


def has_backup(directory: Path) -> bool:
    """Whether the failover directory holds any service file."""
    try:
        with os.scandir(directory) as entries:
            return any(not entry.name.startswith(".") and entry.name != SWITCH_FILE for entry in entries)
    except OSError:
        return False
