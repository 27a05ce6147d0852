"""Operator endpoints (compatibility.md §4): switches, metrics, servers, push state, distro, log, state."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from nacosfast.errors import Unavailable
from nacosfast.limits import MAX_LOG_NAME_LENGTH
from nacosfast.naming.app import NamingApp
from nacosfast.naming.journal import replay
from nacosfast.naming.push import PushHub
from nacosfast.naming.state import HostFigures, NamingState
from nacosfast.naming.switches import Switches
from tests.naming_helpers import MemoryJournal, RecordingPush, call, json_body, member_json, node_app

SWITCHES = "/v1/ns/operator/switches"


def switches(app: NamingApp) -> Any:
    return json_body(call(app, "GET", SWITCHES))


def put_switch(app: NamingApp, entry: str, value: str, **extra: Any) -> Any:
    return call(app, "PUT", SWITCHES, {"entry": entry, "value": value, **extra})


# --- switches -------------------------------------------------------------------------------------------


def test_operator_switches_shows_nacos_defaults_with_nulls(app: NamingApp) -> None:
    shown = switches(app)
    assert shown == Switches().to_json()
    assert shown["masters"] is None
    assert shown["overriddenServerStatus"] is None
    assert shown["name"] == "00-00---000-NACOS_SWITCH_DOMAIN-000---00-00"
    assert shown["distroThreshold"] == 0.7
    assert shown["defaultPushCacheMillis"] == 10000


@pytest.mark.parametrize(
    ("entry", "value", "field", "expected"),
    [
        ("distroThreshold", "0.9", "distroThreshold", 0.9),
        ("clientBeatInterval", "8000", "clientBeatInterval", 8000),
        ("pushVersion", "java:1.2.0", "pushJavaVersion", "1.2.0"),
        ("pushVersion", "python:0.5.0", "pushPythonVersion", "0.5.0"),
        ("pushVersion", "c:1.1.0", "pushCVersion", "1.1.0"),
        ("pushVersion", "go:0.2.0", "pushGoVersion", "0.2.0"),
        ("pushCacheMillis", "20000", "defaultPushCacheMillis", 20000),
        ("defaultCacheMillis", "1000", "defaultCacheMillis", 1000),
        ("masters", "1.1.1.1,2.2.2.2,", "masters", ["1.1.1.1", "2.2.2.2"]),
        ("distro", "FALSE", "distroEnabled", False),
        ("check", "false", "healthCheckEnabled", False),
        ("pushEnabled", "false", "pushEnabled", False),
        (
            "serviceStatusSynchronizationPeriodMillis",
            "5000",
            "serviceStatusSynchronizationPeriodMillis",
            5000,
        ),
        ("serverStatusSynchronizationPeriodMillis", "1000", "serverStatusSynchronizationPeriodMillis", 1000),
        ("healthCheckTimes", "5", "checkTimes", 5),
        ("disableAddIP", "true", "disableAddIP", True),
        ("sendBeatOnly", "true", "sendBeatOnly", True),
        (
            "limitedUrlMap",
            "/nacos/v1/ns/instance:503,/x:429",
            "limitedUrlMap",
            {"/nacos/v1/ns/instance": 503, "/x": 429},
        ),
        ("enableStandalone", "false", "enableStandalone", False),
        ("overriddenServerStatus", "DOWN", "overriddenServerStatus", "DOWN"),
        ("defaultInstanceEphemeral", "false", "defaultInstanceEphemeral", False),
        ("distroServerExpiredMillis", "20000", "distroServerExpiredMillis", 20000),
        ("lightBeatEnabled", "n", "lightBeatEnabled", False),
        ("autoChangeHealthCheckEnabled", "off", "autoChangeHealthCheckEnabled", False),
    ],
)
def test_operator_switches_entry_changes_its_field(
    app: NamingApp, journal: MemoryJournal, entry: str, value: str, field: str, expected: object
) -> None:
    response = put_switch(app, entry, value)
    assert (response.status, response.body) == (200, b"ok")
    assert switches(app)[field] == expected
    assert response.durable_seq == len(journal.payloads) == 1
    record = json.loads(journal.payloads[0])
    assert record["t"] == "switches"
    assert record["value"][field] == expected


def test_operator_switches_change_survives_replay(app: NamingApp, journal: MemoryJournal) -> None:
    put_switch(app, "clientBeatInterval", "7000")
    put_switch(app, "overriddenServerStatus", "WRITE_ONLY")
    fresh = NamingState(push=RecordingPush(), journal=MemoryJournal())
    replay(fresh, journal.payloads)
    assert (fresh.switches.clientBeatInterval, fresh.switches.overriddenServerStatus) == (7000, "WRITE_ONLY")


def test_operator_switches_overridden_status_null_clears(app: NamingApp) -> None:
    put_switch(app, "overriddenServerStatus", "DOWN")
    put_switch(app, "overriddenServerStatus", "null")
    assert switches(app)["overriddenServerStatus"] is None


def test_operator_switches_debug_applies_without_journal(app: NamingApp, journal: MemoryJournal) -> None:
    response = put_switch(app, "pushEnabled", "false", debug="true")
    assert (response.status, response.durable_seq) == (200, 0)
    assert switches(app)["pushEnabled"] is False
    assert journal.payloads == []


def test_operator_switches_unknown_entry_is_ignored(app: NamingApp, journal: MemoryJournal) -> None:
    response = put_switch(app, "noSuchSwitch", "1")
    assert (response.status, response.body, response.durable_seq) == (200, b"ok", 0)
    assert switches(app) == Switches().to_json()
    assert journal.payloads == []


@pytest.mark.parametrize(
    ("entry", "value", "message"),
    [
        ("distroThreshold", "0", "distroThreshold can not be zero or negative"),
        ("distroThreshold", "NaN", "distroThreshold can not be zero or negative"),
        ("distroThreshold", "x", "For input string"),
        ("distroThreshold", "1_0", "For input string"),
        ("distroThreshold", "\uff11", "For input string"),
        ("distroThreshold", "inf", "For input string"),
        ("clientBeatInterval", "0", "clientBeatInterval must be in"),
        ("clientBeatInterval", "5e3", "For input string"),
        ("clientBeatInterval", "99999999999999999999", "For input string"),
        ("clientBeatInterval", "5_000", "For input string"),
        ("healthCheckTimes", "\uff13", "For input string"),
        ("pushVersion", "java", "pushVersion must be"),
        ("pushVersion", "java:1.2", "illegal version"),
        ("pushVersion", "ruby:1.2.3", "unsupported client type: ruby"),
        ("pushCacheMillis", "9999", "too small(<10000)"),
        ("defaultCacheMillis", "999", "too small(<1000)"),
        ("distro", "yes", "Invalid boolean value"),
        ("pushEnabled", "1", "Invalid boolean value"),
        ("lightBeatEnabled", "maybe", "Invalid boolean value"),
        ("serviceStatusSynchronizationPeriodMillis", "4999", "too small(<5000)"),
        ("serverStatusSynchronizationPeriodMillis", "999", "too small(<1000)"),
        ("healthCheckTimes", "0", "healthCheckTimes must be in"),
        ("limitedUrlMap", "/x", "invalid input for limited urls"),
        ("limitedUrlMap", ":503", "url can not be empty"),
        ("limitedUrlMap", "/x:0", "illegal normal status code: 0"),
        ("limitedUrlMap", "/x:abc", "For input string"),
        ("overriddenServerStatus", "up", "overriddenServerStatus must be one of"),
        ("distroServerExpiredMillis", "-1", "distroServerExpiredMillis must be in"),
        ("batch", "{", "not valid JSON"),
    ],
)
def test_operator_switches_refuses_bad_values(
    app: NamingApp, journal: MemoryJournal, entry: str, value: str, message: str
) -> None:
    response = put_switch(app, entry, value)
    assert response.status == 400
    assert message in response.body.decode()
    assert switches(app) == Switches().to_json()
    assert journal.payloads == []


@pytest.mark.parametrize("missing", ["entry", "value"])
def test_operator_switches_requires_entry_and_value(app: NamingApp, missing: str) -> None:
    params = {"entry": "pushEnabled", "value": "true"}
    del params[missing]
    response = call(app, "PUT", SWITCHES, params)
    assert response.status == 400
    assert f"Required request parameter '{missing}'" in response.body.decode()


def test_operator_switches_batch_replaces_all_but_standalone(app: NamingApp, journal: MemoryJournal) -> None:
    put_switch(app, "enableStandalone", "false")
    batch = Switches().to_json()
    batch.update(clientBeatInterval=6000, pushEnabled=False, masters=["a"], enableStandalone=True, unknown=1)
    response = put_switch(app, "batch", json.dumps(batch))
    assert response.status == 200, response.body
    shown = switches(app)
    assert (shown["clientBeatInterval"], shown["pushEnabled"], shown["masters"]) == (6000, False, ["a"])
    assert shown["enableStandalone"] is False
    assert response.durable_seq == len(journal.payloads)


def test_operator_switches_batch_fills_missing_fields_with_defaults(app: NamingApp) -> None:
    put_switch(app, "clientBeatInterval", "9000")
    assert put_switch(app, "batch", '{"pushEnabled":false}').status == 200
    shown = switches(app)
    assert (shown["clientBeatInterval"], shown["pushEnabled"]) == (5000, False)


@pytest.mark.parametrize(
    "change",
    [
        {"clientBeatInterval": "5000"},
        {"pushEnabled": "false"},
        {"distroThreshold": 0},
        {"checkTimes": True},
        {"masters": [1]},
        {"httpHealthParams": {"max": 5000, "min": 100, "factor": 0.5}},
        {"tcpHealthParams": {"max": 1000, "min": 500, "factor": 0.5}},
        {"tcpHealthParams": {"max": 5000, "min": 1000, "factor": 1.5}},
        {"mysqlHealthParams": {"max": 5000}},
        {"limitedUrlMap": {"/x": 0}},
        {"pushJavaVersion": "1.0"},
        {"overriddenServerStatus": "BROKEN"},
        {"defaultPushCacheMillis": 10},
    ],
)
def test_operator_switches_batch_refuses_bad_fields(
    app: NamingApp, journal: MemoryJournal, change: dict[str, Any]
) -> None:
    batch = Switches().to_json()
    batch.update(change)
    assert put_switch(app, "batch", json.dumps(batch)).status == 400
    assert switches(app) == Switches().to_json()
    assert journal.payloads == []


def test_operator_switches_put_only_on_put(app: NamingApp) -> None:
    response = call(app, "POST", SWITCHES, {"entry": "pushEnabled", "value": "false"})
    assert response.status == 501


# --- metrics, servers, alias ----------------------------------------------------------------------------


def test_operator_metrics_reports_up_and_counts(app: NamingApp) -> None:
    for ip in ("10.0.0.1", "10.0.0.2"):
        call(app, "POST", "/v1/ns/instance", {"serviceName": "a", "ip": ip, "port": 80})
    call(app, "POST", "/v1/ns/service", {"serviceName": "b"})
    answer = json_body(call(app, "GET", "/v1/ns/operator/metrics"))
    assert answer["status"] == "UP"
    assert (answer["serviceCount"], answer["instanceCount"]) == (2, 2)
    assert (answer["responsibleServiceCount"], answer["responsibleInstanceCount"]) == (2, 2)
    assert answer["raftNotifyTaskCount"] == 0
    assert (answer["cpu"], answer["load"], answer["mem"]) == (0.0, 0.0, 0.0)  # not sampled yet


def test_operator_metrics_shows_the_host_figures_the_server_passed_in(app: NamingApp) -> None:
    app.state.host = HostFigures(cpu=0.25, load=1.5, mem=0.75)
    answer = json_body(call(app, "GET", "/v1/ns/operator/metrics"))
    assert (answer["cpu"], answer["load"], answer["mem"]) == (0.25, 1.5, 0.75)


def test_operator_metrics_status_follows_the_override(app: NamingApp) -> None:
    put_switch(app, "overriddenServerStatus", "READ_ONLY")
    assert json_body(call(app, "GET", "/v1/ns/ops/metrics"))["status"] == "READ_ONLY"


def test_operator_servers_lists_this_standalone_node() -> None:
    app = node_app("10.1.2.3", 8850)
    member = member_json("10.1.2.3", 8850, raft_port="7850")
    assert json_body(call(app, "GET", "/v1/ns/operator/servers")) == {"servers": [member]}
    assert json_body(call(app, "GET", "/v1/ns/operator/servers", {"healthy": "true"})) == {
        "servers": [member]
    }
    assert json_body(call(app, "GET", "/v1/ns/operator/distro/status")) == {"status": [member]}
    assert json_body(call(app, "GET", "/v1/ns/operator/distro/status", {"action": "other"})) == {}
    assert call(app, "GET", "/v1/ns/operator/servers", {"healthy": "maybe"}).status == 400


def test_operator_distro_server_names_this_node(app: NamingApp) -> None:
    call(app, "POST", "/v1/ns/service", {"serviceName": "a"})
    answer = json_body(call(app, "GET", "/v1/ns/operator/distro/server", {"serviceName": "a"}))
    assert answer == {"responsibleServer": "127.0.0.1:8848"}
    response = call(app, "GET", "/v1/ns/operator/distro/server", {"serviceName": "b"})
    assert (response.status, response.body) == (404, b"caused: service not found;")


def test_operator_cluster_state_is_the_local_peer(app: NamingApp) -> None:
    answer = json_body(call(app, "GET", "/v1/ns/operator/cluster/state"))
    assert answer["ip"] == "127.0.0.1:8848"
    assert answer["state"] == "LEADER"


# --- push state -----------------------------------------------------------------------------------------


def test_operator_push_state_from_the_push_hub() -> None:
    hub = PushHub(lambda *args: b"{}")
    app = NamingApp(NamingState(push=hub, journal=MemoryJournal()))
    answer = json_body(call(app, "GET", "/v1/ns/operator/push/state", {"detail": "true"}))
    assert answer == {"succeed": 0, "total": 0, "ratio": 0, "data": [], "reset": False}
    assert json_body(call(app, "POST", "/v1/ns/operator/push/state", {"reset": "true"}))["reset"] is True


def test_operator_push_state_passes_detail_and_reset_to_push(app: NamingApp) -> None:
    answer = json_body(call(app, "GET", "/v1/ns/operator/push/state", {"detail": "1", "reset": "1"}))
    assert answer == {"succeed": 0, "total": 0, "ratio": 0.0, "data": [], "reset": True}


# --- log ------------------------------------------------------------------------------------------------


@pytest.fixture
def restore_levels() -> Iterator[None]:
    names = ["nacosfast.push", "nacosfast.naming.expiry"]
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restore_levels")
def test_operator_log_sets_a_logger_level(app: NamingApp) -> None:
    response = call(app, "PUT", "/v1/ns/operator/log", {"logName": "naming-push", "logLevel": "warn"})
    assert (response.status, response.body) == (200, b"ok")
    assert logging.getLogger("nacosfast.push").level == logging.WARNING  # the push module's logger
    response = call(
        app, "PUT", "/v1/ns/operator/log", {"logName": "nacosfast.naming.expiry", "logLevel": "DEBUG"}
    )
    assert (response.status, response.body) == (200, b"ok")
    assert logging.getLogger("nacosfast.naming.expiry").level == logging.DEBUG


@pytest.mark.parametrize(
    "params",
    [
        {"logName": "root", "logLevel": "INFO"},
        {"logName": "naming-push", "logLevel": "LOUD"},
        {"logName": "x"},
        {"logName": "nacosfast.no.such.logger", "logLevel": "INFO"},
    ],
)
def test_operator_log_refuses_unknown_names_and_levels(app: NamingApp, params: dict[str, str]) -> None:
    assert call(app, "PUT", "/v1/ns/operator/log", params).status == 400


def test_operator_log_creates_no_logger_for_names_it_does_not_know(app: NamingApp) -> None:
    """Issue 8: every distinct ``logName`` (and each dotted prefix) used to be kept by ``logging``."""
    loggers = logging.Logger.manager.loggerDict
    before = len(loggers)
    for number in range(1_000):
        name = f"nacosfast.probe{number}.{'x.' * (number % 7)}leaf"
        response = call(app, "PUT", "/v1/ns/operator/log", {"logName": name, "logLevel": "INFO"})
        assert (response.status, response.body[:36]) == (400, b"caused: unknown logName: nacosfast.p")
    assert len(loggers) == before


def test_operator_log_bounds_the_name(app: NamingApp) -> None:
    name = "nacosfast." + "a." * MAX_LOG_NAME_LENGTH
    response = call(app, "PUT", "/v1/ns/operator/log", {"logName": name, "logLevel": "INFO"})
    expected = f"caused: Param 'logName' is too long: at most {MAX_LOG_NAME_LENGTH} characters;"
    assert (response.status, response.body) == (400, expected.encode())
    assert name.rstrip(".") not in logging.Logger.manager.loggerDict


def test_operator_switches_unchanged_when_the_journal_refuses() -> None:
    class RefusingJournal:
        def append(self, payload: bytes) -> int:
            raise Unavailable("storage is full")

    app = NamingApp(NamingState(push=RecordingPush(), journal=RefusingJournal()))
    assert put_switch(app, "pushEnabled", "false").status == 503
    assert switches(app)["pushEnabled"] is True


# --- TrafficReviseFilter (compatibility.md §1.4) ------------------------------------------------------------

LIST = "/v1/ns/instance/list"
REGISTER = "/v1/ns/instance"
INSTANCE = {"serviceName": "svc", "ip": "10.0.0.1", "port": "80"}


@pytest.mark.parametrize(
    ("status", "get_passes", "post_passes"),
    [
        ("DOWN", False, False),
        ("STARTING", False, False),
        ("READ_ONLY", True, False),
        ("WRITE_ONLY", False, True),
    ],
)
def test_server_status_gates_naming_requests(
    app: NamingApp, status: str, get_passes: bool, post_passes: bool
) -> None:
    assert put_switch(app, "overriddenServerStatus", status).body == b"ok"
    listed = call(app, "GET", LIST, {"serviceName": "svc"})
    registered = call(app, "POST", REGISTER, INSTANCE)
    unknown = call(app, "GET", "/v1/ns/no/such/api")  # the filter runs before the 501
    refused = f"server is {status}now, please try again later!".encode()
    assert (listed.status == 200, registered.status == 200) == (get_passes, post_passes)
    for response in (r for r, passes in ((listed, get_passes), (registered, post_passes)) if not passes):
        assert (response.status, response.body) == (503, refused)
    assert unknown.status == (501 if get_passes else 503)
    # Authenticated peers' forwarded requests pass; a peer's User-Agent alone earns nothing (Nacos
    # CVE-2021-29441); the console is outside /v1/ns/; switches stay reachable to set the status back.
    assert call(app, "POST", REGISTER, INSTANCE, forwarded=True).status == 200
    pretender = call(app, "POST", REGISTER, INSTANCE, user_agent="Nacos-Server:1.4.8")
    assert pretender.status == (200 if post_passes else 503)
    assert call(app, "GET", "/v1/console/health/liveness").status == 200
    assert call(app, "GET", "/v1/ns/ops/switches").status == 200
    assert put_switch(app, "overriddenServerStatus", "null").body == b"ok"
    assert call(app, "GET", LIST, {"serviceName": "svc"}).status == 200


def test_limited_url_map_answers_its_status_with_an_empty_body(app: NamingApp) -> None:
    assert put_switch(app, "limitedUrlMap", "/nacos/v1/ns/instance/list?serviceName=hot:429").body == b"ok"
    limited = call(app, "GET", LIST, {"serviceName": "hot"})
    assert (limited.status, limited.body) == (429, b"")
    assert call(app, "GET", LIST, {"serviceName": "cold"}).status == 200
    # Nacos matches ``URI?query``; a request without a query is ``URI?null``.
    assert put_switch(app, "limitedUrlMap", "/nacos/v1/ns/operator/metrics?null:503").body == b"ok"
    assert call(app, "GET", "/v1/ns/operator/metrics").status == 503
    assert call(app, "GET", "/v1/ns/operator/metrics", {"x": "1"}).status == 200


def test_limited_url_map_ignores_codes_that_are_not_final_statuses(app: NamingApp) -> None:
    assert (
        put_switch(app, "limitedUrlMap", "/nacos/v1/ns/instance/list:100,/nacos/v1/ns/service:1000").body
        == b"ok"
    )
    assert call(app, "GET", LIST, {"serviceName": "svc"}).status == 200
    assert call(app, "GET", "/v1/ns/service/list", {"pageNo": "1", "pageSize": "1"}).status == 200
