"""The ``metadata`` parameter (spec §2.4): JSON ``Map<String,String>``, else ``k1=v1,k2=v2``."""

from __future__ import annotations

import json
import math

from nacosfast.errors import BadRequest
from nacosfast.limits import MAX_METADATA_BYTES, MAX_METADATA_ENTRIES, MAX_METADATA_VALUE_LENGTH


def _scalar_text(value: object) -> str | None:
    """Jackson's scalar-to-String coercion; ``None`` for values it would refuse (objects, arrays)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return None


def parse_metadata(raw: str) -> dict[str, str]:
    """Parse a ``metadata`` parameter; blank is ``{}``; anything malformed or oversized is 400."""
    text = raw.strip()
    if not text:
        return {}
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise BadRequest(f"metadata format incorrect: larger than {MAX_METADATA_BYTES} bytes")
    result: dict[str, str] = {}
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        decoded = None
    if isinstance(decoded, dict):
        for key, value in decoded.items():
            converted = None if value is None else _scalar_text(value)
            if converted is None:
                raise BadRequest(f"metadata format incorrect:{text[:256]}")
            result[key] = converted
    else:
        for element in text.split(","):
            parts = element.split("=")
            if len(parts) != 2:
                raise BadRequest(f"metadata format incorrect:{text[:256]}")
            result[parts[0]] = parts[1]
    check_metadata(result)
    return result


def check_metadata(metadata: dict[str, str]) -> None:
    """Bounds on entries and on each key and value."""
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise BadRequest(f"metadata format incorrect: more than {MAX_METADATA_ENTRIES} entries")
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_VALUE_LENGTH or len(value) > MAX_METADATA_VALUE_LENGTH:
            raise BadRequest(
                f"metadata format incorrect: a key or value is longer than {MAX_METADATA_VALUE_LENGTH}"
            )
