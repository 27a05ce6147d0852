"""The compiled request path against the Python path: same bytes out, same state after.

Each example builds two identical nodes, feeds the same sequence of raw inputs (random requests,
pipelined, good and bad) to one through ``HttpConnection`` + ``NamingApp`` only, and to the other as
the hub does — ``FastPath.serve`` first, the rest of the input through the Python path — then compares
every answer and the resulting registry, heartbeat table, push subscribers (a recording sink or a real
``PushHub``: the same subscribers, refresh times, age order and counters), request counts as the
metrics exposition shows them, and what replication and the active health checker were told. The
cluster variant makes both nodes members of the same 1-3 member cluster, changes the membership
between reads, and compares what each forwarded and relayed too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nacosfast._core.fastpath import FastPath
from nacosfast._core.registry import Service
from nacosfast._core.writes import WriteReader
from nacosfast.cluster.members import MemberTable
from nacosfast.limits import MAX_PIPELINED_REQUESTS
from nacosfast.naming.app import NamingApp
from nacosfast.naming.fast import build_fast_path
from nacosfast.naming.metrics import RequestStats
from nacosfast.naming.push import PushConfig, PushHub
from nacosfast.naming.state import NamingState, PushSink
from nacosfast.server.http.responder import answer_ready
from nacosfast.wire.http import HttpConnection, HttpDate
from nacosfast.wire.http_limits import DEFAULT_HTTP_LIMITS, HttpLimits
from nacosfast.wire.message import Request, Response
from tests.auth_helpers import auth_node
from tests.naming_helpers import WALL_EPOCH_MS, MemoryJournal, RecordingPush

SMALL_LIMITS = HttpLimits(max_header_bytes=400, max_header_fields=6)
SERVICES = ("DEFAULT_GROUP%40%40svc", "DEFAULT_GROUP@@svc", "g%40%40other", "svc", "a%40%40b%40%40c", "")
IPS = ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9", "999.0.0.1", "", "+10.0.0.1", "a:b", "%FF")
PORTS = ("8080", "0", "-1", "70000", "x", "", "8080+")
CLUSTERS = ("DEFAULT", "c1", "bad_cluster", "", "c%2D1")
NAMESPACES = ("public", "", "ns-1", "bad/ns", "%2E")
BOOLS = ("true", "false", "TRUE", "yes", "")
UDP_PORTS = (
    *("0", "53", "", "70000", "65535", "65536", "-1", "-53", "99999999999999999999", "2147483648"),
    *("5x", "053", "%2B53", "+53", "%2053", "0x35", "1e3", "53.0", "%EF%BC%95%EF%BC%93"),
)
CLIENT_IPS = (
    *("", "127.0.0.1", "10.0.0.7", "::1", "::ffff:10.0.0.8", "fe80::1%25eth0", "host.example"),
    *("999.1.1.1", "%20", "10.0.0.7%20", "%FF", "1.2.3.4.5", "a" * 300),
)
APPS = ("bench", "", "unknown", "a" * 40, "%C3%A9", "%FF")
TENANTS = ("", "t1", "t" * 40)
REMOTES = ("127.0.0.1", "127.0.0.2", "::1")
"""Where a connection comes from: push subscribers are aimed at it (and keyed by it)."""
PATHS = {
    "beat": ("/nacos/v1/ns/instance/beat", "/nacos/v1/ns/instance/beat/", "/nacos/v1/ns/instance/be%61t"),
    "list": ("/nacos/v1/ns/instance/list", "/nacos/v1/ns/instance/list#frag", "/nacos//v1/ns/instance/list"),
    "other": (
        "/nacos/v1/ns/instance",
        "/nacos/v1/ns/service/list",
        "/x",
        "*",
        "http://h/nacos/v1/ns/instance/beat",
    ),
}
GOOD_HEADERS = (
    b"User-Agent: Nacos-Java-Client:v1.4.8",
    b"User-Agent: Nacos-Java-Client:v0.9.0",
    b"User-Agent: Nacos-Python-Client:v0.1.17",
    b"User-Agent: ",
    b"user-agent:Nacos-Java-Client:v1.4.1  ",
    b"Client-Version: 1.4.1",
    b"Connection: keep-alive",
    b"Connection: close",
    b"connection: Keep-Alive",
    b"Connection: keep-alive, Upgrade",
    b"Content-Length: 0",
    b"User-Agent: Nacos-Java-Client:v1.0.0",  # the Node client
    b"User-Agent: Nacos-Java-Client:v0.0.9",  # below pushJavaVersion: never subscribed
    b"User-Agent: Nacos-Go-Client:v1.0.0",
    b"User-Agent: Nacos-Java-Client:v1.4.8" + b"-SNAPSHOT" * 3,  # longer than a small field limit
    b"Accept-Encoding: gzip,deflate,sdch",
    b"Connection: Keep-Alive",
    b"Request-Module: Naming",
)
JAVA_HEAD = (
    # What nacos-client 1.4 (JDK HttpURLConnection) sends with a list: a response is never compressed.
    b"Content-Type: application/x-www-form-urlencoded;charset=UTF-8",
    b"Accept-Charset: UTF-8",
    b"Accept-Encoding: gzip,deflate,sdch",
    b"Client-Version: 1.4.1",
    b"User-Agent: Nacos-Java-Client:v1.4.1",
    b"Connection: Keep-Alive",
    b"RequestId: 0b6f8d4e-1c2a-4f0e-9a43-7d6c1b2e3f40",
    b"Request-Module: Naming",
    b"Host: 127.0.0.1:8848",
    b"Accept: text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2",
)
PYTHON_HEAD = (
    # What nacos-sdk-python 0.1.17 (urllib) sends with a list: a new connection per request.
    b"Accept-Encoding: identity",
    b"Host: 127.0.0.1:8848",
    b"User-Agent: Nacos-Python-Client:v0.1.17",
    b"Connection: close",
)
HEADERS = (
    *GOOD_HEADERS,
    b"Content-Length: 00",
    b"Content-Type: application/x-www-form-urlencoded",
    b"Expect: 100-continue",
    b"Transfer-Encoding: chunked",
    b"Upgrade: websocket",
    b"Host: 127.0.0.1",
    b"X-Bad\x01: v",
    b"Bad Name: v",
    b"X-Long: " + b"v" * 300,
    b" folded",
    b"X-Latin: caf\xe9",
)


def _pair(key: str, values: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(values).map(lambda value: f"{key}={value}")


PUSH_PAIRS = st.one_of(
    _pair("udpPort", UDP_PORTS),
    _pair("clientIP", CLIENT_IPS),
    _pair("tid", TENANTS),
    _pair("app", APPS),
)
"""The parameters of a list that subscribes for push, good and bad."""
QUERY_PAIRS = st.one_of(
    _pair("serviceName", SERVICES),
    _pair("namespaceId", NAMESPACES),
    _pair("ip", IPS),
    _pair("port", PORTS),
    _pair("clusterName", CLUSTERS),
    _pair("cluster", CLUSTERS),
    _pair("clusters", ("", "DEFAULT", "c1,DEFAULT", "bad_c")),
    _pair("healthyOnly", BOOLS),
    _pair("isCheck", BOOLS),
    PUSH_PAIRS,
    _pair("beat", ('{"ip":"10.0.0.7","port":81}', "", "%7B")),
    _pair("env", ("", "prod")),
    st.sampled_from(("x", "=", "&", "%", "a=%ZZ")),
)


BEAT_TARGETS = (
    *(
        f"serviceName=DEFAULT_GROUP%40%40svc&ip={ip}&port=8080{extra}"
        for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9")
        for extra in ("", "&namespaceId=public&clusterName=DEFAULT&app=bench", "&cluster=c1")
    ),
    "serviceName=DEFAULT_GROUP@@svc&ip=10.0.0.1&port=08080",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=010.0.0.1&port=8080",
    "namespaceId=%70ublic&serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.2&port=8080&clusterName=",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.2&ip=10.0.0.1&port=8080&port=1&beat=",
    "groupName=DEFAULT_GROUP&serviceName=svc&ip=10.0.0.1&port=8080",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080&clusterName=DEF%41ULT&namespaceId=",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080&x=%C3%A9",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080&x=%FF",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080&namespaceId=ns%2D1",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080&namespaceId=+public",
    "serviceName=%20DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.256&port=8080",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=65536",
    "i%70=10.0.0.9&serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080&clusterName=bad_cluster",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080&serviceName=x",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080&%",
)
JAVA_LIST_QUERY = (
    "app=unknown&healthyOnly=false&namespaceId=public&clientIP=10.0.0.7&udpPort=54321"
    "&serviceName=DEFAULT_GROUP%40%40svc&clusters="
)
LIST_TARGETS = (
    "serviceName=DEFAULT_GROUP%40%40svc",
    "serviceName=DEFAULT_GROUP%40%40svc&namespaceId=public&clusters=&healthyOnly=false&udpPort=0&app=b",
    "serviceName=DEFAULT_GROUP%40%40svc&healthyOnly=true&clusters=DEFAULT",
    "serviceName=DEFAULT_GROUP%40%40svc&isCheck=true",
    "serviceName=DEFAULT_GROUP%40%40svc&udpPort=53&clientIP=127.0.0.1",
    "serviceName=DEFAULT_GROUP%40%40nothing",
    # nacos-client 1.4 (its HashMap's order) and the Node client: they subscribe for push
    JAVA_LIST_QUERY,
    "namespaceId=public&serviceName=DEFAULT_GROUP%40%40svc&clusters=&udpPort=5353&clientIP=127.0.0.1"
    "&healthyOnly=false",
    "serviceName=DEFAULT_GROUP%40%40svc&udpPort=53&clientIP=&tid=t1&app=a",
    "serviceName=DEFAULT_GROUP%40%40svc&udpPort=53&clusters=DEFAULT&healthyOnly=true&clientIP=10.0.0.7",
    "serviceName=DEFAULT_GROUP%40%40svc&udpPort=54&udpPort=53&clientIP=127.0.0.2",
    "serviceName=DEFAULT_GROUP%40%40svc&udpPort=53&isCheck=true",
    "serviceName=DEFAULT_GROUP%40%40svc&udpPort=53&clientIP=::1&env=prod",
    "serviceName=DEFAULT_GROUP%40%40svc&udpPort=65535&clientIP=host.example",
    "serviceName=DEFAULT_GROUP%40%40svc&udpPort=65536&clientIP=127.0.0.1",
    "serviceName=DEFAULT_GROUP%40%40svc&udpPort=-1&clientIP=127.0.0.1",
    "serviceName=DEFAULT_GROUP%40%40svc&udpPort=x&clientIP=127.0.0.1",
    "serviceName=DEFAULT_GROUP%40%40nothing&udpPort=53&clientIP=127.0.0.1",
    # nacos-sdk-python 0.1.17: a plain name and groupName, no udpPort (it polls)
    "serviceName=svc&healthyOnly=false&namespaceId=public&groupName=DEFAULT_GROUP",
)


SWITCH_TARGETS = (
    # An operator turning push off and on, or changing the poll period, between a client's lists.
    "entry=pushEnabled&value=false",
    "entry=pushEnabled&value=true",
    "entry=defaultCacheMillis&value=3000",
    "entry=defaultCacheMillis&value=10000",
)


WRITE_TARGETS = (
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.5&port=8080",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080&weight=2&metadata=%7B%22a%22%3A%221%22%7D",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.2&port=8080&ephemeral=false",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.3&port=8080&ephemeral=true&enabled=false",
    "serviceName=DEFAULT_GROUP%40%40new&groupName=G&ip=10.0.0.6&port=1&clusterName=c1&healthy=false",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.7&port=8080&metadata=a%3Db&app=x",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.7&port=8080&weight=-1",
    "serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.7&port=8080&metadata=%7B%22preserved.instance.id.generator%22%3A%22snowflake%22%7D",
    "serviceName=svc&ip=10.0.0.8",
)


WRITE_VALUES: dict[str, tuple[str, ...]] = {
    "namespaceId": ("public", "", "ns-1", "bad/ns", "%2E", "..", "n%20s", "x" * 129),
    "serviceName": (
        *("DEFAULT_GROUP%40%40svc", "DEFAULT_GROUP@@svc", "svc", "g%40%40other", "a%40%40b%40%40c", ""),
        *("%40%40svc", "svc%40%40", "bad+name", "s" * 600, "sv%C3%A9", "%20svc"),
    ),
    "groupName": ("G", "", "%20", "bad", "g%40%40h"),
    "dom": ("svc", ""),
    "ip": (
        *("10.0.0.5", "10.0.0.1", "10.0.0.2", "010.0.0.1", "999.0.0.1", "", "a:b", "host.example"),
        *("fe80::1", "10.0.0.1%20", "1.2.3", "%31.0.0.1", "0010.0.0.1"),
    ),
    "port": ("8080", "8080", "0", "-1", "70000", "x", "", "08080", "+80", "65535", "65536"),
    "weight": (
        *("1.0", "1", "0", "0.001", "2.5", "-1", "10000", "10000.5", "NaN", "Infinity", "1e2", "x"),
        *("", ".5", "1.", "1.2.3", "0x1p3", "9" * 30),
    ),
    "enabled": ("true", "false", "TRUE", "yes", "y", "t", "no", "1", "", "tru%65", "%20true", "truex"),
    "enable": ("true", "false", "on", ""),
    "healthy": ("true", "false", "T", "off", "", "%74rue"),
    "ephemeral": ("true", "true", "false", "", "yes", "no", "x", "%20"),
    "metadata": (
        *("%7B%7D", "{}", "a%3Db", "a%3Db%2Cc%3Dd", "%7B%22a%22%3A%221%22%7D", "%7B%22a%22%3A1%7D"),
        *("%7B%22a%22%3Anull%7D", "%7B", "%7B%22a%22%3A%20%22b%22%7D", "%20%7B%7D", "a%3D", "+a%3Db"),
        "%7B%22preserved.instance.id.generator%22%3A%22snowflake%22%7D",
        "%7B%22preserved.heart.beat.interval%22%3A%221000%22%7D",
        "%7B%22%5Cud800%22%3A%22x%22%7D",
        "%7B%22k%22%3A%22" + "v" * 1100 + "%22%7D",
    ),
    "app": ("bench", "", "a" * 600, "%20x", "x+y", "%FF", "caf%C3%A9"),
    "clusterName": ("DEFAULT", "c1", "bad_cluster", "", "c%2D1", "%20"),
    "cluster": ("c1", "", "bad.c"),
}
"""Values of every register/deregister parameter, good and bad (each 400 the handlers answer)."""
PLAIN_WRITE = {
    "namespaceId": "public",
    "serviceName": "DEFAULT_GROUP%40%40svc",
    "ip": "10.0.0.5",
    "port": "8080",
    "weight": "1.0",
    "enable": "true",
    "healthy": "true",
    "ephemeral": "true",
    "metadata": "%7B%7D",
    "app": "bench",
}


@st.composite
def write_query(draw: st.DrawFn) -> str:
    """A register/deregister query: the plain one with some parameters changed, dropped or repeated."""
    pairs = dict(PLAIN_WRITE)
    for key in draw(st.lists(st.sampled_from(sorted(WRITE_VALUES)), max_size=3)):
        pairs[key] = draw(st.sampled_from(WRITE_VALUES[key]))
    for key in draw(st.lists(st.sampled_from(sorted(pairs)), max_size=2)):
        pairs.pop(key, None)
    items = [f"{key}={value}" for key, value in pairs.items()]
    if draw(st.booleans()):
        items = draw(st.permutations(items))
    repeated = draw(st.lists(st.sampled_from(sorted(WRITE_VALUES)), max_size=1))
    items += [f"{key}={draw(st.sampled_from(WRITE_VALUES[key]))}" for key in repeated]
    return "&".join(items)


@st.composite
def write_request(draw: st.DrawFn) -> bytes:
    """A register or deregister with its parameters in the query, as Nacos clients send them."""
    method = draw(st.sampled_from((b"POST", b"POST", b"DELETE")))
    line = method + b" /nacos/v1/ns/instance?" + draw(write_query()).encode()
    headers = draw(st.lists(st.sampled_from(GOOD_HEADERS), max_size=2))
    return b"\r\n".join([line + b" HTTP/1.1", *headers]) + b"\r\n\r\n"


@st.composite
def clean_request(draw: st.DrawFn) -> bytes:
    """A request of the shapes the compiled path answers (some of which it must still decline)."""
    kind = draw(st.sampled_from(("beat", "beat", "list", "list", "list", "POST", "DELETE", "switch")))
    if kind == "switch":
        line = b"PUT /nacos/v1/ns/operator/switches?" + draw(st.sampled_from(SWITCH_TARGETS)).encode()
    elif kind == "beat":
        line = b"PUT /nacos/v1/ns/instance/beat?" + draw(st.sampled_from(BEAT_TARGETS)).encode()
    elif kind == "list":
        line = b"GET /nacos/v1/ns/instance/list?" + draw(st.sampled_from(LIST_TARGETS)).encode()
    else:
        line = kind.encode() + b" /nacos/v1/ns/instance?" + draw(st.sampled_from(WRITE_TARGETS)).encode()
    extra = draw(st.lists(QUERY_PAIRS, max_size=2))
    if extra:
        line += b"&" + "&".join(extra).encode()
    if kind == "list" and draw(st.booleans()):
        headers = list(JAVA_HEAD)
    else:
        headers = draw(st.lists(st.sampled_from(GOOD_HEADERS), max_size=3))
    return b"\r\n".join([line + b" HTTP/1.1", *headers]) + b"\r\n\r\n"


@st.composite
def wild_request(draw: st.DrawFn) -> bytes:
    """Any mix of good and bad request lines, headers, versions, line ends and bodies."""
    route = draw(st.sampled_from(("beat", "list", "other")))
    method = draw(st.sampled_from(("GET", "PUT", "POST", "DELETE", "HEAD", "get")))
    target = draw(st.sampled_from(PATHS[route]))
    pairs: list[str] = draw(st.lists(QUERY_PAIRS, max_size=6))
    empty_query: bool = draw(st.booleans())
    if pairs or empty_query:
        target += "?" + "&".join(pairs)
    version = draw(st.sampled_from((b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.1 ", b"HTTP/2.0")))
    headers = draw(st.lists(st.sampled_from(HEADERS), max_size=4))
    body = b""
    if draw(st.booleans()):
        body = b"ip=10.0.0.2"
        headers.append(b"Content-Length: %d" % len(body))
    newline = draw(st.sampled_from((b"\r\n", b"\n")))
    head = newline.join([method.encode() + b" " + target.encode("latin-1") + b" " + version, *headers])
    return head + newline + newline + body


requests = st.one_of(clean_request(), clean_request(), clean_request(), write_request(), wild_request())


@st.composite
def inputs(draw: st.DrawFn) -> list[bytes]:
    """Reads as one connection would see them: each one or more pipelined requests, maybe cut short."""
    batches = draw(st.lists(st.lists(requests, min_size=1, max_size=4), min_size=1, max_size=6))
    reads = [b"".join(batch) for batch in batches]
    if draw(st.integers(0, 4)) == 0:
        reads[-1] = reads[-1][: draw(st.integers(1, len(reads[-1])))]
    return reads + reads  # repeated: the second time the memos are warm and the fast path answers


@st.composite
def switches(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "lightBeatEnabled": draw(st.booleans()),
        "clientBeatInterval": draw(st.sampled_from((5000, 3000))),
        "defaultCacheMillis": draw(st.sampled_from((3000, 10000))),
        "limitedUrlMap": draw(st.sampled_from(({}, {}, {}, {"/nacos/v1/ns/instance/beat": 429}))),
        "overriddenServerStatus": draw(st.sampled_from(("", "", "UP", "DOWN", "READ_ONLY"))),
        "pushEnabled": draw(st.sampled_from((True, True, False))),
        "defaultPushCacheMillis": draw(st.sampled_from((10000, 3000))),
        "pushJavaVersion": draw(st.sampled_from(("0.1.0", "0.1.0", "1.4.2"))),
    }


@st.composite
def push_sinks(draw: st.DrawFn) -> PushConfig | None:
    """``None``: a recording sink (every call and its arguments); else a real ``PushHub`` with this
    configuration (small tables and field limits reach its refusals and its zombie sweep)."""
    if draw(st.booleans()):
        return None
    return PushConfig(
        push_to_client_ip=draw(st.booleans()),
        max_subscribers=draw(st.sampled_from((2, 4096))),
        max_field_length=draw(st.sampled_from((24, 256))),
    )


@dataclass
class RecordingReplication:
    """A replication sink (``state.replication``) that records the local changes it is told of."""

    changed: list[tuple[str, str, int]] = field(default_factory=list)

    def local_change(self, namespace: str, name: str, now_ms: int) -> None:
        self.changed.append((namespace, name, now_ms))

    def status(self) -> dict[str, Any]:
        return {}


@dataclass
class RecordingHealthChecks:
    """A health-check sink (``state.health_checks``) that records the service changes it is told of."""

    changed: list[tuple[str, str, int | None]] = field(default_factory=list)

    def check_rt(self, namespace: str, service: str, cluster: str) -> tuple[int, int, int] | None:
        return None

    def service_changed(self, namespace: str, name: str, service: Service | None) -> None:
        self.changed.append((namespace, name, None if service is None else service.revision))


SELF = "127.0.0.2:8848"
PEERS = ("127.0.0.1:8848", "127.0.0.3:8848")
"""This node sorts between its peers, so which services it owns changes with the healthy list:
``DEFAULT_GROUP@@svc`` is its own alone or with ``127.0.0.3`` only, its peers' otherwise."""
MEMBERSHIP_CHANGES = ("down", "up", "leave", "join")


@dataclass
class RecordingForwarding:
    """A forwarding sink (``state.forwarding``) that records what goes to which owner; a forwarded
    request is answered at once with a body naming the owner and the request."""

    forwarded: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    relayed: list[tuple[str, str, str, str]] = field(default_factory=list)

    def forward(self, owner: str, request: Request) -> Response:
        self.forwarded.append((owner, request.method, request.path, request.query))
        return Response(
            body=b"forwarded to %s: %s %b" % (owner.encode(), request.method.encode(), request.query)
        )

    def relay_beat(self, owner: str, namespace: str, name: str, key: str) -> None:
        self.relayed.append((owner, namespace, name, key))

    def counters(self) -> dict[str, int]:
        return {}


def _change_membership(members: MemberTable, change: str, peer: str, now_ms: int) -> None:
    """One membership change as the node's membership task would make it."""
    if change == "down":
        members.on_failure(peer, now_ms, refused=True)
    elif change == "up":
        members.on_report(peer, now_ms, WALL_EPOCH_MS + now_ms)
    elif change == "leave":
        members.set_members([address for address in members.others() if address != peer], now_ms)
    else:
        members.set_members([*members.others(), peer], now_ms)


def _render_unused(namespace: str, service: str, clusters: str, agent: str, client_ip: str) -> bytes:
    raise AssertionError("nothing polls the push hub here")


def _node(
    switch_values: dict[str, Any],
    peers: tuple[str, ...] | None = None,
    push_config: PushConfig | None = None,
) -> tuple[NamingApp, NamingState]:
    """A node with three instances of ``DEFAULT_GROUP@@svc`` (one of them persistent too); with
    ``peers``, a cluster member (``SELF``) among them, all UP; with ``push_config``, a real
    ``PushHub`` rather than a recording push sink."""
    push: PushSink = RecordingPush() if push_config is None else PushHub(_render_unused, push_config)
    state = NamingState(
        push=push,
        journal=MemoryJournal(),
        replication=RecordingReplication(),
        health_checks=RecordingHealthChecks(),
    )
    app = NamingApp(state)
    for ip, metadata in (
        ("10.0.0.1", "{}"),
        ("10.0.0.2", "%7B%22preserved.heart.beat.interval%22%3A%221000%22%7D"),
        ("10.0.0.3", "{}"),
    ):
        query = f"serviceName=DEFAULT_GROUP%40%40svc&ip={ip}&port=8080&metadata={metadata}".encode()
        assert app.handle(Request("POST", "/nacos/v1/ns/instance", query), 0, WALL_EPOCH_MS).status == 200
    query = b"serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.3&port=8080&ephemeral=false"
    app.handle(Request("POST", "/nacos/v1/ns/instance", query), 0, WALL_EPOCH_MS)
    state.beats.beat(("public", "DEFAULT_GROUP@@svc", "10.0.0.2:8080:unknown:DEFAULT"), 10_000)
    state.beats.sweep(16_000)  # 10.0.0.1 and .3 unhealthy in the table only: their next beat revives
    state.registry.set_healthy("public", "DEFAULT_GROUP@@svc", "10.0.0.3:8080:unknown:DEFAULT", True, False)
    for key, value in switch_values.items():
        setattr(state.switches, key, value)
    if peers is not None:
        state.members = MemberTable(SELF, peers, 0)
        state.forwarding = RecordingForwarding()
    return app, state


def _python_answers(
    conn: HttpConnection, app: NamingApp, data: bytes, now_ms: int, stats: RequestStats | None = None
) -> bytes:
    def call(request: Request) -> Response:
        response = app.handle(request, now_ms, WALL_EPOCH_MS + now_ms)
        if stats is not None:  # as the server's handler counts what the Python path answers
            stats.record(request.path, response.status, 0)
        return response

    out: list[bytes] = []
    pending = answer_ready(conn, conn.feed(data, now_ms), call, out)
    if pending is not None:  # a durable write: the answer itself is what matters here
        out.append(b"<pending %d %r>" % (pending.response.status, pending.response.body))
    return b"".join(out)


def _fast_answers(
    conn: HttpConnection,
    app: NamingApp,
    fast: FastPath,
    data: bytes,
    now_ms: int,
    date: HttpDate,
    stats: RequestStats | None = None,
) -> bytes:
    out = b""
    if conn.between_requests:
        out, consumed, _, closing = fast.serve(
            data, now_ms, WALL_EPOCH_MS + now_ms, date.line, MAX_PIPELINED_REQUESTS, conn.remote[0]
        )
        if closing:
            conn.closing = True
        if consumed == len(data) and out:
            return out
        data = data[consumed:]
    return out + _python_answers(conn, app, data, now_ms, stats)


def _push_state(push: PushSink, now_ms: int) -> Any:
    """Everything a push sink holds that a list can change."""
    if isinstance(push, RecordingPush):
        return push.changed, push.subscriptions
    assert isinstance(push, PushHub)
    subscribers = [  # oldest poll first: the order the zombie sweep and a full table go by
        (
            s.key,
            s.namespace,
            s.service,
            s.clusters,
            s.ip,
            s.port,
            s.addr,
            s.agent,
            s.app,
            s.tenant,
            s.last_ref_ms,
        )
        for s in push._by_age
    ]
    return subscribers, push.counters(), push.next_deadline_ms(now_ms)


def _request_counts(stats: RequestStats) -> list[tuple[Any, float]]:
    """``nacosfast_http_requests_total`` as a scrape shows it."""
    return [(sample.labels, sample.value) for sample in stats.families()[0].samples]


def _state_of(state: NamingState, now_ms: int) -> Any:
    registry = state.registry
    services = {}
    keys = []
    for namespace in registry.namespaces():
        for name in registry.services(namespace):
            service = registry.get(namespace, name)
            assert service is not None
            services[(namespace, name)] = (
                service.revision,
                [
                    (
                        i.key,
                        i.weight,
                        i.healthy,
                        i.enabled,
                        i.ephemeral,
                        i.marked,
                        dict(i.metadata),
                        i.instance_id,
                        i.app,
                    )
                    for i in service.instances()
                ],
            )
            keys += [(namespace, name, i.key) for i in service.instances(True)]
    beats = {key: (state.beats.last_beat(key), state.beats.is_healthy(key)) for key in keys}
    replication = state.replication
    assert isinstance(replication, RecordingReplication)
    health_checks = state.health_checks
    assert isinstance(health_checks, RecordingHealthChecks)
    forwarding = state.forwarding
    routed = (
        (forwarding.forwarded, forwarding.relayed) if isinstance(forwarding, RecordingForwarding) else None
    )
    return (
        services,
        beats,
        _push_state(state.push, now_ms),
        replication.changed,
        health_checks.changed,
        routed,
    )


def _compare(
    reads: list[tuple[str, bytes]],
    switch_values: dict[str, Any],
    small: bool = False,
    *,
    push_config: PushConfig | None = None,
    gaps: list[int] | None = None,
    peers: tuple[str, ...] | None = None,
    changes: dict[int, tuple[str, str]] | None = None,
) -> None:
    """Feed ``(remote address, data)`` reads to a Python-only node and to a node with the compiled
    path in front; compare every answer, then the resulting state and request counts. Each address's
    reads go to one connection (a new one once a request closed it); ``gaps[step]`` ms pass before
    read ``step`` (1 without ``gaps``). With ``peers`` both nodes are cluster members, and before read
    ``step`` both apply ``changes[step]``."""
    limits = SMALL_LIMITS if small else DEFAULT_HTTP_LIMITS
    date = HttpDate()
    date.refresh(WALL_EPOCH_MS)
    reference_app, reference = _node(switch_values, peers, push_config)
    fast_app, fast_state = _node(switch_values, peers, push_config)
    fast = build_fast_path(fast_state, limits)
    reference_stats, fast_stats = RequestStats(), RequestStats()
    fast_stats.count_answered_elsewhere(fast.counts)
    connections: dict[str, tuple[HttpConnection, HttpConnection]] = {}
    now_ms = 20_000
    for step, (remote, data) in enumerate(reads):
        if remote not in connections or connections[remote][0].closing:  # the client opens a new one
            connections[remote] = (
                HttpConnection((remote, 5), limits, date=date),
                HttpConnection((remote, 5), limits, date=date),
            )
        reference_conn, fast_conn = connections[remote]
        now_ms += gaps[step % len(gaps)] if gaps else 1  # a long gap makes earlier subscribers zombies
        if changes and step in changes:
            for state in (reference, fast_state):
                assert state.members is not None
                _change_membership(state.members, *changes[step], now_ms)
        expected = _python_answers(reference_conn, reference_app, data, now_ms, reference_stats)
        got = _fast_answers(fast_conn, fast_app, fast, data, now_ms, date, fast_stats)
        assert got == expected, data
        assert fast_conn.closing == reference_conn.closing
    assert _state_of(fast_state, now_ms) == _state_of(reference, now_ms)
    assert _request_counts(fast_stats) == _request_counts(reference_stats)


GAPS = st.lists(st.sampled_from((1, 1, 4_000, 11_000)), min_size=24, max_size=24)
"""Milliseconds between reads: past 10 s a subscriber that has not polled is a zombie."""


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    reads=inputs(),
    switch_values=switches(),
    small=st.booleans(),
    push_config=push_sinks(),
    remote=st.sampled_from(REMOTES),
    gaps=GAPS,
)
def test_fast_path_answers_like_the_python_path(
    reads: list[bytes],
    switch_values: dict[str, Any],
    small: bool,
    push_config: PushConfig | None,
    remote: str,
    gaps: list[int],
) -> None:
    reads_from = [(remote, data) for data in reads]
    _compare(reads_from, switch_values, small, push_config=push_config, gaps=gaps)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    reads=inputs(),
    switch_values=switches(),
    small=st.booleans(),
    push_config=push_sinks(),
    peers=st.sampled_from(((), PEERS[:1], PEERS[1:], PEERS)),
    changes=st.dictionaries(
        st.integers(0, 11), st.tuples(st.sampled_from(MEMBERSHIP_CHANGES), st.sampled_from(PEERS)), max_size=4
    ),
)
def test_fast_path_on_a_cluster_member_answers_like_the_python_path(
    reads: list[bytes],
    switch_values: dict[str, Any],
    small: bool,
    push_config: PushConfig | None,
    peers: tuple[str, ...],
    changes: dict[int, tuple[str, str]],
) -> None:
    """As above on a member of a 1-3 member cluster whose membership changes between reads: beats of
    services another member owns are relayed, and writes forwarded, exactly as the Python path does;
    lists (subscribing ones too) are answered from the member's replica."""
    reads_from = [("127.0.0.1", data) for data in reads]
    _compare(reads_from, switch_values, small, push_config=push_config, peers=peers, changes=changes)


@st.composite
def list_poll(draw: st.DrawFn) -> bytes:
    """One client's ``instance/list`` poll: a real client's shape, or one of parameters drawn."""
    if draw(st.booleans()):
        query = draw(st.sampled_from(LIST_TARGETS))
    else:
        pairs = [
            "serviceName=" + draw(st.sampled_from(SERVICES[:3])),
            *draw(
                st.lists(
                    st.one_of(
                        PUSH_PAIRS,
                        _pair("udpPort", ("53", "54", "5353")),
                        _pair("clusters", ("", "DEFAULT", "c1,DEFAULT")),
                        _pair("healthyOnly", BOOLS),
                        _pair("env", ("", "prod")),
                        _pair("namespaceId", NAMESPACES),
                    ),
                    max_size=5,
                )
            ),
        ]
        query = "&".join(draw(st.permutations(pairs)))
    head = draw(st.sampled_from(("java", "java", "python", "drawn", "drawn")))
    if head == "drawn":
        headers = draw(st.lists(st.sampled_from(GOOD_HEADERS), max_size=3))
    else:
        headers = list(JAVA_HEAD if head == "java" else PYTHON_HEAD)
    line = b"GET /nacos/v1/ns/instance/list?" + query.encode() + b" HTTP/1.1"
    return b"\r\n".join([line, *headers]) + b"\r\n\r\n"


BETWEEN_POLLS = (
    *(
        b"PUT /nacos/v1/ns/operator/switches?" + target.encode() + b" HTTP/1.1\r\n\r\n"
        for target in SWITCH_TARGETS
    ),
    b"POST /nacos/v1/ns/instance?" + WRITE_TARGETS[0].encode() + b" HTTP/1.1\r\n\r\n",
    b"DELETE /nacos/v1/ns/instance?" + WRITE_TARGETS[0].encode() + b" HTTP/1.1\r\n\r\n",
)
"""What happens between polls: an operator changes a switch, an instance comes or goes."""


@st.composite
def polls(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    """A few clients polling the same lists again and again from a few addresses (so the compiled
    path answers most of them), with a switch change or a write now and then."""
    pool = draw(st.lists(list_poll(), min_size=1, max_size=4))
    if draw(st.booleans()):  # the same poll without push: same answer but for ``cacheMillis``
        pool.append(re.sub(rb"udpPort=[^& ]*", b"udpPort=0", pool[0]))
    reads = []
    for _ in range(draw(st.integers(2, 16))):
        peer = draw(st.sampled_from(REMOTES))
        batch = [
            draw(st.sampled_from(BETWEEN_POLLS))
            if draw(st.integers(0, 7)) == 0
            else draw(st.sampled_from(pool))
            for _ in range(draw(st.integers(1, 3)))
        ]
        reads.append((peer, b"".join(batch)))
    return reads


JAVA_POLL = b"GET /nacos/v1/ns/instance/list?%b HTTP/1.1\r\n%b\r\n\r\n" % (
    JAVA_LIST_QUERY.encode(),
    b"\r\n".join(JAVA_HEAD),
)
PUSH_OFF, PUSH_ON = BETWEEN_POLLS[:2]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reads=polls(), switch_values=switches(), push_config=push_sinks(), gaps=GAPS)
@example(  # the poll answered with push off (cacheMillis 3000) must not answer it with push on
    reads=[
        ("127.0.0.1", PUSH_OFF),
        ("127.0.0.1", JAVA_POLL),
        ("127.0.0.1", PUSH_ON),
        ("127.0.0.1", JAVA_POLL),
    ],
    switch_values={},
    push_config=None,
    gaps=[1] * 24,
)
@example(  # two addresses fill a table of two; 11 s later a third finds zombies to sweep
    reads=[
        ("127.0.0.1", JAVA_POLL),
        ("127.0.0.2", JAVA_POLL * 2),
        ("127.0.0.1", JAVA_POLL),
        ("::1", JAVA_POLL),
    ],
    switch_values={},
    push_config=PushConfig(max_subscribers=2),
    gaps=[1, 1, 1, 11_000] * 6,
)
def test_fast_path_answers_list_polls_like_the_python_path(
    reads: list[tuple[str, bytes]],
    switch_values: dict[str, Any],
    push_config: PushConfig | None,
    gaps: list[int],
) -> None:
    """Lists that subscribe for push (``udpPort``, ``clientIP``, ``app``, ``tid``, good and bad, from
    several addresses and clients): same answers, subscribers, refresh times and counters."""
    _compare(reads, switch_values, push_config=push_config, gaps=gaps)


def test_fast_path_answers_the_hot_requests_itself() -> None:
    """Guards the test above against a fast path that always declines (it would pass trivially)."""
    date = HttpDate()
    date.refresh(WALL_EPOCH_MS)
    app, state = _node({})
    fast = build_fast_path(state)
    beat = (
        b"PUT /nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080"
        b" HTTP/1.1\r\n"
        b"User-Agent: Nacos-Java-Client:v1.4.1\r\n\r\n"
    )
    listing = b"GET /nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40svc HTTP/1.1\r\n\r\n"
    conn = HttpConnection(("127.0.0.1", 5), date=date)
    first = _python_answers(conn, app, listing, 1)  # fills the list memo and render cache
    out, consumed, answered, closing = fast.serve(
        beat + listing, 2, WALL_EPOCH_MS + 1, date.line, 8, "127.0.0.1"
    )
    assert (consumed, answered, closing) == (len(beat + listing), 2, False)
    assert out.endswith(first[first.index(b"\r\n\r\n") :])
    assert b'"code":10200' in out
    assert fast.counts() == {"beat": 1, "list": 1, "register": 0, "deregister": 0}
    # A registration and a deregistration it answers tell push, replication and the health checker.
    push, replication, checks = state.push, state.replication, state.health_checks
    assert isinstance(push, RecordingPush)
    assert isinstance(replication, RecordingReplication)
    assert isinstance(checks, RecordingHealthChecks)
    before = len(push.changed), len(replication.changed), len(checks.changed)
    target = b"/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.5&port=1 HTTP/1.1\r\n\r\n"
    writes = b"POST " + target + b"DELETE " + target
    assert fast.serve(writes, 3, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[:3] == (
        b"".join(
            [
                b"HTTP/1.1 200 OK\r\n",
                date.line,
                b"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 2\r\n\r\nok",
            ]
        )
        * 2,
        len(writes),
        2,
    )
    assert (len(push.changed), len(replication.changed), len(checks.changed)) == tuple(n + 2 for n in before)
    assert replication.changed[-2:] == [("public", "DEFAULT_GROUP@@svc", 3)] * 2
    assert checks.changed[-1][:2] == ("public", "DEFAULT_GROUP@@svc")
    fast.enabled = False
    assert fast.serve(beat, 3, WALL_EPOCH_MS, date.line, 8, "127.0.0.1") == (b"", 0, 0, False)


def test_fast_path_answers_subscribing_lists_and_refreshes_their_subscribers() -> None:
    """Guards the list tests above: a poll with ``udpPort`` is answered here once the Python path has
    answered it, refreshing its subscriber (or adding one for a new address) in a real ``PushHub``."""
    date = HttpDate()
    date.refresh(WALL_EPOCH_MS)
    app, state = _node({}, push_config=PushConfig())
    hub = state.push
    assert isinstance(hub, PushHub)
    fast = build_fast_path(state)
    conn = HttpConnection(("127.0.0.1", 5), date=date)
    first = _python_answers(conn, app, JAVA_POLL, 1)  # subscribes; fills the list memo and render cache
    assert b'"cacheMillis":10000' in first
    assert [(s.addr, s.last_ref_ms) for s in hub.subscribers("public", "DEFAULT_GROUP@@svc")] == [
        (("127.0.0.1", 54321), 1)
    ]
    out, consumed, answered, _ = fast.serve(JAVA_POLL * 2, 5, WALL_EPOCH_MS + 1, date.line, 8, "127.0.0.1")
    assert (consumed, answered) == (2 * len(JAVA_POLL), 2)
    assert out.endswith(first[first.index(b"\r\n\r\n") :])
    assert fast.serve(JAVA_POLL, 6, WALL_EPOCH_MS + 1, date.line, 8, "127.0.0.2")[2] == 1
    subscribers = hub.subscribers("public", "DEFAULT_GROUP@@svc")
    assert [(s.ip, s.addr, s.app, s.last_ref_ms) for s in subscribers] == [
        ("10.0.0.7", ("127.0.0.1", 54321), "unknown", 5),
        ("10.0.0.7", ("127.0.0.2", 54321), "unknown", 6),
    ]
    assert hub.counters()["subscribed"] == 2
    # nacos-sdk-python never subscribes (Nacos does not push to it): answered here all the same.
    python_poll = JAVA_POLL.replace(b"Nacos-Java-Client:v1.4.1", b"Nacos-Python-Client:v0.1.17")
    assert b'"cacheMillis":3000' in _python_answers(conn, app, python_poll, 7)
    assert fast.serve(python_poll, 8, WALL_EPOCH_MS, date.line, 8, "127.0.0.3")[2] == 1
    assert hub.subscriber_count == 2
    assert fast.counts()["list"] == 4


def test_fast_path_leaves_a_register_with_a_value_that_is_not_utf8_to_the_python_path() -> None:
    """Such a write is a 400 with the parameter's name (``ParamEncodingError``): the compiled path
    declines it, neither reader raises, and the Python path answers it."""
    date = HttpDate()
    date.refresh(WALL_EPOCH_MS)
    app, state = _node({})
    fast = build_fast_path(state)
    for method in (b"POST", b"DELETE"):
        request = method + b" /nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.5"
        request += b"&port=1&app=%FF HTTP/1.1\r\n\r\n"
        assert fast.serve(request, 30_000, WALL_EPOCH_MS, date.line, 8, "127.0.0.1") == (b"", 0, 0, False)
        answer = _python_answers(HttpConnection(("127.0.0.1", 5), date=date), app, request, 30_000)
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert b"Param 'app' is not valid UTF-8" in answer


def test_plain_light_beats_are_read_without_the_naming_layer() -> None:
    """A plain light beat (canonical IPv4 and port) is read in compiled code: the per-query resolver
    that unusual queries take is never called for it."""
    date = HttpDate()
    date.refresh(WALL_EPOCH_MS)
    _, state = _node({})
    resolved: list[bytes] = []
    reference = build_fast_path(state)

    def resolve(query: bytes) -> None:
        resolved.append(query)

    fast = FastPath(
        state,
        resolve_beat=resolve,
        after_beat=lambda *args: None,
        beat_body=lambda interval, light: b"body",
        writes=WriteReader(
            check_names=lambda namespace, name, cluster: True,
            parse_metadata=lambda text: None,
            memo_limit=8,
            metadata_memo_chars=8,
        ),
        upsert=lambda namespace, name, instance, now_ms: None,
        remove=lambda namespace, name, key, now_ms: None,
        register=lambda query, now_ms: False,
        deregister=lambda query, now_ms: False,
        list_subscribes=lambda query, client: False,
        subscribe=lambda query, agent, peer_ip, now_ms: None,
        list_tag="instance/list",
        max_head_bytes=4096,
        max_header_fields=8,
        memo_limit=8,
    )
    plain = b"PUT /nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.2&port=8080"
    plain += b" HTTP/1.1\r\n\r\n"
    odd = plain.replace(b"ip=10.0.0.2", b"ip=%31%30.0.0.2")  # 10.0.0.2, escaped
    assert fast.serve(plain, 30_000, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 1
    assert resolved == []
    assert fast.serve(odd, 30_001, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 0
    assert resolved == [odd.split(b"?")[1].split(b" ")[0]]
    # the naming layer reads it
    assert reference.serve(odd, 30_002, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 1


def test_fast_path_on_a_cluster_member_answers_what_the_member_answers_itself() -> None:
    """Guards the cluster test above against a fast path that declines everything on a member: it
    beats and writes for owned services, relays beats of known instances of other members' services,
    leaves the rest to the Python path, lists from its replica; ownership follows membership."""
    date = HttpDate()
    date.refresh(WALL_EPOCH_MS)
    app, state = _node({}, PEERS[1:])  # this node owns DEFAULT_GROUP@@svc
    members, forwarding = state.members, state.forwarding
    assert members is not None
    assert isinstance(forwarding, RecordingForwarding)
    fast = build_fast_path(state)
    query = b"serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080"
    beat = b"PUT /nacos/v1/ns/instance/beat?" + query + b" HTTP/1.1\r\n\r\n"
    unknown = beat.replace(b"10.0.0.1", b"10.0.0.9")
    listing = b"GET /nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40svc HTTP/1.1\r\n\r\n"
    register = b"POST /nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.5&port=1"
    register += b" HTTP/1.1\r\n\r\n"
    key = ("public", "DEFAULT_GROUP@@svc", "10.0.0.1:8080:unknown:DEFAULT")
    assert fast.serve(beat + register, 30_000, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 2
    assert state.beats.last_beat(key) == 30_000
    _python_answers(HttpConnection(("127.0.0.1", 5), date=date), app, listing, 30_000)  # renders it
    assert fast.serve(listing, 30_000, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 1
    _change_membership(members, "join", PEERS[0], 30_001)  # now 127.0.0.1 owns it
    answer = fast.serve(beat, 30_002, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")
    assert answer[2] == 1
    assert answer[0] == _python_answers(HttpConnection(("127.0.0.1", 5), date=date), app, beat, 30_002)
    assert forwarding.relayed == [(PEERS[0], *key)] * 2  # the compiled path's, then the Python path's
    assert state.beats.last_beat(key) == 30_000  # the owner keeps the heartbeat table, not this node
    assert (
        fast.serve(unknown, 30_002, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 0
    )  # forwarded by Python
    assert fast.serve(register, 30_002, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 0  # likewise
    assert forwarding.forwarded == []
    assert (
        fast.serve(listing, 30_002, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 1
    )  # lists: from the replica
    _change_membership(members, "down", PEERS[0], 30_004)  # its own again
    assert fast.serve(beat, 30_005, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 1
    assert state.beats.last_beat(key) == 30_005
    assert len(forwarding.relayed) == 2
    assert fast.counts() == {"beat": 3, "list": 2, "register": 1, "deregister": 0}


def test_fast_path_stands_aside_behind_a_closed_gate_and_when_routing_changes() -> None:
    """Behind a closed gate, with auth on, while the node warms up, and once the node's cluster
    routing is no longer what it was built with."""
    date = HttpDate()
    date.refresh(WALL_EPOCH_MS)
    beat = b"PUT /nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.2&port=8080"
    beat += b" HTTP/1.1\r\n\r\n"
    _, state = _node({})
    assert build_fast_path(state).serve(beat, 30_000, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 1
    assert (
        build_fast_path(state, gate=lambda: False).serve(
            beat, 30_001, WALL_EPOCH_MS, date.line, 8, "127.0.0.1"
        )[2]
        == 0
    )
    auth = auth_node().gate
    assert (
        build_fast_path(state, auth=auth).serve(beat, 30_001, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2]
        == 0
    )
    state.ready = False  # a cluster node loading its peers' data answers 503 (NamingApp)
    assert build_fast_path(state).serve(beat, 30_001, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 0
    state.ready = True
    fast = build_fast_path(state)
    state.members = MemberTable(SELF, PEERS, 30_002)  # it was built for a standalone node
    state.forwarding = RecordingForwarding()
    assert fast.serve(beat, 30_002, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 0
