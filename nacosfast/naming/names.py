"""Service, group, cluster, namespace and ip names: grouping and validation (compatibility.md §1.5, §2.2).

Nacos validates little (any namespace id, hostnames as ips); nacosfast keeps every rule Nacos has and
adds bounds so that separators (``@@``, ``##``, ``#``, ``:``) and control characters cannot be injected.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from nacosfast.errors import BadRequest
from nacosfast.limits import MAX_IP_LENGTH, MAX_NAME_LENGTH, MAX_NAMESPACE_ID_LENGTH
from nacosfast.naming.params import Params

DEFAULT_NAMESPACE: Final = "public"
DEFAULT_GROUP: Final = "DEFAULT_GROUP"
DEFAULT_CLUSTER: Final = "DEFAULT"
GROUP_SEPARATOR: Final = "@@"

_SERVICE_NAME: Final = re.compile(r"[0-9a-zA-Z@.:_-]+")
_CLUSTER_NAME: Final = re.compile(r"[0-9a-zA-Z-]+")
_NAMESPACE_ID: Final = re.compile(r"[0-9a-zA-Z_.:-]+")
_IP: Final = re.compile(r"[0-9a-zA-Z.:%_\[\]-]+")
_IPV4_LIKE: Final = re.compile(r"[0-9.]+")


def datum_key(ip: str, port: int, cluster: str) -> str:
    """Nacos's datumKey, the identity of an instance in one list (same as ``Instance.key``)."""
    return f"{ip}:{port}:unknown:{cluster}" if port else f"{ip}:unknown:{cluster}"


def grouped_name(params: Params) -> str:
    """DistroFilter's rule: ``serviceName`` (else ``dom``), prefixed ``groupName@@`` unless it has ``@@``.

    Returns ``""`` when no service name was given; callers decide whether that is an error.
    """
    service = params.optional("serviceName") or params.optional("dom")
    if service and GROUP_SEPARATOR not in service:
        service = f"{params.optional('groupName', DEFAULT_GROUP)}{GROUP_SEPARATOR}{service}"
    return service


def check_grouped_name(name: str) -> str:
    """``NamingUtils.checkServiceNameFormat`` plus Nacos's ``Service.validate`` character rule."""
    if not name:
        raise BadRequest("Param 'serviceName' is required.")
    parts = name.split(GROUP_SEPARATOR)
    while parts and parts[-1] == "":  # Java's split drops trailing empty strings
        parts.pop()
    if len(parts) < 2:
        raise BadRequest("Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'")
    if not parts[0]:
        raise BadRequest("Param 'serviceName' is illegal, groupName can't be empty")
    if len(parts) > 2 or "" in parts:
        raise BadRequest(
            "Param 'serviceName' is illegal, '@@' may appear only once between group and service: "
            f"{name[:128]}"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f"Param 'serviceName' is too long: at most {MAX_NAME_LENGTH} characters")
    if not _SERVICE_NAME.fullmatch(name):
        raise BadRequest(f"dom name can only have these characters: 0-9a-zA-Z-._:, current: {name[:128]}")
    return name


def required_grouped_name(params: Params) -> str:
    """The grouped, validated service name of a request (400 when missing or malformed)."""
    return check_grouped_name(grouped_name(params))


def split_grouped(name: str) -> tuple[str, str]:
    """``group@@service`` → ``(group, service)``; a name without ``@@`` is in ``DEFAULT_GROUP``."""
    group, separator, service = name.partition(GROUP_SEPARATOR)
    return (group, service) if separator else (DEFAULT_GROUP, name)


def strip_group(name: str) -> str:
    """The service name without its ``group@@`` prefix."""
    return split_grouped(name)[1]


def check_cluster(name: str) -> str:
    """Nacos's cluster rule ``[0-9a-zA-Z-]+`` (underscore and dot are rejected), bounded."""
    if len(name) > MAX_NAME_LENGTH or not _CLUSTER_NAME.fullmatch(name):
        raise BadRequest(f"cluster name can only have these characters: 0-9a-zA-Z-, current: {name[:128]}")
    return name


def cluster_param(params: Params) -> str:
    """``clusterName``, else the legacy ``cluster``, else ``DEFAULT``; validated."""
    return check_cluster(params.first("clusterName", "cluster", default=DEFAULT_CLUSTER))


def check_namespace(namespace_id: str) -> str:
    """A namespace id: blank means ``public``; no separators, slashes or dot-only names."""
    if not namespace_id:
        return DEFAULT_NAMESPACE
    if (
        len(namespace_id) > MAX_NAMESPACE_ID_LENGTH
        or not _NAMESPACE_ID.fullmatch(namespace_id)
        or namespace_id.strip(".") == ""
    ):
        raise BadRequest(
            f"Param 'namespaceId' is illegal: up to {MAX_NAMESPACE_ID_LENGTH} of 0-9a-zA-Z_.:-, "
            f"current: {namespace_id[:128]}"
        )
    return namespace_id


def namespace_param(params: Params) -> str:
    """The request's namespace (``namespaceId``, blank → ``public``), validated."""
    return check_namespace(params.optional("namespaceId"))


def check_ip(ip: str) -> str:
    """An ip or host name: bounded, no spaces or separators; dotted digits must look like IPv4."""
    if not ip:
        raise BadRequest("Param 'ip' is required.")
    if len(ip) > MAX_IP_LENGTH or not _IP.fullmatch(ip):
        raise BadRequest(f"instance format invalid: Your IP address is spelled incorrectly: {ip[:64]}")
    if _IPV4_LIKE.fullmatch(ip):
        octets = ip.split(".")
        if len(octets) != 4 or any(not octet or int(octet) > 255 for octet in octets):
            raise BadRequest(f"instance format invalid: Your IP address is spelled incorrectly: {ip[:64]}")
    elif ":" in ip and not _is_ipv6(ip):
        # ``:`` separates the datumKey ``ip:port:unknown:cluster``: outside an IPv6 literal it would let
        # ``10.0.0.1:80`` with port 0 name the instance ``10.0.0.1`` port 80.
        raise BadRequest(f"instance format invalid: Your IP address is spelled incorrectly: {ip[:64]}")
    return ip


def _is_ipv6(ip: str) -> bool:
    """An IPv6 literal, optionally in brackets and with a ``%zone``."""
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    try:
        ipaddress.IPv6Address(ip)
    except ValueError:
        return False
    return True
