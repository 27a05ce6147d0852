"""Values parsed the way Nacos's Java code parses them: one place for every Java parsing rule.

Nacos reads request values with a handful of Java parsers, each with its own grammar:

- booleans: commons-lang3 ``BooleanUtils.toBoolean`` (true, on, yes, y, t), Spring's ``@RequestParam
  boolean`` conversion (true, on, yes, 1 / false, off, no, 0) and ``Boolean.parseBoolean`` (true only);
- integers: ``Integer.parseInt`` / ``Long.parseLong`` (an optional sign and digits, nothing else: no
  ``_`` separators, no blanks) and commons-lang3 ``NumberUtils.toInt`` (the same, else a default);
- doubles: ``Double.parseDouble`` (blanks trimmed; decimal with an optional exponent and ``f``/``d``
  suffix, hexadecimal ``0x1p3``, ``NaN``, ``Infinity``), and Java ``float`` rounding;
- versions: Jackson's ``VersionUtil.parseVersion`` (client ``User-Agent``, the ``push*Version``
  switches) and Nacos's ``x.y.z`` syntax check.

One deliberate difference: Java's integer parsers accept the decimal digits of every script (``١٢``,
full-width ``１２``), this module only ASCII digits, as ``Double.parseDouble`` does. No Nacos client
sends other digits, and accepting them would make one number have many spellings.

Parsers return ``None`` for text Java would refuse; callers turn that into their own 400 message.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Final

INT_MIN: Final = -(2**31)
INT_MAX: Final = 2**31 - 1
LONG_MIN: Final = -(2**63)
LONG_MAX: Final = 2**63 - 1

COMMONS_TRUE: Final = frozenset({"true", "on", "yes", "y", "t"})
COMMONS_FALSE: Final = frozenset({"false", "off", "no", "n", "f"})
SPRING_TRUE: Final = frozenset({"true", "on", "yes", "1"})
SPRING_FALSE: Final = frozenset({"false", "off", "no", "0"})

VERSION_SYNTAX: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
"""Nacos ``VERSION_STRING_SYNTAX``: what a ``push*Version`` switch must match."""
UNKNOWN_VERSION: Final = (0, 0, 0)

# Patterns are written without ambiguous repetition, so a long hostile input fails in linear time.
_INTEGER: Final = re.compile(r"([+-]?)([0-9]+)")
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?")
_HEX: Final = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?[0-9]+[fFdD]?")
_SPECIAL: Final = {"NaN": math.nan, "Infinity": math.inf}
_VERSION_SEPARATOR: Final = re.compile(r"[-_./;:]")
_VERSION_PART: Final = re.compile(r"[0-9]*")
_FLOAT32: Final = struct.Struct("<f")
_FLOAT32_MAX: Final = 3.4028234663852886e38
_JAVA_BLANKS: Final = "".join(chr(code) for code in range(0x21))


def java_trim(text: str) -> str:
    """``String.trim``: strips the characters up to U+0020 (controls and space), nothing else."""
    return text.strip(_JAVA_BLANKS)


def _ascii_lower(text: str) -> str:
    return text.lower() if text.isascii() else text


def commons_bool(text: str) -> bool:
    """commons-lang3 ``BooleanUtils.toBoolean``: true, on, yes, y, t (any case); anything else false."""
    return _ascii_lower(text) in COMMONS_TRUE


def commons_bool_strict(text: str) -> bool | None:
    """``BooleanUtils.toBooleanObject``: the commons true or false words, else ``None``."""
    word = _ascii_lower(text)
    if word in COMMONS_TRUE:
        return True
    return False if word in COMMONS_FALSE else None


def java_bool(text: str) -> bool:
    """``Boolean.parseBoolean``: only ``true`` (any case)."""
    return _ascii_lower(text) == "true"


def java_bool_strict(text: str) -> bool | None:
    """``true`` or ``false`` (any case), else ``None`` (``Boolean.parseBoolean`` without its junk→false)."""
    word = _ascii_lower(text)
    return True if word == "true" else False if word == "false" else None


def spring_bool(text: str) -> bool | None:
    """Spring's ``String`` → ``boolean``: true/on/yes/1 or false/off/no/0 (any case), else ``None``."""
    word = _ascii_lower(text)
    if word in SPRING_TRUE:
        return True
    return False if word in SPRING_FALSE else None


def parse_java_int(text: str, low: int = INT_MIN, high: int = INT_MAX) -> int | None:
    """``Integer.parseInt`` (``Long.parseLong`` with the long bounds): ``None`` when Java would throw.

    The grammar is an optional sign and ASCII digits (leading zeros allowed); no blanks, separators or
    exponents. ``low``/``high`` are the type's range, not a caller's business rule.
    """
    if len(text) < 10 and text.isdigit() and text.isascii():  # the common case: small, unsigned
        number = int(text)
        return number if low <= number <= high else None
    match = _INTEGER.fullmatch(text)
    if match is None:
        return None
    digits = match[2].lstrip("0") or "0"
    if len(digits) > 19:  # 19 digits hold every long; more cannot be in range
        return None
    number = int(digits)
    if match[1] == "-":
        number = -number
    return number if low <= number <= high else None


def parse_java_long(text: str) -> int | None:
    """``Long.parseLong``: ``None`` when Java would throw."""
    return parse_java_int(text, LONG_MIN, LONG_MAX)


def lenient_int(text: str, default: int = 0) -> int:
    """commons-lang3 ``NumberUtils.toInt``: ``Integer.parseInt`` of ``text``, else ``default``."""
    number = parse_java_int(text)
    return default if number is None else number


def parse_java_double(text: str) -> float | None:
    """``Double.parseDouble``: ``None`` when Java would throw.

    Blanks (U+0000..U+0020) around the number are trimmed. Accepted: decimal (``1``, ``1.``, ``.5``,
    ``1e3``), an optional ``f``/``F``/``d``/``D`` suffix, hexadecimal with a binary exponent
    (``0x1p3``, ``0x1.8P-1``), ``NaN`` and ``Infinity`` (signed, exact case). Out-of-range values
    become infinities or zero, as in Java.
    """
    body = java_trim(text)
    if body.isdigit() and body.isascii():  # the common case: a plain integer weight
        return float(body)
    unsigned = body[1:] if body[:1] in ("+", "-") else body
    special = _SPECIAL.get(unsigned)
    if special is not None:
        return -special if body[0] == "-" else special
    if _DECIMAL.fullmatch(body):
        return float(body.rstrip("fFdD"))
    if _HEX.fullmatch(body):
        try:
            return float.fromhex(body.rstrip("fFdD"))
        except OverflowError:
            return -math.inf if body[0] == "-" else math.inf
    return None


def java_float32(value: float) -> float:
    """``value`` rounded to a Java ``float`` (``(float) x``); beyond the float range it is kept as is."""
    if abs(value) > _FLOAT32_MAX:
        return value
    result: float = _FLOAT32.unpack(_FLOAT32.pack(value))[0]
    return result


def _leading_number(part: str) -> int:
    """The leading ASCII digits of ``part`` as Java's ``int`` accumulates them (wrapping on overflow).

    ``10**32`` is a multiple of ``2**32``, so only the last 32 of those digits decide the wrapped value.
    """
    match = _VERSION_PART.match(part)
    digits = match[0][-32:] if match else ""
    return (int(digits or "0") + 2**31) % 2**32 - 2**31


def parse_version(text: str) -> tuple[int, int, int]:
    """Jackson ``VersionUtil.parseVersion``: major, minor, patch of ``1.4.2``, ``2.0.0-SNAPSHOT``...

    The trimmed text is split at ``-_./;:``; each of the first three parts counts by its leading ASCII
    digits (``4beta`` is 4, ``x`` is 0); missing parts are 0 and blank text is ``0.0.0``. A qualifier
    (the fourth part) is ignored: Jackson ranks ``1.0.0-SNAPSHOT`` just below ``1.0.0``, nacosfast equal.
    """
    body = java_trim(text)
    if not body:
        return UNKNOWN_VERSION
    parts = _VERSION_SEPARATOR.split(body, maxsplit=3)[:3]
    numbers = [_leading_number(part) for part in parts]
    numbers += [0] * (3 - len(numbers))
    return (numbers[0], numbers[1], numbers[2])
