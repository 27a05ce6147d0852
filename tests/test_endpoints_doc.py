"""``docs/endpoints.md`` lists every route of ``collect_routes()`` as served, and nothing else."""

from __future__ import annotations

import re
from typing import Final

from nacosfast.naming.app import collect_routes
from nacosfast.naming.context import ANY_METHOD
from tests.server_process import REPO_ROOT

DOC: Final = REPO_ROOT / "docs" / "endpoints.md"
ROW: Final = re.compile(
    r"^\| ([A-Z, ]+|any) \| (`/v1/[^|]+) \| (served|different|not served) \|", re.MULTILINE
)


def documented() -> dict[str, set[tuple[str, str]]]:
    """status → the (method, path) pairs the page gives it."""
    found: dict[str, set[tuple[str, str]]] = {"served": set(), "different": set(), "not served": set()}
    for methods, paths, status in ROW.findall(DOC.read_text()):
        verbs = ANY_METHOD if methods == "any" else tuple(verb.strip() for verb in methods.split(","))
        for path in re.findall(r"`([^`]+)`", paths):
            found[status] |= {(verb, path) for verb in verbs}
    return found


def test_every_route_is_documented_as_served() -> None:
    found = documented()
    assert len(found["served"]) > 40
    served = found["served"] | found["different"]
    assert not found["served"] & found["different"]
    assert served == set(collect_routes())


def test_not_served_rows_have_no_route() -> None:
    found = documented()
    assert ("POST", "/v1/ns/service/status") in found["not served"]
    assert not found["not served"] & set(collect_routes())
