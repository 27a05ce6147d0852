"""Client kind and version from ``User-Agent``, and the per-node memo of parsed agents."""

from __future__ import annotations

import pytest

from nacosfast.naming.app import NamingApp
from nacosfast.naming.client_info import ClientInfo, ClientInfoMemo, ClientKind, parse_client_info
from nacosfast.naming.node import build_state
from nacosfast.naming.state import NamingState
from tests.instance_helpers import LIST_PATH, SERVICE, register
from tests.naming_helpers import JAVA_UA, MemoryJournal, call


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("Nacos-Java-Client:v1.4.8", ClientInfo(ClientKind.JAVA, (1, 4, 8))),
        ("Nacos-Java-Client:v2.0.0-SNAPSHOT", ClientInfo(ClientKind.JAVA, (2, 0, 0))),
        ("Nacos-Java-Client:v1.2", ClientInfo(ClientKind.JAVA, (1, 2, 0))),
        ("Nacos-Go-Client:v1.1.1 extra", ClientInfo(ClientKind.GO, (1, 1, 1))),
        ("Nacos-DNS", ClientInfo(ClientKind.DNS, (0, 0, 0))),
        ("curl/8.0", ClientInfo(ClientKind.UNKNOWN, (0, 0, 0))),
        ("", ClientInfo(ClientKind.UNKNOWN, (0, 0, 0))),
    ],
)
def test_parse_client_info_reads_the_version_after_v_like_jackson(agent: str, expected: ClientInfo) -> None:
    assert parse_client_info(agent) == expected


def test_two_nodes_share_no_client_memo() -> None:
    first = build_state(MemoryJournal(), lambda: 0)
    second = build_state(MemoryJournal(), lambda: 0)
    assert first.clients is not second.clients
    assert first.clients.get(JAVA_UA) == parse_client_info(JAVA_UA)
    assert (len(first.clients), len(second.clients)) == (1, 0)


def test_requests_fill_only_their_own_node_memo(naming_state: NamingState, app: NamingApp) -> None:
    other = NamingApp(build_state(MemoryJournal(), lambda: 0))
    register(app)
    for agent in (JAVA_UA, "Nacos-Go-Client:v1.0.0"):
        assert call(app, "GET", LIST_PATH, {"serviceName": SERVICE}, user_agent=agent).status == 200
    assert len(naming_state.clients) == 2
    assert len(other.state.clients) == 0


def test_client_memo_is_bounded() -> None:
    memo = ClientInfoMemo(limit=2)
    agents = [f"Nacos-Java-Client:v1.{minor}.0" for minor in range(5)]
    assert [memo.get(agent).version for agent in agents] == [(1, minor, 0) for minor in range(5)]
    assert len(memo) == 2
