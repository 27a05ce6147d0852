"""``NamingClient``: the blocking face of ``AsyncNamingClient``.

Reads of a service already in use are answered from the cache in the caller's thread (plain
dictionary reads); everything else is a call into the client's loop.

The async client runs on its own event loop (Trio, through anyio) in one background thread, started by
an anyio ``BlockingPortal``; every method is a call into that loop. ``close()`` leaves the client's
task group (cancelling beats, polls and the push receiver, closing every socket) and then stops the
loop and joins the thread, so nothing is left running.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
from collections.abc import Callable
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

import anyio.from_thread

from nacosfast.client.aio.client import AsyncNamingClient
from nacosfast.client.api import USER_AGENT, ServicePage
from nacosfast.client.beats import BeatKey
from nacosfast.client.limits import MAX_SUBSCRIBED_SERVICES
from nacosfast.client.model import (
    DEFAULT_CLUSTER,
    DEFAULT_GROUP,
    DEFAULT_NAMESPACE,
    Instance,
    ServiceChange,
    select,
)
from nacosfast.client.timings import ClientTimings

P = ParamSpec("P")
T = TypeVar("T")

EVENT_LOOP_BACKEND = "trio"
"""The background loop runs on Trio, the project's networking library (anyio runs the same code on
asyncio for applications that use the async client there)."""


class NamingClient:
    """A blocking Nacos naming client; see ``AsyncNamingClient`` for the parameters.

    ``with NamingClient("127.0.0.1:8848", cache_dir="/var/cache/app") as client: ...``, or call
    ``close()`` when done. Listeners are called on the client's background thread, one at a time:
    they must return quickly.
    """

    def __init__(
        self,
        server_addresses: str = "",
        *,
        namespace: str = DEFAULT_NAMESPACE,
        endpoint: str = "",
        cache_dir: str | os.PathLike[str] | None = None,
        disk_cache: bool = True,
        load_cache_at_start: bool = True,
        push: bool = True,
        push_host: str = "0.0.0.0",
        push_port: int = 0,
        user_agent: str = USER_AGENT,
        timings: ClientTimings | None = None,
        max_services: int = MAX_SUBSCRIBED_SERVICES,
        rng: random.Random | None = None,
    ) -> None:
        self._stack = contextlib.ExitStack()
        portal = self._stack.enter_context(
            anyio.from_thread.start_blocking_portal(EVENT_LOOP_BACKEND, name="nacosfast-client")
        )
        try:
            client = portal.call(
                functools.partial(
                    AsyncNamingClient,
                    server_addresses,
                    namespace=namespace,
                    endpoint=endpoint,
                    cache_dir=cache_dir,
                    disk_cache=disk_cache,
                    load_cache_at_start=load_cache_at_start,
                    push=push,
                    push_host=push_host,
                    push_port=push_port,
                    user_agent=user_agent,
                    timings=timings,
                    max_services=max_services,
                    rng=rng,
                )
            )
            self._client = self._stack.enter_context(portal.wrap_async_context_manager(client))
        except BaseException:
            self._stack.close()
            raise
        self._portal = portal

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the client and its thread (idempotent)."""
        self._stack.close()

    def _call(self, method: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> Any:
        return self._portal.call(functools.partial(method, *args, **kwargs))

    @property
    def async_client(self) -> AsyncNamingClient:
        """The client running underneath (its ``stats``, ``servers`` and ``push_port``)."""
        return self._client

    @property
    def push_port(self) -> int:
        return self._client.push_port

    @property
    def failover_on(self) -> bool:
        return self._client.failover_on

    def register_instance(
        self,
        service: str,
        ip: str,
        port: int,
        *,
        group: str = DEFAULT_GROUP,
        cluster: str = DEFAULT_CLUSTER,
        weight: float = 1.0,
        enabled: bool = True,
        healthy: bool = True,
        ephemeral: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Register an instance; an ephemeral one is kept alive by beats until deregistered."""
        self._call(
            self._client.register_instance,
            service,
            ip,
            port,
            group=group,
            cluster=cluster,
            weight=weight,
            enabled=enabled,
            healthy=healthy,
            ephemeral=ephemeral,
            metadata=metadata,
        )

    def deregister_instance(
        self,
        service: str,
        ip: str,
        port: int,
        *,
        group: str = DEFAULT_GROUP,
        cluster: str = DEFAULT_CLUSTER,
        ephemeral: bool = True,
    ) -> None:
        """Stop beating for the instance and remove it."""
        self._call(
            self._client.deregister_instance,
            service,
            ip,
            port,
            group=group,
            cluster=cluster,
            ephemeral=ephemeral,
        )

    def update_instance(
        self,
        service: str,
        ip: str,
        port: int,
        *,
        group: str = DEFAULT_GROUP,
        cluster: str = DEFAULT_CLUSTER,
        weight: float = 1.0,
        enabled: bool = True,
        ephemeral: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Replace an instance's weight, enabled flag and metadata."""
        self._call(
            self._client.update_instance,
            service,
            ip,
            port,
            group=group,
            cluster=cluster,
            weight=weight,
            enabled=enabled,
            ephemeral=ephemeral,
            metadata=metadata,
        )

    def get_all_instances(
        self,
        service: str,
        *,
        group: str = DEFAULT_GROUP,
        clusters: list[str] | str | None = None,
        subscribe: bool = True,
    ) -> list[Instance]:
        """Every instance of the service (from the cache unless ``subscribe=False``)."""
        known = self._client.cached(service, group=group, clusters=clusters) if subscribe else None
        if known is not None:
            return list(known.hosts)
        result: list[Instance] = self._call(
            self._client.get_all_instances, service, group=group, clusters=clusters, subscribe=subscribe
        )
        return result

    def select_instances(
        self,
        service: str,
        *,
        group: str = DEFAULT_GROUP,
        clusters: list[str] | str | None = None,
        healthy: bool = True,
        subscribe: bool = True,
    ) -> list[Instance]:
        """Enabled, positive-weight instances whose health is ``healthy``."""
        known = self._client.cached(service, group=group, clusters=clusters) if subscribe else None
        if known is not None:
            return select(known.hosts, healthy)
        result: list[Instance] = self._call(
            self._client.select_instances,
            service,
            group=group,
            clusters=clusters,
            healthy=healthy,
            subscribe=subscribe,
        )
        return result

    def select_one_healthy_instance(
        self,
        service: str,
        *,
        group: str = DEFAULT_GROUP,
        clusters: list[str] | str | None = None,
        subscribe: bool = True,
    ) -> Instance:
        """One healthy instance at random by weight; ``NoInstanceAvailable`` if none."""
        result: Instance = self._call(
            self._client.select_one_healthy_instance,
            service,
            group=group,
            clusters=clusters,
            subscribe=subscribe,
        )
        return result

    def subscribe(
        self,
        service: str,
        listener: Callable[[ServiceChange], None],
        *,
        group: str = DEFAULT_GROUP,
        clusters: list[str] | str | None = None,
    ) -> None:
        """Call ``listener`` (on the client's thread) on every change of the service."""
        self._call(self._client.subscribe, service, listener, group=group, clusters=clusters)

    def unsubscribe(
        self,
        service: str,
        listener: Callable[[ServiceChange], None],
        *,
        group: str = DEFAULT_GROUP,
        clusters: list[str] | str | None = None,
    ) -> None:
        """Stop calling ``listener``."""
        self._call(self._client.unsubscribe, service, listener, group=group, clusters=clusters)

    def get_services(
        self, *, page_no: int = 1, page_size: int = 100, group: str = DEFAULT_GROUP
    ) -> ServicePage:
        """One page of service names in ``group`` and the total count."""
        result: ServicePage = self._call(
            self._client.get_services, page_no=page_no, page_size=page_size, group=group
        )
        return result

    def server_healthy(self) -> bool:
        """Whether a server reports status ``UP``."""
        result: bool = self._call(self._client.server_healthy)
        return result

    def beating(self) -> list[BeatKey]:
        """The instances this client beats for."""
        return self._client.beating()
