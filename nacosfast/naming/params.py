"""Reading request parameters the way Nacos does (compatibility.md §1.2–1.3), with bounds Nacos lacks.

``Params.required``/``optional`` follow ``WebUtils`` (``String.trim``; empty means missing); ``raw``
follows Spring ``@RequestParam`` (untrimmed). Values are parsed by ``nacosfast.javaparse``; every failure
is a ``BadRequest`` with Nacos's message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

from nacosfast.errors import BadRequest, required_param
from nacosfast.javaparse import (
    INT_MAX,
    INT_MIN,
    commons_bool,
    java_bool,
    java_trim,
    parse_java_double,
    parse_java_int,
    spring_bool,
)
from nacosfast.limits import MAX_NAME_LENGTH

_QUOTE_LIMIT: Final = 64
"""Characters of a refused value quoted back in the error message."""


class Params:
    """A view over one request's parameters."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def raw(self, key: str, default: str = "") -> str:
        """The untrimmed value (Spring ``@RequestParam``); empty or missing gives ``default``."""
        value = self._values.get(key)
        return default if value is None or value == "" else value

    def required(self, key: str) -> str:
        """``WebUtils.required``: trimmed; missing or empty is 400 ``Param '<key>' is required.``."""
        value = self._values.get(key)
        if value is None:
            raise required_param(key)
        value = java_trim(value)
        if not value:
            raise required_param(key)
        return value

    def optional(self, key: str, default: str = "") -> str:
        """``WebUtils.optional``: trimmed; missing, empty or blank gives ``default``."""
        value = self._values.get(key)
        if value is None:
            return default
        value = java_trim(value)
        return value if value else default

    def first(self, *keys: str, default: str = "") -> str:
        """The first non-blank of several aliases (``clusterName`` then ``cluster``), trimmed."""
        for key in keys:
            value = self.optional(key)
            if value:
                return value
        return default

    def commons_bool(self, key: str, default: bool) -> bool:
        """An optional commons-lang3 boolean (``enabled``, ``healthy``, ``ephemeral`` ...)."""
        value = self.optional(key)
        return commons_bool(value) if value else default

    def java_bool(self, key: str, default: bool = False) -> bool:
        """An optional ``Boolean.parseBoolean`` boolean (``healthyOnly``, ``isCheck`` ...)."""
        value = self.optional(key)
        return java_bool(value) if value else default

    def spring_bool(self, key: str, default: bool = False) -> bool:
        """A Spring ``@RequestParam boolean``: true/on/yes/1 or false/off/no/0, else 400."""
        value = self.optional(key)
        if not value:
            return default
        parsed = spring_bool(value)
        if parsed is None:
            raise BadRequest(f"Invalid boolean value for '{key}': {value.lower()}")
        return parsed

    def integer(
        self, key: str, default: int | None = None, *, low: int = INT_MIN, high: int = INT_MAX
    ) -> int:
        """``Integer.parseInt`` of a trimmed value within ``[low, high]``; missing and no default is 400."""
        value = self.optional(key)
        if not value:
            if default is None:
                raise required_param(key)
            return default
        return parse_int(key, value, low, high)

    def number(self, key: str, default: float | None = None) -> float:
        """``Double.parseDouble`` of a trimmed value; NaN and infinities are refused with 400."""
        value = self.optional(key)
        if not value:
            if default is None:
                raise required_param(key)
            return default
        return parse_float(key, value)

    def name(self, key: str, default: str | None = None, *, limit: int = MAX_NAME_LENGTH) -> str:
        """A required (or defaulted) trimmed name, at most ``limit`` characters."""
        value = self.optional(key) if default is not None else self.required(key)
        value = value or (default or "")
        if len(value) > limit:
            raise BadRequest(f"Param '{key}' is too long: at most {limit} characters")
        return value


def parse_int(key: str, value: str, low: int = INT_MIN, high: int = INT_MAX) -> int:
    """``Integer.parseInt`` of the trimmed value; malformed (or out of ``[low, high]``) is 400."""
    number = parse_java_int(java_trim(value))
    if number is None:
        raise BadRequest(f'For input string: "{value[:_QUOTE_LIMIT]}" ({key})')
    if not low <= number <= high:
        raise BadRequest(f"Param '{key}' is out of range: {number} not in [{low}, {high}]")
    return number


def parse_float(key: str, value: str) -> float:
    """``Double.parseDouble``: a finite Java double; NaN, infinities and junk are 400."""
    number = parse_java_double(value)
    if number is None:
        raise BadRequest(f'For input string: "{value[:_QUOTE_LIMIT]}" ({key})')
    if not math.isfinite(number):
        raise BadRequest(f"Param '{key}' must be a finite number, got {java_trim(value)[:_QUOTE_LIMIT]}")
    return number


def parse_json(what: str, raw: str, quote: int = 256) -> Any:
    """``json.loads``; malformed or too deeply nested JSON is 400 ``<what> is not valid JSON: <raw>``."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest(f"{what} is not valid JSON: {raw[:quote]}") from None


def parse_json_object(key: str, raw: str, max_bytes: int) -> dict[str, Any]:
    """A JSON object of at most ``max_bytes`` (UTF-8); anything else is 400 naming ``key``."""
    if len(raw.encode()) > max_bytes:
        raise BadRequest(f"{key} is larger than {max_bytes} bytes")
    data = parse_json(key, raw)
    if not isinstance(data, dict):
        raise BadRequest(f"{key} must be a JSON object: {raw[:256]}")
    return data
