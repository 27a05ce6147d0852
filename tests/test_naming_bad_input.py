"""Bad input to the instance endpoints: always a clear 4xx, never a 500, and nothing stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nacosfast.naming.app import NamingApp
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import FORM_CONTENT_TYPE, Request
from tests.instance_helpers import SERVICE, fingerprint, register
from tests.naming_helpers import JAVA_UA, PYTHON_UA, MemoryJournal, RecordingPush, call

VALID: dict[str, str] = {"serviceName": SERVICE, "ip": "10.0.0.9", "port": "8080"}
LONG = "x" * 10_000

# Each case: (id, changes to VALID; None removes the parameter).
NAME_CASES: list[tuple[str, dict[str, str | None]]] = [
    ("no-service", {"serviceName": None}),
    ("blank-service", {"serviceName": "   "}),
    ("no-ip", {"ip": None}),
    ("blank-ip", {"ip": " "}),
    ("no-port", {"port": None}),
    ("port-negative", {"port": "-1"}),
    ("port-65536", {"port": "65536"}),
    ("port-abc", {"port": "abc"}),
    ("port-huge", {"port": "99999999999"}),
    ("port-float", {"port": "1.5"}),
    ("port-hex", {"port": "0x50"}),
    ("port-unicode-digits", {"port": "٨٠"}),
    ("service-10k", {"serviceName": "G@@" + LONG}),
    ("group-10k", {"serviceName": "svc", "groupName": LONG}),
    ("namespace-10k", {"namespaceId": LONG}),
    ("cluster-10k", {"clusterName": LONG}),
    ("ip-10k", {"ip": "a" * 10_000}),
    ("service-double-separator", {"serviceName": "a@@b@@c"}),
    ("group-injects-separator", {"serviceName": "svc", "groupName": "a@@b"}),
    ("service-trailing-separator", {"serviceName": "grp@@"}),
    ("service-empty-group", {"serviceName": "@@svc"}),
    ("service-hash", {"serviceName": "G@@svc#1"}),
    ("service-hashes", {"serviceName": "G@@ns##svc"}),
    ("service-space", {"serviceName": "G@@s v c"}),
    ("service-slash", {"serviceName": "G@@a/b"}),
    ("service-newline", {"serviceName": "G@@a\nb"}),
    ("group-hash", {"serviceName": "svc", "groupName": "g#1"}),
    ("cluster-colon", {"clusterName": "a:b"}),
    ("cluster-hash", {"clusterName": "a#b"}),
    ("cluster-separator", {"clusterName": "a@@b"}),
    ("cluster-underscore", {"clusterName": "a_b"}),
    ("cluster-dot", {"clusterName": "a.b"}),
    ("cluster-comma", {"clusterName": "a,b"}),
    ("legacy-cluster-colon", {"cluster": "x:y"}),
    ("namespace-traversal", {"namespaceId": "../x"}),
    ("namespace-dotdot", {"namespaceId": ".."}),
    ("namespace-dot", {"namespaceId": "."}),
    ("namespace-slash", {"namespaceId": "a/b"}),
    ("namespace-backslash", {"namespaceId": "a\\b"}),
    ("namespace-hash", {"namespaceId": "a#b"}),
    ("namespace-separator", {"namespaceId": "a@@b"}),
    ("namespace-percent", {"namespaceId": "%2e%2e"}),
    ("namespace-nul", {"namespaceId": "a\x00b"}),
    ("ip-with-port", {"ip": "10.0.0.1:80"}),
    ("ip-datum-key", {"ip": "10.0.0.1:80:unknown:DEFAULT"}),
    ("ip-hash", {"ip": "10.0.0.1#x"}),
    ("ip-three-octets", {"ip": "10.0.0"}),
    ("ip-octet-999", {"ip": "999.0.0.1"}),
    ("ip-space", {"ip": "10.0.0.1 x"}),
    ("ip-colon-host", {"ip": "a:b"}),
]
VALUE_CASES: list[tuple[str, dict[str, str | None]]] = [
    ("weight-nan", {"weight": "NaN"}),
    ("weight-nan-lower", {"weight": "nan"}),
    ("weight-inf", {"weight": "Infinity"}),
    ("weight-inf-lower", {"weight": "inf"}),
    ("weight-neg-inf", {"weight": "-inf"}),
    ("weight-negative", {"weight": "-1"}),
    ("weight-over-max", {"weight": "10000.5"}),
    ("weight-overflow", {"weight": "1e309"}),
    ("weight-huge", {"weight": "1" * 400}),
    ("weight-text", {"weight": "heavy"}),
    ("metadata-nested-object", {"metadata": '{"a":{"b":"c"}}'}),
    ("metadata-deep", {"metadata": '{"a":' + "[" * 5_000 + "]" * 5_000 + "}"}),
    ("metadata-list-value", {"metadata": '{"a":["b"]}'}),
    ("metadata-null-value", {"metadata": '{"a":null}'}),
    ("metadata-nan-value", {"metadata": '{"a":NaN}'}),
    ("metadata-over-64k", {"metadata": json.dumps({"k": "v" * (64 * 1024)})}),
    ("metadata-many-keys", {"metadata": json.dumps({f"k{i}": "v" for i in range(300)})}),
    ("metadata-long-key", {"metadata": json.dumps({"k" * 9_000: "v"})}),
    ("metadata-two-equals", {"metadata": "a=b=c"}),
    ("metadata-no-equals", {"metadata": "a=b,c"}),
    ("metadata-empty-value", {"metadata": "a="}),
    ("metadata-only-equals", {"metadata": "="}),
    ("metadata-empty-pair", {"metadata": "a=b,,c=d"}),
    ("app-10k", {"app": LONG}),
]


def _params(changes: dict[str, str | None]) -> dict[str, str]:
    params = dict(VALID)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


def _assert_rejected(
    app: NamingApp, method: str, path: str, params: dict[str, str], *, user_agent: str = JAVA_UA
) -> None:
    state = app.state
    before = fingerprint(state)
    journal, push = state.journal, state.push
    assert isinstance(journal, MemoryJournal)
    assert isinstance(push, RecordingPush)
    records, changes, subscriptions = len(journal.payloads), len(push.changed), len(push.subscriptions)
    response = call(app, method, path, params, user_agent=user_agent)
    assert response.status == 400, (response.status, response.body[:200])
    assert response.body.startswith(b"caused: ")
    assert response.body.endswith(b";")
    assert len(response.body) < 1_024  # messages quote at most a bounded prefix of the input
    assert fingerprint(state) == before
    assert (len(journal.payloads), len(push.changed), len(push.subscriptions)) == (
        records,
        changes,
        subscriptions,
    )


@pytest.fixture
def seeded(app: NamingApp) -> NamingApp:
    """An application that already holds an ephemeral and a persistent instance."""
    register(app, ip="10.0.0.9", port=8080)
    register(app, ip="10.0.0.9", port=8080, ephemeral="false")
    return app


ALL_CASES = NAME_CASES + VALUE_CASES


@pytest.mark.parametrize(("case", "changes"), ALL_CASES, ids=[case for case, _ in ALL_CASES])
@pytest.mark.parametrize(("method", "user_agent"), [("POST", JAVA_UA), ("PUT", PYTHON_UA), ("PUT", JAVA_UA)])
def test_bad_input_register_and_update_store_nothing(
    seeded: NamingApp, case: str, changes: dict[str, str | None], method: str, user_agent: str
) -> None:
    _assert_rejected(seeded, method, "/v1/ns/instance", _params(changes), user_agent=user_agent)


@pytest.mark.parametrize(("case", "changes"), NAME_CASES, ids=[case for case, _ in NAME_CASES])
def test_bad_input_deregister_removes_nothing(
    seeded: NamingApp, case: str, changes: dict[str, str | None]
) -> None:
    _assert_rejected(seeded, "DELETE", "/v1/ns/instance", _params(changes))


@pytest.mark.parametrize(
    ("case", "changes"),
    [(c, v) for c, v in ALL_CASES if not c.startswith("app")],
    ids=[c for c, _ in ALL_CASES if not c.startswith("app")],
)
def test_bad_input_patch_changes_nothing(
    seeded: NamingApp, case: str, changes: dict[str, str | None]
) -> None:
    _assert_rejected(seeded, "PATCH", "/v1/ns/instance", _params(changes))


DETAIL_CASES = [(c, v) for c, v in NAME_CASES if not c.startswith("legacy")]  # detail ignores `cluster`


@pytest.mark.parametrize(("case", "changes"), DETAIL_CASES, ids=[case for case, _ in DETAIL_CASES])
def test_bad_input_detail_is_400(seeded: NamingApp, case: str, changes: dict[str, str | None]) -> None:
    _assert_rejected(seeded, "GET", "/v1/ns/instance", _params(changes))


@pytest.mark.parametrize(
    ("case", "changes"),
    [(c, v) for c, v in NAME_CASES if not c.startswith(("no-ip", "no-port", "blank-ip", "legacy"))],
    ids=[c for c, _ in NAME_CASES if not c.startswith(("no-ip", "no-port", "blank-ip", "legacy"))],
)
def test_bad_input_light_beat_is_400(seeded: NamingApp, case: str, changes: dict[str, str | None]) -> None:
    _assert_rejected(seeded, "PUT", "/v1/ns/instance/beat", _params(changes))


LIST_CASES: list[tuple[str, dict[str, str]]] = [
    ("service-10k", {"serviceName": "G@@" + LONG}),
    ("service-double-separator", {"serviceName": "a@@b@@c"}),
    ("service-hash", {"serviceName": "G@@svc#1"}),
    ("namespace-traversal", {"namespaceId": "../x"}),
    ("namespace-dotdot", {"namespaceId": ".."}),
    ("clusters-colon", {"clusters": "a:b"}),
    ("clusters-long", {"clusters": ",".join(["c"] * 2_000)}),
    ("udp-port-65536", {"udpPort": "65536"}),
    ("udp-port-text", {"udpPort": "x"}),
    ("env-10k", {"env": LONG}),
    ("tid-10k", {"tid": LONG}),
    ("client-ip-10k", {"clientIP": LONG, "udpPort": "1"}),
]


@pytest.mark.parametrize(("case", "changes"), LIST_CASES, ids=[case for case, _ in LIST_CASES])
def test_bad_input_list_is_400_and_subscribes_nobody(
    seeded: NamingApp, case: str, changes: dict[str, str]
) -> None:
    _assert_rejected(
        seeded, "GET", "/v1/ns/instance/list", {"serviceName": SERVICE, "udpPort": "1", **changes}
    )


@pytest.mark.parametrize(
    ("query", "body"),
    [
        (b"serviceName=svc&ip=%FF%FE&port=1", b""),
        (b"serviceName=sv\xffc&ip=10.0.0.1&port=1", b""),
        (b"serviceName=svc&port=1", b"ip=10.0.0.1&metadata=%C3%28"),
        (b"serviceName=svc&ip=10.0.0.1&port=1&%ff=1", b""),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/nacos/v1/ns/instance"),
        ("DELETE", "/nacos/v1/ns/instance"),
        ("PUT", "/nacos/v1/ns/instance/beat"),
        ("GET", "/nacos/v1/ns/instance/list"),
        ("GET", "/nacos/v1/ns/instance"),
        ("PUT", "/nacos/v1/ns/instance/metadata/batch"),
    ],
)
def test_bad_input_invalid_utf8_is_400(
    seeded: NamingApp, method: str, path: str, query: bytes, body: bytes
) -> None:
    before = fingerprint(seeded.state)
    headers = {b"user-agent": JAVA_UA.encode(), b"content-type": FORM_CONTENT_TYPE}
    request = Request(method=method, path=path, query=query, headers=headers, body=body)
    response = seeded.handle(request, 0, 0)
    assert response.status == 400
    assert response.body.startswith(b"caused: ")
    assert fingerprint(seeded.state) == before


@pytest.mark.parametrize(
    "instances",
    [
        "not json",
        '{"ip":"10.0.0.9"}',
        "[1]",
        '[{"ip":5,"port":1}]',
        '[{"ip":"1.1.1.1:80","port":1}]',
        '[{"ip":"10.0.0.9","port":70000}]',
    ],
)
def test_bad_input_metadata_batch_unreadable_instances_update_nothing(
    seeded: NamingApp, instances: str
) -> None:
    """As Nacos: an ``instances`` list that does not read (or names nothing stored) updates nothing."""
    before = fingerprint(seeded.state)
    params = {"serviceName": SERVICE, "instances": instances, "metadata": "k=v"}
    response = call(seeded, "PUT", "/v1/ns/instance/metadata/batch", params)
    assert (response.status, json.loads(response.body)) == (200, {"updated": []})
    assert fingerprint(seeded.state) == before


def test_bad_input_metadata_batch_result_too_big_is_400(seeded: NamingApp) -> None:
    many = json.dumps({f"k{i}": "v" for i in range(200)})
    params = {"serviceName": SERVICE, "consistencyType": "ephemeral", "metadata": many}
    assert call(seeded, "PUT", "/v1/ns/instance/metadata/batch", params).status == 200
    more = json.dumps({f"j{i}": "v" for i in range(200)})
    _assert_rejected(seeded, "PUT", "/v1/ns/instance/metadata/batch", {**params, "metadata": more})


# --- fuzzing ---------------------------------------------------------------------------------------

_KEYS = (
    "serviceName",
    "groupName",
    "namespaceId",
    "ip",
    "port",
    "clusterName",
    "cluster",
    "weight",
    "enabled",
    "enable",
    "healthy",
    "ephemeral",
    "metadata",
    "app",
    "beat",
    "clusters",
    "udpPort",
    "healthyOnly",
    "instances",
    "consistencyType",
    "key",
    "dom",
)
_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "svc",
            "G@@svc",
            "10.0.0.1",
            "::1",
            "8080",
            "0",
            "-1",
            "1e9",
            "NaN",
            "true",
            "None",
            "a=b",
            "{}",
            "[]",
            "",
            "9" * 5_000,
            '{"a":"\\ud800"}',  # JSON for a lone surrogate: valid JSON, text the core refuses
            '{"ip":"10.0.0.1","port":8080,"metadata":{"a":"\\ud800"}}',
            '[{"ip":"\\ud800","port":8080}]',
        ]
    ),
    st.builds(
        json.dumps,
        st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=8), st.integers()), max_size=3),
    ),
    st.builds(
        json.dumps,
        st.fixed_dictionaries(
            {"ip": st.sampled_from(["10.0.0.1", "x", ""]), "port": st.integers(-2, 70_000)},
            optional={
                "cluster": st.text(max_size=5),
                "weight": st.one_of(st.floats(), st.integers(-(10**400), 10**400)),
                "metadata": st.one_of(
                    st.just({"a": {"b": 1}}), st.dictionaries(st.text(max_size=4), st.integers())
                ),
                "ephemeral": st.one_of(st.booleans(), st.text(max_size=5)),
            },
        ),
    ),
)
_ENDPOINTS = st.sampled_from(
    [
        ("POST", "/v1/ns/instance"),
        ("PUT", "/v1/ns/instance"),
        ("PATCH", "/v1/ns/instance"),
        ("DELETE", "/v1/ns/instance"),
        ("GET", "/v1/ns/instance"),
        ("GET", "/v1/ns/instance/list"),
        ("PUT", "/v1/ns/instance/beat"),
        ("PUT", "/v1/ns/instance/metadata/batch"),
        ("DELETE", "/v1/ns/instance/metadata/batch"),
        ("GET", "/v1/ns/instance/statuses"),
        ("GET", "/v1/ns/api/srvIPXT"),
        ("GET", "/v1/ns/api/clientBeat"),
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    endpoint=_ENDPOINTS,
    params=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=10),
    user_agent=st.sampled_from([JAVA_UA, PYTHON_UA, ""]),
)
def test_bad_input_fuzzed_requests_never_fail_the_server(
    endpoint: tuple[str, str], params: dict[str, Any], user_agent: str
) -> None:
    state = NamingState(push=RecordingPush(), journal=MemoryJournal())
    app = NamingApp(state)
    register(app, ip="10.0.0.1", port=8080)
    before = fingerprint(state)
    method, path = endpoint
    response = call(app, method, path, params, user_agent=user_agent)
    assert response.status in (200, 400, 404), (response.status, response.body[:300])
    if response.status != 200:
        assert response.body.startswith(b"caused: ")
        assert fingerprint(state) == before
