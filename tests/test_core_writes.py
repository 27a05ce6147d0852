"""``WriteReader`` (compiled) against the naming layer's own reading of register/deregister queries.

Whatever the compiled reader reads must be exactly what ``POST``/``DELETE /instance`` read from the
same query (namespace, grouped name, the whole ``Instance`` or datumKey), and only for valid ephemeral
writes; where it declines, the Python reader answers (``tests/test_fastpath.py`` compares the answers
and the resulting state of whole nodes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nacosfast._core.writes import WriteReader
from nacosfast.errors import NacosError
from nacosfast.limits import MAX_LIST_QUERY_MEMO, MAX_MEMOIZED_METADATA_CHARS
from nacosfast.naming import instances
from nacosfast.naming.instances import light_beat_names_valid, metadata_or_none
from nacosfast.naming.params import Params
from nacosfast.naming.switches import Switches
from tests.test_fastpath import PLAIN_WRITE, write_query


def _reader(memo_limit: int = MAX_LIST_QUERY_MEMO) -> WriteReader:
    return WriteReader(
        check_names=light_beat_names_valid,
        parse_metadata=metadata_or_none,
        memo_limit=memo_limit,
        metadata_memo_chars=MAX_MEMOIZED_METADATA_CHARS,
    )


def _python_read(
    read: Callable[[Params, Switches], tuple[Any, ...]], query: bytes, default_ephemeral: bool
) -> tuple[Any, ...] | None:
    """What the naming layer's reader (``instances._registration``/``_deregistration``) makes of it."""
    try:
        return read(instances._query_params(query), Switches(defaultInstanceEphemeral=default_ephemeral))
    except NacosError:
        return None


def _python_registration(query: bytes, default_ephemeral: bool) -> tuple[Any, ...] | None:
    return _python_read(instances._registration, query, default_ephemeral)


def _python_deregistration(query: bytes, default_ephemeral: bool) -> tuple[Any, ...] | None:
    return _python_read(instances._deregistration, query, default_ephemeral)


READER = _reader()
TINY_MEMO = _reader(memo_limit=2)  # cleared over and over: what it forgets it must read again alike


@settings(max_examples=1500, deadline=None)
@given(query=write_query(), default_ephemeral=st.booleans(), tiny=st.booleans())
def test_write_reader_reads_what_the_naming_layer_reads(
    query: str, default_ephemeral: bool, tiny: bool
) -> None:
    reader = TINY_MEMO if tiny else READER
    raw = query.encode()
    registration = reader.registration(raw, default_ephemeral)
    if registration is not None:
        expected = _python_registration(raw, default_ephemeral)
        assert expected is not None
        namespace, name, instance = expected
        assert instance.ephemeral
        assert registration == (namespace, name, instance)
        assert registration[2].app == instance.app
    deregistration = reader.deregistration(raw, default_ephemeral)
    if deregistration is not None:
        expected_removal = _python_deregistration(raw, default_ephemeral)
        assert expected_removal is not None
        assert expected_removal[3] is True
        assert deregistration == expected_removal[:3]


PLAIN_VARIANTS: tuple[dict[str, str], ...] = (
    {},
    {"weight": "2.5"},
    {"weight": "0.001"},
    {"weight": "0"},
    {"weight": "1."},
    {"port": "0"},
    {"port": "08080"},
    {"ip": "010.0.0.1"},
    {"enable": "false"},
    {"enabled": "No", "enable": "true"},
    {"healthy": "false"},
    {"healthy": "T"},
    {"ephemeral": "Y"},
    {"metadata": "a%3Db%2Cc%3Dd"},
    {"metadata": "%7B%22a%22%3A%20%22b%22%7D"},
    {"metadata": ""},
    {"app": ""},
    {"serviceName": "svc"},
    {"serviceName": "svc", "groupName": "G"},
    {"namespaceId": ""},
    {"namespaceId": "ns-1"},
    {"clusterName": "c1"},
    {"clusterName": "", "cluster": "c%2D1"},
)


def test_write_reader_reads_the_plain_queries_itself() -> None:
    """Guards the test above against a reader that always declines (it would pass trivially)."""
    for variant in PLAIN_VARIANTS:
        raw = "&".join(f"{key}={value}" for key, value in {**PLAIN_WRITE, **variant}.items()).encode()
        got = READER.registration(raw, True)
        assert got is not None, raw
        assert got == _python_registration(raw, True)
        removal = _python_deregistration(raw, True)
        assert removal is not None
        assert READER.deregistration(raw, True) == removal[:3]
    plain = "&".join(f"{key}={value}" for key, value in PLAIN_WRITE.items()).encode()
    assert READER.registration(plain.replace(b"ephemeral=true", b""), False) is None  # persistent
    assert READER.registration(plain.replace(b"ip=10.0.0.5", b"ip=host.example"), True) is None
