"""The ``metadata`` parameter (compatibility.md §2.4): JSON ``Map<String,String>``, else ``k1=v1,k2=v2``.

Both forms are read as Nacos reads them: Jackson turns a JSON number into a ``String`` value as it was
written (``1.50`` stays ``"1.50"``), and the ``k=v`` form is cut with Java's ``String.split``, which
drops trailing empty strings (``a=b,`` is ``{a: b}``; ``a=`` is malformed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, NoReturn

from nacosfast.errors import BadRequest
from nacosfast.limits import MAX_METADATA_BYTES, MAX_METADATA_ENTRIES, MAX_METADATA_VALUE_LENGTH


def _refuse_constant(name: str) -> NoReturn:
    """Jackson refuses ``NaN`` and ``Infinity`` (not JSON); so does this decoder."""
    raise ValueError(f"{name} is not a JSON value")


_EXACT_DECODER: Final = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=_refuse_constant)
"""Built once: ``json.loads`` with hooks builds a decoder on every call (most of the cost of ``{}``).
A ``JSONDecoder`` holds only its configuration; decoding changes nothing in it."""


def loads_exact(text: str) -> Any:
    """``json.loads`` with every number kept as its literal text (how Jackson fills a ``String``)."""
    if text.startswith("\ufeff"):  # what json.loads refuses before decoding
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _EXACT_DECODER.decode(text)


def java_split(text: str, separator: str) -> list[str]:
    """Java ``String.split(separator)``: trailing empty strings dropped; no match gives ``[text]``."""
    if separator not in text:
        return [text]
    parts = text.split(separator)
    while parts and not parts[-1]:
        parts.pop()
    return parts


def metadata_from_json(value: Mapping[str, Any], raw: str) -> dict[str, str]:
    """A decoded (``loads_exact``) JSON object as ``Map<String,String>``; nested or null values are 400."""
    if len(raw.encode()) > MAX_METADATA_BYTES:
        raise BadRequest(f"metadata format incorrect: larger than {MAX_METADATA_BYTES} bytes")
    result: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            result[key] = "true" if item else "false"
        elif isinstance(item, str):
            result[key] = item
        else:
            raise BadRequest(f"metadata format incorrect:{raw[:256]}")
    check_metadata(result)
    return result


def parse_metadata(raw: str) -> dict[str, str]:
    """Parse a ``metadata`` parameter; blank is ``{}``; anything malformed or oversized is 400."""
    text = raw.strip()
    if not text:
        return {}
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise BadRequest(f"metadata format incorrect: larger than {MAX_METADATA_BYTES} bytes")
    try:
        decoded = loads_exact(text)
    except (ValueError, RecursionError):
        decoded = None
    if isinstance(decoded, dict):
        return metadata_from_json(decoded, text)
    result: dict[str, str] = {}
    for element in java_split(text, ","):
        parts = java_split(element, "=")
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
