"""``PUT /operator/switches``: one switch entry (or a whole ``batch``) validated as Nacos's SwitchManager.

Where Nacos stores whatever parses (``pushEnabled=yes`` silently means false, ``distroThreshold=NaN``
is accepted, a 0 ms ``clientBeatInterval`` is taken), nacosfast answers 400 and changes nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Final, TypeGuard

from nacosfast.errors import BadRequest
from nacosfast.javaparse import (
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    LONG_MIN,
    VERSION_SYNTAX,
    commons_bool_strict,
    java_bool_strict,
    java_trim,
    parse_java_double,
    parse_java_long,
)
from nacosfast.limits import (
    MIN_CLIENT_BEAT_INTERVAL_MS,
    MIN_DEFAULT_CACHE_MILLIS,
    MIN_HEALTH_PARAMS_MAX_MS,
    MIN_HEALTH_PARAMS_MIN_MS,
    MIN_PUSH_CACHE_MILLIS,
    MIN_SERVER_SYNC_MILLIS,
    MIN_SERVICE_SYNC_MILLIS,
)
from nacosfast.naming.members import SERVER_STATUSES
from nacosfast.naming.params import parse_json
from nacosfast.naming.switches import SWITCH_DOMAIN_NAME, Switches

_PUSH_VERSION_FIELDS: Final = {
    "java": "pushJavaVersion",
    "python": "pushPythonVersion",
    "c": "pushCVersion",
    "go": "pushGoVersion",
}
BATCH: Final = "batch"


def _long(entry: str, value: str, low: int = LONG_MIN, high: int = LONG_MAX) -> int:
    number = parse_java_long(java_trim(value))
    if number is None:
        raise BadRequest(f'For input string: "{value[:64]}" ({entry})')
    if not low <= number <= high:
        raise BadRequest(f"{entry} must be in [{low}, {high}], current: {number}")
    return number


def _strict_java_bool(entry: str, value: str) -> bool:
    """``Boolean.parseBoolean`` without its silent ``false`` for junk: true or false (any case)."""
    parsed = java_bool_strict(java_trim(value))
    if parsed is None:
        raise BadRequest(f"Invalid boolean value for '{entry}': {value[:64]}, expected true or false")
    return parsed


def _strict_commons_bool(entry: str, value: str) -> bool:
    """commons-lang3 ``BooleanUtils.toBoolean`` without its silent ``false`` for junk."""
    parsed = commons_bool_strict(java_trim(value))
    if parsed is None:
        raise BadRequest(f"Invalid boolean value for '{entry}': {value[:64]}")
    return parsed


def _distro_threshold(switches: Switches, value: str) -> None:
    threshold = parse_java_double(value)  # Nacos: Float.parseFloat, the same grammar
    if threshold is None:
        raise BadRequest(f'For input string: "{value[:64]}" (distroThreshold)')
    if not math.isfinite(threshold) or threshold <= 0:
        raise BadRequest(f"distroThreshold can not be zero or negative: {value.strip()[:64]}")
    switches.distroThreshold = threshold


def _client_beat_interval(switches: Switches, value: str) -> None:
    switches.clientBeatInterval = _long("clientBeatInterval", value, MIN_CLIENT_BEAT_INTERVAL_MS)


def _push_version(switches: Switches, value: str) -> None:
    kind, separator, version = value.strip().partition(":")
    if not separator or ":" in version:
        raise BadRequest(f"pushVersion must be <java|python|c|go>:<x.y.z>, current: {value[:64]}")
    if not VERSION_SYNTAX.fullmatch(version):
        raise BadRequest(f"illegal version, must match: {VERSION_SYNTAX.pattern}")
    field = _PUSH_VERSION_FIELDS.get(kind)
    if field is None:
        raise BadRequest(f"unsupported client type: {kind[:64]}")
    setattr(switches, field, version)


def _at_least(entry: str, value: str, minimum: int, what: str = "") -> int:
    """A long of at least ``minimum``; below it, Nacos's ``<what or entry> is too small(<minimum)``."""
    number = _long(entry, value)
    if number < minimum:
        raise BadRequest(f"{what or entry} is too small(<{minimum})")
    return number


def _push_cache_millis(switches: Switches, value: str) -> None:
    switches.defaultPushCacheMillis = _at_least(
        "pushCacheMillis", value, MIN_PUSH_CACHE_MILLIS, "min cache time for http or tcp"
    )


def _default_cache_millis(switches: Switches, value: str) -> None:
    switches.defaultCacheMillis = _at_least(
        "defaultCacheMillis",
        value,
        MIN_DEFAULT_CACHE_MILLIS,
        "min default cache time ",  # sic: Nacos's message has two spaces before "is"
    )


def _masters(switches: Switches, value: str) -> None:
    masters = value.split(",")
    while masters and masters[-1] == "":  # Java's split drops trailing empty strings
        masters.pop()
    switches.masters = masters


def _service_sync(switches: Switches, value: str) -> None:
    switches.serviceStatusSynchronizationPeriodMillis = _at_least(
        "serviceStatusSynchronizationPeriodMillis", value, MIN_SERVICE_SYNC_MILLIS
    )


def _server_sync(switches: Switches, value: str) -> None:
    switches.serverStatusSynchronizationPeriodMillis = _at_least(
        "serverStatusSynchronizationPeriodMillis", value, MIN_SERVER_SYNC_MILLIS
    )


def _check_times(switches: Switches, value: str) -> None:
    switches.checkTimes = _long("healthCheckTimes", value, 1, INT_MAX)


def parse_limited_urls(value: str) -> dict[str, int]:
    """``url:code,url2:code``: each code a positive int."""
    limited: dict[str, int] = {}
    for each in value.split(","):
        parts = each.split(":")
        if len(parts) < 2:
            raise BadRequest("invalid input for limited urls")
        url = parts[0]
        if not url:
            raise BadRequest(f"url can not be empty, url: {url}")
        code = _long("limitedUrlMap", parts[1], INT_MIN, INT_MAX)
        if code <= 0:
            raise BadRequest(f"illegal normal status code: {code}")
        limited[url] = code
    return limited


def _limited_url_map(switches: Switches, value: str) -> None:
    if value:  # as in Nacos, an empty value leaves the map unchanged
        switches.limitedUrlMap = parse_limited_urls(value)


def parse_server_status(value: str | None) -> str | None:
    """``overriddenServerStatus``: a Nacos ``ServerStatus`` name, or ``null``/blank to clear it."""
    if value is None or not value.strip() or value.strip() == "null":
        return None
    if value.strip() not in SERVER_STATUSES:
        allowed = ", ".join(SERVER_STATUSES)
        raise BadRequest(f"overriddenServerStatus must be one of {allowed} or null, current: {value[:64]}")
    return value.strip()


def _overridden_status(switches: Switches, value: str) -> None:
    switches.overriddenServerStatus = parse_server_status(value)


def _distro_expired(switches: Switches, value: str) -> None:
    switches.distroServerExpiredMillis = _long("distroServerExpiredMillis", value, 1)


def _java_bool_field(entry: str, field: str) -> Callable[[Switches, str], None]:
    def apply(switches: Switches, value: str) -> None:
        setattr(switches, field, _strict_java_bool(entry, value))

    return apply


def _commons_bool_field(entry: str, field: str) -> Callable[[Switches, str], None]:
    def apply(switches: Switches, value: str) -> None:
        setattr(switches, field, _strict_commons_bool(entry, value))

    return apply


ENTRIES: Final[dict[str, Callable[[Switches, str], None]]] = {
    "distroThreshold": _distro_threshold,
    "clientBeatInterval": _client_beat_interval,
    "pushVersion": _push_version,
    "pushCacheMillis": _push_cache_millis,
    "defaultCacheMillis": _default_cache_millis,
    "masters": _masters,
    "distro": _java_bool_field("distro", "distroEnabled"),
    "check": _java_bool_field("check", "healthCheckEnabled"),
    "pushEnabled": _java_bool_field("pushEnabled", "pushEnabled"),
    "serviceStatusSynchronizationPeriodMillis": _service_sync,
    "serverStatusSynchronizationPeriodMillis": _server_sync,
    "healthCheckTimes": _check_times,
    "disableAddIP": _java_bool_field("disableAddIP", "disableAddIP"),
    "sendBeatOnly": _java_bool_field("sendBeatOnly", "sendBeatOnly"),
    "limitedUrlMap": _limited_url_map,
    "enableStandalone": _java_bool_field("enableStandalone", "enableStandalone"),
    "overriddenServerStatus": _overridden_status,
    "defaultInstanceEphemeral": _java_bool_field("defaultInstanceEphemeral", "defaultInstanceEphemeral"),
    "distroServerExpiredMillis": _distro_expired,
    "lightBeatEnabled": _commons_bool_field("lightBeatEnabled", "lightBeatEnabled"),
    "autoChangeHealthCheckEnabled": _commons_bool_field(
        "autoChangeHealthCheckEnabled", "autoChangeHealthCheckEnabled"
    ),
}
"""Entry name → how it changes the switches (Nacos ``SwitchEntry`` names; ``batch`` is separate)."""


# --- batch: a whole SwitchDomain JSON ------------------------------------------------------------------


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _check_long(low: int, high: int = LONG_MAX) -> Callable[[str, object], object]:
    def check(field: str, value: object) -> object:
        if not _is_int(value) or not low <= value <= high:
            raise BadRequest(f"switch batch: '{field}' must be an integer in [{low}, {high}]")
        return value

    return check


def _check_bool(field: str, value: object) -> object:
    if not isinstance(value, bool):
        raise BadRequest(f"switch batch: '{field}' must be true or false")
    return value


def _check_positive_number(field: str, value: object) -> object:
    if not _is_number(value) or value <= 0:
        raise BadRequest(f"switch batch: '{field}' must be a positive number")
    return float(value)


def _check_str_list(field: str, value: object) -> object:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"switch batch: '{field}' must be a list of strings")
    return list(value)


def _check_optional_str_list(field: str, value: object) -> object:
    return None if value is None else _check_str_list(field, value)


def _check_int_map(positive: bool) -> Callable[[str, object], object]:
    def check(field: str, value: object) -> object:
        if not isinstance(value, dict) or not all(
            _is_int(item) and INT_MIN <= item <= INT_MAX and (item > 0 or not positive)
            for item in value.values()
        ):
            raise BadRequest(
                f"switch batch: '{field}' must map strings to {'positive ' if positive else ''}integers"
            )
        return dict(value)

    return check


def _check_health_params(field: str, value: object) -> object:
    if (
        not isinstance(value, dict)
        or not _is_int(value.get("max"))
        or not _is_int(value.get("min"))
        or not _is_number(value.get("factor"))
    ):
        raise BadRequest(f'switch batch: \'{field}\' must be {{"max":<int>,"min":<int>,"factor":<number>}}')
    return {"max": value["max"], "min": value["min"], "factor": float(value["factor"])}


def _check_version(field: str, value: object) -> object:
    if not isinstance(value, str) or not VERSION_SYNTAX.fullmatch(value):
        raise BadRequest(f"switch batch: '{field}': illegal version, must match: {VERSION_SYNTAX.pattern}")
    return value


def _check_status(field: str, value: object) -> object:
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"switch batch: '{field}' must be a string or null")
    return parse_server_status(value)


def _check_optional_str(field: str, value: object) -> object:
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"switch batch: '{field}' must be a string or null")
    return value


_BATCH_FIELDS: Final[dict[str, Callable[[str, object], object]]] = {
    "masters": _check_optional_str_list,
    "adWeightMap": _check_int_map(positive=False),
    "defaultPushCacheMillis": _check_long(MIN_PUSH_CACHE_MILLIS),
    "clientBeatInterval": _check_long(MIN_CLIENT_BEAT_INTERVAL_MS),
    "defaultCacheMillis": _check_long(MIN_DEFAULT_CACHE_MILLIS),
    "distroThreshold": _check_positive_number,
    "healthCheckEnabled": _check_bool,
    "autoChangeHealthCheckEnabled": _check_bool,
    "distroEnabled": _check_bool,
    "enableStandalone": _check_bool,
    "pushEnabled": _check_bool,
    "checkTimes": _check_long(1, INT_MAX),
    "httpHealthParams": _check_health_params,
    "tcpHealthParams": _check_health_params,
    "mysqlHealthParams": _check_health_params,
    "incrementalList": _check_str_list,
    "serverStatusSynchronizationPeriodMillis": _check_long(MIN_SERVER_SYNC_MILLIS),
    "serviceStatusSynchronizationPeriodMillis": _check_long(MIN_SERVICE_SYNC_MILLIS),
    "disableAddIP": _check_bool,
    "sendBeatOnly": _check_bool,
    "lightBeatEnabled": _check_bool,
    "limitedUrlMap": _check_int_map(positive=True),
    "distroServerExpiredMillis": _check_long(1),
    "pushGoVersion": _check_version,
    "pushJavaVersion": _check_version,
    "pushPythonVersion": _check_version,
    "pushCVersion": _check_version,
    "pushCSharpVersion": _check_version,
    "enableAuthentication": _check_bool,
    "overriddenServerStatus": _check_status,
    "defaultInstanceEphemeral": _check_bool,
    "healthCheckWhiteList": _check_str_list,
    "checksum": _check_optional_str,
}
if set(_BATCH_FIELDS) | {"name"} != {
    field.name for field in dataclasses.fields(Switches)
}:  # pragma: no cover
    raise RuntimeError("switch_update._BATCH_FIELDS does not cover every Switches field")


def parse_batch(value: str, current: Switches) -> Switches:
    """A whole SwitchDomain JSON: unknown keys are ignored, missing ones take Nacos's defaults."""
    data = parse_json("switch batch", value)
    if not isinstance(data, dict):
        raise BadRequest("switch batch must be a SwitchDomain JSON object")
    switches = Switches()
    for field, check in _BATCH_FIELDS.items():
        if field in data:
            setattr(switches, field, check(field, data[field]))
    switches.name = SWITCH_DOMAIN_NAME
    switches.enableStandalone = current.enableStandalone  # as Nacos: batch never changes it
    http, tcp = switches.httpHealthParams, switches.tcpHealthParams
    if http["min"] < MIN_HEALTH_PARAMS_MIN_MS or tcp["min"] < MIN_HEALTH_PARAMS_MIN_MS:
        raise BadRequest(f"min check time for http or tcp is too small(<{MIN_HEALTH_PARAMS_MIN_MS})")
    if http["max"] < MIN_HEALTH_PARAMS_MAX_MS or tcp["max"] < MIN_HEALTH_PARAMS_MAX_MS:
        raise BadRequest(f"max check time for http or tcp is too small(<{MIN_HEALTH_PARAMS_MAX_MS})")
    for params in (http, tcp, switches.mysqlHealthParams):
        if not 0 <= params["factor"] <= 1:
            raise BadRequest("malformed factor")
        if params["min"] > params["max"]:
            raise BadRequest("min check time is larger than max check time")
    return switches


def updated(current: Switches, entry: str, value: str) -> Switches | None:
    """The switches after ``entry=value``, or ``None`` for an entry Nacos does not know (ignored)."""
    if entry == BATCH:
        return parse_batch(value, current)
    apply = ENTRIES.get(entry)
    if apply is None:
        return None
    switches = Switches.from_json(current.to_json())
    apply(switches, value)
    return switches
