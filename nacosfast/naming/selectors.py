"""Service selectors (compatibility.md §2.9 D, §3.10) and the ``service/list`` selector filter (§3.11).

A service selector is ``{"type":"none"}`` or a label selector
``{"type":"label","expression":"CONSUMER.label.a = PROVIDER.label.a & ...","labels":["a",..]}``.
Label selectors compare CMDB labels; with no CMDB (Nacos's default, and nacosfast) they select every
instance, so they are stored and shown but change no answer.

``service/list`` takes a different, filter-only form: ``INSTANCE.metadata.<key> = '<value>'`` or
``SERVICE.metadata.<key> = '<value>'``. Nacos silently ignores any other expression and answers
with every service; nacosfast refuses it with 400 instead of giving a wrong answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from nacosfast._core.registry import Service
from nacosfast.errors import BadRequest
from nacosfast.limits import MAX_SELECTOR_BYTES
from nacosfast.naming.meta import NO_SELECTOR, ServiceMeta
from nacosfast.naming.params import parse_json_object

_CONSUMER_PREFIX: Final = "CONSUMER.label."
_PROVIDER_PREFIX: Final = "PROVIDER.label."
_CONNECTORS: Final = frozenset("=&")
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_LIST_FILTER: Final = re.compile(r"(INSTANCE|SERVICE)\.metadata\.([^=]+)=(.*)", re.DOTALL)
_WHITESPACE: Final = re.compile(r"\s+")


def java_url_decode(text: str) -> str:
    """``URLDecoder.decode(text, "UTF-8")``: ``+`` is a space, ``%XX`` an octet; malformed is 400."""
    if "%" not in text and "+" not in text:
        return text
    out = bytearray()
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == "+":
            out += b" "
            index += 1
        elif char == "%":
            pair = text[index + 1 : index + 3]
            if len(pair) != 2 or not set(pair) <= _HEX:
                raise BadRequest(f"URLDecoder: Illegal hex characters in escape (%) pattern: {text[:128]}")
            out.append(int(pair, 16))
            index += 3
        else:
            out += char.encode()
            index += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("selector is not valid UTF-8 once URL-decoded") from None


def _terms(expression: str) -> list[str]:
    """``LabelSelector.ExpressionInterpreter.getTerms``: split around ``=`` and ``&``."""
    terms: list[str] = []
    last = 0
    index = 0
    while index < len(expression):
        if expression[index] in _CONNECTORS:
            terms.append(expression[last:index])
            terms.append(expression[index])
            index += 1
            last = index
        index += 1
    terms.append(expression[last:])
    return terms


def _skip_empty(terms: list[str], index: int) -> int:
    while index < len(terms) and not terms[index].strip():
        index += 1
    return index


def _inner(terms: list[str], index: int) -> tuple[int, str]:
    """``CONSUMER.label.x = PROVIDER.label.x`` at ``index``: the index of the provider term and x."""
    index = _skip_empty(terms, index)
    if index >= len(terms) or not terms[index].startswith(_CONSUMER_PREFIX):
        raise BadRequest("parse expression failed!")
    consumer = terms[index][len(_CONSUMER_PREFIX) :]
    index = _skip_empty(terms, index + 1)
    if index >= len(terms) or terms[index] != "=":
        raise BadRequest("parse expression failed!")
    index = _skip_empty(terms, index + 1)
    if index >= len(terms) or not terms[index].startswith(_PROVIDER_PREFIX):
        raise BadRequest("parse expression failed!")
    provider = terms[index][len(_PROVIDER_PREFIX) :]
    if not provider or provider != consumer or _PROVIDER_PREFIX in provider:
        raise BadRequest("parse expression failed!")
    return index, provider


def parse_label_expression(expression: str) -> list[str]:
    """The labels of ``CONSUMER.label.a = PROVIDER.label.a & ...`` (sorted); 400 if malformed."""
    if not expression.strip():
        return []
    terms = _terms(_WHITESPACE.sub("", expression))
    labels: set[str] = set()
    index, label = _inner(terms, 0)
    labels.add(label)
    index += 1
    while index < len(terms):
        index = _skip_empty(terms, index)
        if index >= len(terms):
            break
        if terms[index] != "&":
            raise BadRequest("parse expression failed!")
        index, label = _inner(terms, index + 1)
        labels.add(label)
        index += 1
    return sorted(labels)


def _label_selector(raw: str) -> dict[str, Any] | None:
    """The selector JSON when its ``type`` is ``label``; ``None`` for ``none``; 400 for any other."""
    data = parse_json_object("selector", raw, MAX_SELECTOR_BYTES)
    kind = data.get("type")
    if kind == "none":
        return None
    if kind != "label":
        raise BadRequest(f"not match any type of selector! type: {str(kind)[:64]}")
    return data


def parse_selector(raw: str) -> Mapping[str, Any]:
    """The ``selector`` of ``POST``/``PUT /service`` (URL-decoded once more, as Nacos does); blank is none."""
    if not raw.strip():
        return NO_SELECTOR
    data = _label_selector(java_url_decode(raw))
    if data is None:
        return NO_SELECTOR
    expression = data.get("expression")
    if not isinstance(expression, str):
        raise BadRequest("selector of type label needs a string 'expression'")
    return {"type": "label", "expression": expression, "labels": parse_label_expression(expression)}


@dataclass(frozen=True, slots=True)
class ListFilter:
    """``INSTANCE.metadata.<key> = '<value>'`` (any instance matches) or ``SERVICE.metadata...``."""

    on_instances: bool
    key: str
    value: str

    def matches(self, service: Service, meta: ServiceMeta) -> bool:
        """Whether the service passes the filter."""
        if not self.on_instances:
            return meta.metadata.get(self.key) == self.value
        return any(instance.metadata.get(self.key) == self.value for instance in service.instances())


def parse_list_filter(raw: str) -> ListFilter | None:
    """The ``selector`` of ``GET /service/list``; ``None`` when it selects everything; 400 if unsupported.

    As in Nacos, all whitespace is removed from the expression and every ``'`` from the value. Unlike
    Nacos, the key is everything after ``metadata.`` (Nacos keeps only its last dotted part, so keys
    such as ``preserved.register.source`` never matched).
    """
    if not raw.strip():
        return None
    data = _label_selector(raw)
    if data is None:
        return None
    expression = data.get("expression")
    if expression is None or (isinstance(expression, str) and not expression.strip()):
        return None
    if not isinstance(expression, str):
        raise BadRequest("selector of type label needs a string 'expression'")
    match = _LIST_FILTER.fullmatch(_WHITESPACE.sub("", expression))
    if match is None:
        raise BadRequest(
            "unsupported selector expression, expected INSTANCE.metadata.<key> = '<value>' or "
            f"SERVICE.metadata.<key> = '<value>': {expression[:256]}"
        )
    return ListFilter(match[1] == "INSTANCE", match[2], match[3].replace("'", ""))
