"""nacosfast.javaparse against small reference models of Java's grammars."""

from __future__ import annotations

import math
import re
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nacosfast.javaparse import (
    COMMONS_FALSE,
    COMMONS_TRUE,
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    LONG_MIN,
    commons_bool,
    commons_bool_strict,
    java_bool,
    java_float32,
    java_trim,
    lenient_int,
    parse_java_double,
    parse_java_int,
    parse_java_long,
    parse_version,
    spring_bool,
)

# --- reference models, written from the Java documentation ------------------------------------------

# Integer.parseInt: "an optional ASCII minus or plus sign followed by decimal digits" (ASCII only here).
JAVA_INTEGER = re.compile(r"(?P<sign>[-+]?)(?P<digits>[0-9]+)")

# Double.valueOf(String) grammar (FloatValue / HexFloatingPointLiteral of the JLS), after String.trim.
_DIGITS = r"[0-9]+"
_EXPONENT = rf"[eE][-+]?{_DIGITS}"
_SUFFIX = r"[fFdD]?"
_DECIMAL = (
    rf"(?:{_DIGITS}\.(?:{_DIGITS})?(?:{_EXPONENT})?|\.{_DIGITS}(?:{_EXPONENT})?|{_DIGITS}(?:{_EXPONENT})?)"
)
_HEX_DIGITS = r"[0-9a-fA-F]+"
_HEX = rf"0[xX](?:{_HEX_DIGITS}\.?|(?:{_HEX_DIGITS})?\.{_HEX_DIGITS})[pP][-+]?{_DIGITS}"
JAVA_DOUBLE = re.compile(rf"[-+]?(?:NaN|Infinity|(?P<decimal>{_DECIMAL}){_SUFFIX}|(?P<hex>{_HEX}){_SUFFIX})")

NUMBER_ALPHABET = "0123456789+-.eExXpPfFdDaAN Iinty_\t\n\x00\u00a0\u0660\uff11"


def model_int(text: str, low: int, high: int) -> int | None:
    match = JAVA_INTEGER.fullmatch(text)
    if match is None:
        return None
    number = int(match["digits"]) * (-1 if match["sign"] == "-" else 1)
    return number if low <= number <= high else None


def model_double(text: str) -> float | None:
    body = text.strip("".join(chr(code) for code in range(0x21)))
    match = JAVA_DOUBLE.fullmatch(body)
    if match is None:
        return None
    negative = body.startswith("-")
    if body.lstrip("+-") == "NaN":
        return math.nan
    if body.lstrip("+-") == "Infinity":
        return -math.inf if negative else math.inf
    if match["decimal"] is not None:
        return _decimal_to_float(body.rstrip("fFdD"))
    try:
        return float.fromhex(match["hex"]) * (-1.0 if negative else 1.0)
    except OverflowError:
        return -math.inf if negative else math.inf


MODEL_EXPONENT_CLAMP = 10**7
"""Beyond this decimal exponent every finite mantissa the tests generate is 0 or infinite as a double;
clamping keeps ``Decimal`` inside its own exponent range (it refuses exponents past ~10**18)."""
MODEL_PRECISION = 10_000
"""More digits than any generated literal has, so scaling never rounds: only ``float()`` does, once."""


def _decimal_to_float(text: str) -> float:
    mantissa, _, exponent = text.replace("E", "e").partition("e")
    scale = max(-MODEL_EXPONENT_CLAMP, min(MODEL_EXPONENT_CLAMP, int(exponent))) if exponent else 0
    return float(Decimal(mantissa).scaleb(scale, Context(prec=MODEL_PRECISION, Emax=MAX_EMAX, Emin=MIN_EMIN)))


def same_double(left: float | None, right: float | None) -> bool:
    if left is None or right is None:
        return left is right
    return (math.isnan(left) and math.isnan(right)) or left == right


# --- integers ----------------------------------------------------------------------------------------


@given(st.text(alphabet="0123456789+-_ \u0660\uff11x", max_size=25))
def test_java_int_matches_the_reference_grammar(text: str) -> None:
    expected = model_int(text, INT_MIN, INT_MAX)
    assert parse_java_int(text) == expected
    assert lenient_int(text, -7) == (-7 if expected is None else expected)
    assert parse_java_long(text) == model_int(text, LONG_MIN, LONG_MAX)


@given(st.integers(min_value=LONG_MIN - 10, max_value=LONG_MAX + 10), st.sampled_from(["", "+", "0", "000"]))
def test_java_int_range_edges(number: int, prefix: str) -> None:
    text = f"-{prefix.lstrip('+')}{-number}" if number < 0 else f"{prefix}{number}"
    assert parse_java_int(text) == (number if INT_MIN <= number <= INT_MAX else None)
    assert parse_java_long(text) == (number if LONG_MIN <= number <= LONG_MAX else None)


@pytest.mark.parametrize(
    "text",
    [
        "1_0",
        "\uff11\uff10",
        "\u0661",
        "\u00b2",
        " 1",
        "1 ",
        "+",
        "-",
        "",
        "1e3",
        "1.0",
        "0x10",
        "++1",
        "2147483648",
    ],
)
def test_java_int_refuses_what_integer_parse_int_refuses(text: str) -> None:
    assert parse_java_int(text) is None
    assert lenient_int(text, 42) == 42


def test_java_int_accepts_signs_and_leading_zeros() -> None:
    assert [parse_java_int(text) for text in ("+7", "-0", "007", "-2147483648", "0" * 40 + "5")] == [
        7,
        0,
        7,
        INT_MIN,
        5,
    ]


# --- doubles -----------------------------------------------------------------------------------------


@given(st.text(alphabet=NUMBER_ALPHABET, max_size=20))
def test_java_double_matches_the_reference_grammar(text: str) -> None:
    assert same_double(parse_java_double(text), model_double(text))


@given(st.from_regex(JAVA_DOUBLE, fullmatch=True), st.sampled_from(["", " ", "\t", "\x00"]))
def test_java_double_parses_every_java_literal(text: str, blank: str) -> None:
    expected = model_double(text)
    assert expected is not None
    assert same_double(parse_java_double(f"{blank}{text}{blank}"), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e3", 1000.0),
        ("0x1p3", 8.0),
        ("0X.8P1", 1.0),
        ("1.5f", 1.5),
        ("1d", 1.0),
        ("1.", 1.0),
        (".5", 0.5),
        (" 2 ", 2.0),
        ("-Infinity", -math.inf),
        ("1e400", math.inf),
        ("0x1p99999", math.inf),
        ("1e-400", 0.0),
    ],
)
def test_java_double_accepts_java_forms(text: str, expected: float) -> None:
    assert parse_java_double(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1_0",
        "\uff11",
        "\u0661",
        "inf",
        "nan",
        "infinity",
        "NaNf",
        "1e",
        ".",
        "0x1",
        "1ff",
        "\u00a01",
        "1,5",
        "",
    ],
)
def test_java_double_refuses_what_double_parse_double_refuses(text: str) -> None:
    assert parse_java_double(text) is None


def test_java_double_nan() -> None:
    value = parse_java_double("NaN")
    assert value is not None
    assert math.isnan(value)


def test_long_hostile_numbers_fail_fast() -> None:
    digits = "1" * 200_000
    assert parse_java_double(digits + "x") is None
    assert parse_java_int(digits + "x") is None
    assert parse_java_int(digits) is None
    assert parse_java_double(digits) == math.inf


def test_java_float32_rounds_like_a_java_float() -> None:
    assert java_float32(0.1) == 0.10000000149011612
    assert java_float32(1e300) == 1e300  # beyond the float range: kept (callers compare it)


def test_java_trim_strips_only_controls_and_space() -> None:
    assert java_trim("\x00\t x \x1f") == "x"
    assert java_trim("\u00a0x\u3000") == "\u00a0x\u3000"


# --- booleans ----------------------------------------------------------------------------------------


def test_commons_tables() -> None:
    assert {"true", "on", "yes", "y", "t"} == COMMONS_TRUE
    assert all(commons_bool(word.upper()) and commons_bool_strict(word.title()) for word in COMMONS_TRUE)
    assert all(
        not commons_bool(word) and commons_bool_strict(word.upper()) is False for word in COMMONS_FALSE
    )
    assert (commons_bool("1"), commons_bool_strict("1"), commons_bool(" true")) == (False, None, False)


def test_spring_and_java_booleans() -> None:
    assert [spring_bool(text) for text in ("1", "On", "no", "0", "t", "")] == [
        True,
        True,
        False,
        False,
        None,
        None,
    ]
    assert [java_bool(text) for text in ("TRUE", "yes", "t", "true ")] == [True, False, False, False]


# --- versions ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.4.2", (1, 4, 2)),
        ("2.0.0-SNAPSHOT", (2, 0, 0)),
        ("1.2", (1, 2, 0)),
        ("1", (1, 0, 0)),
        (" 1.0.12 ", (1, 0, 12)),
        ("1-2_3", (1, 2, 3)),
        ("4beta.x.3", (4, 0, 3)),
        ("", (0, 0, 0)),
        ("v1.2.3", (0, 2, 3)),
        ("\u0661.\u0662.\u0663", (0, 0, 0)),
        ("4294967297.0.0", (1, 0, 0)),  # Java's int arithmetic wraps
        ("2147483648.0.0", (-(2**31), 0, 0)),
    ],
)
def test_parse_version_like_jackson(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_version(text) == expected


@given(st.text(alphabet="0123456789.-_/;: ab", max_size=30))
def test_parse_version_never_fails(text: str) -> None:
    major, minor, patch = parse_version(text)
    assert all(INT_MIN <= part <= INT_MAX for part in (major, minor, patch))
