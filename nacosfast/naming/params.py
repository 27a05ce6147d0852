"""Reading request parameters the way Nacos does (spec §1.2–1.3), with bounds Nacos lacks.

``Params.required``/``optional`` follow ``WebUtils`` (trimmed; empty means missing); ``raw`` follows
Spring ``@RequestParam`` (untrimmed). Every failure is a ``BadRequest`` with Nacos's message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

from nacosfast.errors import BadRequest, required_param
from nacosfast.limits import MAX_NAME_LENGTH

_COMMONS_TRUE: Final = frozenset({"true", "on", "yes", "y", "t"})
_SPRING_TRUE: Final = frozenset({"true", "on", "yes", "1"})
_SPRING_FALSE: Final = frozenset({"false", "off", "no", "0"})
_JAVA_INT_MIN: Final = -(2**31)
_JAVA_INT_MAX: Final = 2**31 - 1


def commons_bool(value: str) -> bool:
    """commons-lang3 ``BooleanUtils.toBoolean``: true, on, yes, y, t (any case)."""
    return value.strip().lower() in _COMMONS_TRUE


def java_bool(value: str) -> bool:
    """``Boolean.parseBoolean``: only ``true`` (any case)."""
    return value.strip().lower() == "true"


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
        value = value.strip()
        if not value:
            raise required_param(key)
        return value

    def optional(self, key: str, default: str = "") -> str:
        """``WebUtils.optional``: trimmed; missing, empty or blank gives ``default``."""
        value = self._values.get(key)
        if value is None:
            return default
        value = value.strip()
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
        value = self.optional(key).lower()
        if not value:
            return default
        if value in _SPRING_TRUE:
            return True
        if value in _SPRING_FALSE:
            return False
        raise BadRequest(f"Invalid boolean value for '{key}': {value}")

    def integer(
        self, key: str, default: int | None = None, *, low: int = _JAVA_INT_MIN, high: int = _JAVA_INT_MAX
    ) -> int:
        """``Integer.parseInt`` of a trimmed value within ``[low, high]``; missing and no default is 400."""
        value = self.optional(key)
        if not value:
            if default is None:
                raise required_param(key)
            return default
        return parse_int(key, value, low, high)

    def lenient_int(self, key: str, default: int) -> int:
        """``NumberUtils.toInt``: a missing or unparseable value gives ``default``."""
        try:
            return int(self.optional(key))
        except ValueError:
            return default

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


def parse_int(key: str, value: str, low: int = _JAVA_INT_MIN, high: int = _JAVA_INT_MAX) -> int:
    """A Java-style integer; anything else (or out of ``[low, high]``) is 400."""
    text = value.strip()
    if not text or len(text) > 11 or not (text.lstrip("+-").isdigit() and text.lstrip("+-").isascii()):
        raise BadRequest(f'For input string: "{value[:64]}" ({key})')
    number = int(text)
    if not low <= number <= high:
        raise BadRequest(f"Param '{key}' is out of range: {number} not in [{low}, {high}]")
    return number


def parse_float(key: str, value: str) -> float:
    """A finite Java double; NaN, infinities and junk are 400."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        raise BadRequest(f'For input string: "{value[:64]}" ({key})') from None
    if not math.isfinite(number):
        raise BadRequest(f"Param '{key}' must be a finite number, got {text[:64]}")
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
