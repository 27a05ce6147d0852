"""Error mapping: only a ``NacosError`` is the client's mistake (4xx); anything else is a logged 500."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from nacosfast.errors import BadRequest, NacosError
from nacosfast.limits import STORE_MAX_RECORD_BYTES
from nacosfast.naming.app import INTERNAL_ERROR_BODY, NamingApp, collect_routes
from nacosfast.naming.context import Context
from nacosfast.naming.state import NamingState
from nacosfast.server.durability import Durability
from nacosfast.store.log import AppendLog
from nacosfast.wire.message import Response
from tests.instance_helpers import SERVICE, fingerprint, register
from tests.naming_helpers import MemoryJournal, RecordingPush, call

BOOM = "/v1/ns/boom"


def _raises(error: Exception) -> NamingApp:
    def handler(ctx: Context) -> Response:
        raise error

    routes = {**collect_routes(), ("GET", BOOM): handler}
    return NamingApp(NamingState(push=RecordingPush(), journal=MemoryJournal()), routes)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("weight must be a number"),
        KeyError("ip"),
        TypeError("x"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
    ],
)
def test_a_bug_in_a_handler_is_a_logged_500(error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    app = _raises(error)
    with caplog.at_level(logging.ERROR, logger="nacosfast.naming"):
        response = call(app, "GET", BOOM, {"serviceName": "svc"})
    assert (response.status, response.body) == (500, INTERNAL_ERROR_BODY)
    [record] = [r for r in caplog.records if r.name == "nacosfast.naming"]
    assert record.getMessage() == "request failed: GET /nacos/v1/ns/boom?serviceName=svc"
    assert record.exc_info is not None
    assert record.exc_info[1] is error
    assert "Traceback" in caplog.text
    # The application keeps serving.
    assert call(app, "GET", "/v1/ns/instance/list", {"serviceName": "svc"}).status == 200


def test_a_nacos_error_keeps_its_status_and_text() -> None:
    app = _raises(BadRequest("Param 'x' is required."))
    assert (call(app, "GET", BOOM).status, call(app, "GET", BOOM).body) == (
        400,
        b"caused: Param 'x' is required.;",
    )
    app = _raises(NacosError("storage is full", status=503))
    assert call(app, "GET", BOOM).status == 503


def test_the_logged_query_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    app = _raises(ValueError("bug"))
    with caplog.at_level(logging.ERROR, logger="nacosfast.naming"):
        call(app, "GET", BOOM, {"x": "y" * 10_000})
    [record] = [r for r in caplog.records if r.name == "nacosfast.naming"]
    assert len(record.getMessage()) < 600
    assert record.getMessage().endswith("...")


# --- the core's validation of client values stays a 400 ------------------------------------------------

SURROGATE = '"\\ud800"'
"""A JSON escape that decodes to a lone surrogate: valid JSON, not encodable text."""


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("POST", "/v1/ns/instance", {"ip": "10.0.0.2", "port": "80", "metadata": f'{{"a":{SURROGATE}}}'}),
        ("POST", "/v1/ns/instance", {"ip": "10.0.0.2", "port": "80", "metadata": f'{{{SURROGATE}:"b"}}'}),
        ("PATCH", "/v1/ns/instance", {"ip": "10.0.0.1", "port": "8080", "metadata": f'{{"a":{SURROGATE}}}'}),
        (
            "PUT",
            "/v1/ns/instance/metadata/batch",
            {"consistencyType": "ephemeral", "metadata": f'{{"a":{SURROGATE}}}'},
        ),
        (
            "PUT",
            "/v1/ns/instance/beat",
            {"beat": f'{{"ip":"10.0.0.3","port":1,"metadata":{{"a":{SURROGATE}}}}}'},
        ),
        ("PUT", "/v1/ns/instance/beat", {"beat": f'{{"ip":{SURROGATE},"port":1}}'}),
        ("PUT", "/v1/ns/instance", {"ip": "10.0.0.1", "port": "8080", "weight": "10001"}),
    ],
)
def test_invalid_client_values_that_reach_the_core_are_400(
    method: str, path: str, params: dict[str, str], app: NamingApp, naming_state: NamingState
) -> None:
    register(app, ip="10.0.0.1", port=8080)
    before = fingerprint(naming_state)
    response = call(app, method, path, {"serviceName": SERVICE, **params})
    assert response.status == 400, response.body
    assert response.body.startswith(b"caused: ")
    assert response.body.endswith(b";")
    response.body.decode("utf-8")  # a surrogate quoted in the message is written as '?', like Java
    assert fingerprint(naming_state) == before


def test_metadata_batch_with_text_the_core_refuses_is_400_with_the_core_text(app: NamingApp) -> None:
    register(app, ip="10.0.0.1", port=8080)
    response = call(
        app,
        "PUT",
        "/v1/ns/instance/metadata/batch",
        {"serviceName": SERVICE, "consistencyType": "ephemeral", "metadata": json.dumps({"a": "\ud800"})},
    )
    assert (response.status, response.body) == (
        400,
        b"caused: instance format invalid: metadata value is not valid text;",
    )


def test_a_health_checker_status_of_thousands_of_digits_is_400(app: NamingApp) -> None:
    """``int()`` refuses strings of more than 4300 digits with a ValueError: refused before it."""
    register(app, ip="10.0.0.1", port=8080)
    checker = json.dumps({"type": "HTTP", "expectedResponseCode": "9" * 5_000})
    params = {"serviceName": SERVICE, "clusterName": "DEFAULT", "checkPort": "80", "healthChecker": checker}
    response = call(app, "PUT", "/v1/ns/cluster", {**params, "useInstancePort4Check": "true"})
    assert response.status == 400
    assert response.body.startswith(b"caused: healthChecker HTTP: 'expectedResponseCode' must be an HTTP")


def test_a_record_over_the_storage_limit_is_a_bad_request(tmp_path: Path) -> None:
    """The log refuses it with a ValueError before buffering anything; the journal sink says 400."""
    log = AppendLog.open(str(tmp_path))
    try:
        durability = Durability(log, snapshot_source=list)
        with pytest.raises(BadRequest, match="-byte storage limit") as refused:
            durability.append(b"x" * (STORE_MAX_RECORD_BYTES + 1))
        assert refused.value.status == 400
        assert durability.append(b"small") == 1
    finally:
        log.close()
