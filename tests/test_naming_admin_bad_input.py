"""Random input to the service, catalog, operator, health and console endpoints: never a 5xx.

Every route of those modules is called with random parameters drawn from the names they read and
from values that broke other servers (NaN, huge numbers, half JSON, bad escapes, separators). Reads
must not change the state; every answer must be 2xx or a 4xx with a Nacos-style body.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nacosfast.naming import catalog, console, health, operator, services
from nacosfast.naming.app import NamingApp
from nacosfast.naming.journal import snapshot
from nacosfast.naming.push import PushHub
from nacosfast.naming.state import NamingState
from tests.naming_helpers import MemoryJournal, call

ROUTES = sorted(
    {key for module in (services, catalog, operator, health, console) for key in module.ROUTES}
    - {("GET", "/v1/console/health/readiness")}  # answers 500 by design while the status is not UP
)
KEYS = [
    "serviceName",
    "groupName",
    "namespaceId",
    "clusterName",
    "ip",
    "port",
    "healthy",
    "valid",
    "protectThreshold",
    "metadata",
    "selector",
    "pageNo",
    "pageSize",
    "expr",
    "responsibleOnly",
    "aggregation",
    "withInstances",
    "serviceNameParam",
    "groupNameParam",
    "instance",
    "hasIpCount",
    "checkPort",
    "useInstancePort4Check",
    "healthChecker",
    "entry",
    "value",
    "debug",
    "detail",
    "reset",
    "action",
    "logName",
    "logLevel",
    "show",
    "checkNamespaceIdExist",
    "customNamespaceId",
    "namespaceName",
    "namespaceDesc",
    "namespace",
    "namespaceShowName",
    "keyword",
]
NASTY = [
    "",
    " ",
    "orders",
    "DEFAULT_GROUP@@orders",
    "a@@b@@c",
    "@@",
    "*",
    "DEFAULT",
    "public",
    "dev",
    "10.0.0.1",
    "10.0.0.1:80",
    "80",
    "-1",
    "0",
    "1",
    "1.5",
    "NaN",
    "-Infinity",
    "1e400",
    "99999999999999999999999",
    "true",
    "yes",
    "{",
    "[]",
    "null",
    '{"type":"label"}',
    '{"type":"label","expression":"INSTANCE.metadata.a = \'b\'"}',
    '{"type":"label","expression":"CONSUMER.label.a=PROVIDER.label.a&"}',
    '{"type":"label","expression":NaN}',
    '{"type":"HTTP","expectedResponseCode":1e400}',
    '{"type":"NONE"}',
    '{"type":"MYSQL","user":[1]}',
    '{"distroThreshold":NaN,"httpHealthParams":{"max":1,"min":2,"factor":NaN}}',
    '{"a":"\\ud800"}',
    "%",
    "%zz",
    "%e9",
    "+",
    "a=b,c",
    "\x00",
    "é",
    "naming-push",
    "batch",
    "overriddenServerStatus",
    "distroThreshold",
    "limitedUrlMap",
    "pushVersion",
    "x" * 5_000,
    "9" * 5_000,  # int() refuses more than 4300 digits: a ValueError that must not escape as a 500
    '{"type":"HTTP","expectedResponseCode":"' + "9" * 5_000 + '"}',
]
METHOD_ROUTES = st.sampled_from(ROUTES)
PARAMS = st.dictionaries(
    st.sampled_from(KEYS), st.one_of(st.sampled_from(NASTY), st.text(max_size=12)), max_size=8
)


def populated_app() -> NamingApp:
    app = NamingApp(NamingState(push=PushHub(lambda *args: b"{}"), journal=MemoryJournal()))
    for ip, extra in (("10.0.0.1", {}), ("10.0.0.2", {"ephemeral": "false", "metadata": "a=b"})):
        call(app, "POST", "/v1/ns/instance", {"serviceName": "orders", "ip": ip, "port": 80, **extra})
    call(app, "POST", "/v1/ns/service", {"serviceName": "empty", "namespaceId": "dev"})
    call(app, "POST", "/v1/console/namespaces", {"customNamespaceId": "dev", "namespaceName": "Dev"})
    checker = '{"type":"NONE"}'
    cluster = {"serviceName": "orders", "clusterName": "DEFAULT", "checkPort": "80"}
    call(app, "PUT", "/v1/ns/cluster", {**cluster, "useInstancePort4Check": "true", "healthChecker": checker})
    return app


def fingerprint(app: NamingApp) -> Any:
    state = app.state
    return [json.loads(record) for record in snapshot(state)], [
        (ns, name, [(i.key, i.healthy) for i in service.instances()])
        for ns in state.registry.namespaces()
        for name in state.registry.services(ns)
        if (service := state.registry.get(ns, name)) is not None
    ]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=METHOD_ROUTES, params=PARAMS, in_body=st.booleans())
def test_admin_endpoints_never_answer_5xx(
    route: tuple[str, str], params: dict[str, str], in_body: bool
) -> None:
    app = populated_app()
    before = fingerprint(app)
    method, path = route
    response = call(app, method, path, None if in_body else params, form=params if in_body else None)
    assert response.status < 500, (route, params, response.body[:300])
    if response.status >= 400:
        assert response.body.startswith(b"caused: "), response.body[:300]
        assert fingerprint(app) == before
    if method == "GET":
        assert fingerprint(app) == before
