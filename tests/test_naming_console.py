"""Console and core endpoints (compatibility.md §5): namespaces, health probes, server state, nodes."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from nacosfast import NACOS_COMPAT_VERSION
from nacosfast.errors import Unavailable
from nacosfast.naming.app import NamingApp
from nacosfast.naming.journal import replay
from nacosfast.naming.state import NamingState, ServerIdentity
from tests.naming_helpers import MemoryJournal, RecordingPush, call, json_body, member_json, node_app

NAMESPACES = "/v1/console/namespaces"
PUBLIC = {"namespace": "", "namespaceShowName": "public", "quota": 200, "configCount": 0, "type": 0}


def create(app: NamingApp, namespace_id: str, name: str = "Dev", **extra: Any) -> Any:
    return call(app, "POST", NAMESPACES, {"customNamespaceId": namespace_id, "namespaceName": name, **extra})


def listed(app: NamingApp) -> Any:
    answer = json_body(call(app, "GET", NAMESPACES))
    assert (answer["code"], answer["message"]) == (200, None)
    return answer["data"]


def test_console_namespaces_lists_public_first(app: NamingApp) -> None:
    assert listed(app) == [PUBLIC]
    create(app, "b-2", "B")
    create(app, "a_1", "A")
    assert listed(app) == [
        PUBLIC,
        {"namespace": "b-2", "namespaceShowName": "B", "quota": 200, "configCount": 0, "type": 2},
        {"namespace": "a_1", "namespaceShowName": "A", "quota": 200, "configCount": 0, "type": 2},
    ]


def test_console_namespace_create_is_durable(app: NamingApp, journal: MemoryJournal) -> None:
    response = create(app, " dev ", "Dev", namespaceDesc="for developers")
    assert (response.status, response.body, response.content_type[:16]) == (200, b"true", b"application/json")
    assert response.durable_seq == len(journal.payloads) == 1
    fresh = NamingState(push=RecordingPush(), journal=MemoryJournal())
    replay(fresh, journal.payloads)
    namespace = fresh.namespaces.get("dev")
    assert namespace is not None
    assert (namespace.show_name, namespace.description) == ("Dev", "for developers")


def test_console_namespace_create_blank_id_is_a_uuid(app: NamingApp) -> None:
    assert create(app, "  ").body == b"true"
    (created,) = listed(app)[1:]
    assert str(uuid.UUID(created["namespace"])) == created["namespace"]


@pytest.mark.parametrize("namespace_id", ["dev", "public"])
def test_console_namespace_create_duplicate_is_false(
    app: NamingApp, journal: MemoryJournal, namespace_id: str
) -> None:
    create(app, "dev")
    count = len(journal.payloads)
    response = create(app, namespace_id, "Other")
    assert (response.status, response.body, response.durable_seq) == (200, b"false", 0)
    assert len(journal.payloads) == count


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"customNamespaceId": "a.b", "namespaceName": "x"}, "customNamespaceId' is illegal"),
        ({"customNamespaceId": "a b", "namespaceName": "x"}, "customNamespaceId' is illegal"),
        ({"customNamespaceId": "é", "namespaceName": "x"}, "customNamespaceId' is illegal"),
        ({"customNamespaceId": "a" * 129, "namespaceName": "x"}, "customNamespaceId' is illegal"),
        ({"customNamespaceId": "a", "namespaceName": " "}, "Param 'namespaceName' is required."),
        ({"customNamespaceId": "a", "namespaceName": "x" * 129}, "namespaceName' is too long"),
        (
            {"customNamespaceId": "a", "namespaceName": "x", "namespaceDesc": "d" * 257},
            "namespaceDesc' is too long",
        ),
        ({"namespaceName": "x"}, "Required request parameter 'customNamespaceId'"),
        ({"customNamespaceId": "a"}, "Required request parameter 'namespaceName'"),
    ],
)
def test_console_namespace_create_refuses_bad_input(
    app: NamingApp, journal: MemoryJournal, params: dict[str, str], message: str
) -> None:
    response = call(app, "POST", NAMESPACES, params)
    assert response.status == 400
    assert message in response.body.decode()
    assert listed(app) == [PUBLIC]
    assert journal.payloads == []


def test_console_namespace_show_all(app: NamingApp) -> None:
    create(app, "dev", "Dev", namespaceDesc="desc")
    assert json_body(call(app, "GET", NAMESPACES, {"show": "all", "namespaceId": "dev"})) == {
        "namespace": "dev",
        "namespaceShowName": "Dev",
        "quota": 200,
        "configCount": 0,
        "type": 2,
        "namespaceDesc": "desc",
    }
    assert json_body(call(app, "GET", NAMESPACES, {"show": "all", "namespaceId": ""})) == {
        "namespace": "",
        "namespaceShowName": "Public",
        "quota": 200,
        "configCount": 0,
        "type": 0,
        "namespaceDesc": "Public Namespace",
    }
    assert call(app, "GET", NAMESPACES, {"show": "all", "namespaceId": "nope"}).status == 404
    assert call(app, "GET", NAMESPACES, {"show": "all"}).status == 400


def test_console_namespace_check_exists(app: NamingApp) -> None:
    create(app, "dev")

    def exists(namespace_id: str) -> Any:
        query = {"checkNamespaceIdExist": "true", "customNamespaceId": namespace_id}
        return json_body(call(app, "GET", NAMESPACES, query))

    assert (exists("dev"), exists("prod"), exists(" "), exists("public")) == (True, False, False, True)


def test_console_namespace_edit(app: NamingApp, journal: MemoryJournal) -> None:
    create(app, "dev", "Dev", namespaceDesc="old")
    response = call(app, "PUT", NAMESPACES, {"namespace": "dev", "namespaceShowName": "Development"})
    assert (response.status, response.body, response.durable_seq) == (200, b"true", 2)
    namespace = app.state.namespaces.get("dev")
    assert namespace is not None
    assert (namespace.show_name, namespace.description) == ("Development", "")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"namespace": "nope", "namespaceShowName": "x"}, 404),
        ({"namespace": "public", "namespaceShowName": "x"}, 400),
        ({"namespace": "dev", "namespaceShowName": ""}, 400),
        ({"namespaceShowName": "x"}, 400),
    ],
)
def test_console_namespace_edit_refuses(app: NamingApp, params: dict[str, str], status: int) -> None:
    create(app, "dev", "Dev")
    assert call(app, "PUT", NAMESPACES, params).status == status
    assert listed(app)[1]["namespaceShowName"] == "Dev"


def test_console_namespace_delete_keeps_its_services(app: NamingApp, journal: MemoryJournal) -> None:
    create(app, "dev")
    call(
        app,
        "POST",
        "/v1/ns/instance",
        {"serviceName": "a", "ip": "10.0.0.1", "port": 80, "namespaceId": "dev"},
    )
    response = call(app, "DELETE", NAMESPACES, {"namespaceId": "dev"})
    assert (response.status, response.body) == (200, b"true")
    assert response.durable_seq == len(journal.payloads)
    assert json.loads(journal.payloads[-1]) == {"t": "namespace", "id": "dev", "deleted": True, "v": 2}
    assert listed(app) == [PUBLIC]
    assert app.state.registry.get("dev", "DEFAULT_GROUP@@a") is not None
    fresh = NamingState(push=RecordingPush(), journal=MemoryJournal())
    replay(fresh, journal.payloads)
    assert fresh.namespaces.get("dev") is None


@pytest.mark.parametrize(("namespace_id", "status"), [("nope", 404), ("public", 400), ("", 400)])
def test_console_namespace_delete_refuses(app: NamingApp, namespace_id: str, status: int) -> None:
    assert call(app, "DELETE", NAMESPACES, {"namespaceId": namespace_id}).status == status


# --- health probes and server state ---------------------------------------------------------------------


def test_console_liveness_and_readiness(app: NamingApp) -> None:
    for path in ("/v1/console/health/liveness", "/v1/console/health/readiness"):
        response = call(app, "GET", path)
        assert (response.status, response.body) == (200, b"OK")
    call(app, "PUT", "/v1/ns/operator/switches", {"entry": "overriddenServerStatus", "value": "DOWN"})
    response = call(app, "GET", "/v1/console/health/readiness")
    assert (response.status, response.body) == (500, b"Naming is not in readiness")
    assert call(app, "GET", "/v1/console/health/liveness").status == 200


@pytest.mark.parametrize(("standalone", "mode"), [(True, "standalone"), (False, "cluster")])
def test_console_server_state(standalone: bool, mode: str) -> None:
    state = NamingState(
        push=RecordingPush(), journal=MemoryJournal(), identity=ServerIdentity(standalone=standalone)
    )
    answer = json_body(call(NamingApp(state), "GET", "/v1/console/server/state"))
    assert answer == {"standalone_mode": mode, "function_mode": "naming", "version": NACOS_COMPAT_VERSION}


# --- /v1/core/cluster -----------------------------------------------------------------------------------


def test_core_cluster_endpoints_describe_this_node() -> None:
    app = node_app("10.0.0.5", 8848)
    member = member_json("10.0.0.5", 8848, raft_port="7848")

    def data(path: str, **params: Any) -> Any:
        answer = json_body(call(app, "GET", "/v1/core/cluster/" + path, params))
        assert (answer["code"], answer["message"]) == (200, None)
        return answer["data"]

    assert data("self") == member
    assert data("nodes") == [member]
    assert data("nodes", keyword="10.0.") == [member]
    assert data("nodes", keyword="10.1.") == []
    assert data("simple/nodes") == ["10.0.0.5:8848"]
    assert data("health") == "UP"


def test_console_unknown_path_is_spring_404(app: NamingApp) -> None:
    response = call(app, "PATCH", NAMESPACES)
    assert response.status == 404
    assert json.loads(response.body)["path"] == "/nacos/v1/console/namespaces"


class RefusingJournal:
    """A journal whose store is full: every append is refused, as the durability layer does."""

    def append(self, payload: bytes) -> int:
        raise Unavailable("storage is full")


def test_console_namespace_writes_change_nothing_when_the_journal_refuses() -> None:
    state = NamingState(push=RecordingPush(), journal=MemoryJournal())
    app = NamingApp(state)
    create(app, "dev", "Dev")
    state.journal = RefusingJournal()
    assert create(app, "prod").status == 503
    assert call(app, "PUT", NAMESPACES, {"namespace": "dev", "namespaceShowName": "New"}).status == 503
    assert call(app, "DELETE", NAMESPACES, {"namespaceId": "dev"}).status == 503
    assert [item["namespaceShowName"] for item in listed(app)] == ["public", "Dev"]


def test_console_head_is_answered_by_the_get_handler(app: NamingApp) -> None:
    # Spring MVC serves HEAD with a GET mapping (load balancers probe liveness with HEAD); the HTTP
    # layer drops the body. Under /v1/ns/ DistroFilter has no HEAD route: 501 as in Nacos.
    response = call(app, "HEAD", "/v1/console/health/liveness")
    assert (response.status, response.body) == (200, b"OK")
    assert call(app, "HEAD", NAMESPACES).status == 200
    assert call(app, "HEAD", "/v1/ns/instance/list", {"serviceName": "svc"}).status == 501
    assert call(app, "HEAD", "/v1/console/no/such/path").status == 404
