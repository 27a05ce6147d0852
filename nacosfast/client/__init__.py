"""nacosfast.client: a Python SDK for Nacos 1.x naming (v1 HTTP API), for nacosfast and Nacos servers.

``NamingClient`` blocks; ``AsyncNamingClient`` runs on Trio or asyncio (through anyio). Both register
instances and keep them alive with beats, serve reads from a local cache fed by UDP push and polling,
write that cache to disk, and honour the Nacos failover switch. See ``docs/client.md``.
"""

from nacosfast.client.aio import AsyncNamingClient, Listener, NamingClient
from nacosfast.client.api import ServicePage
from nacosfast.client.errors import (
    InvalidResponse,
    NacosClientError,
    NacosRequestError,
    NoInstanceAvailable,
    NoServerAvailable,
)
from nacosfast.client.model import Instance, ServiceChange, ServiceInfo
from nacosfast.client.timings import ClientTimings

__all__ = [
    "AsyncNamingClient",
    "ClientTimings",
    "Instance",
    "InvalidResponse",
    "Listener",
    "NacosClientError",
    "NacosRequestError",
    "NamingClient",
    "NoInstanceAvailable",
    "NoServerAvailable",
    "ServiceChange",
    "ServiceInfo",
    "ServicePage",
]
