"""Service and cluster attributes stored on each ``Service`` snapshot (``Service.meta``).

Immutable values: a change builds a new ``ServiceMeta`` and goes through ``Registry.set_meta`` so the
snapshot's revision moves and cached responses are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final

DEFAULT_HEALTH_CHECKER: Final[Mapping[str, Any]] = MappingProxyType({"type": "TCP"})
DEFAULT_CHECK_PORT: Final = 80
NO_SELECTOR: Final[Mapping[str, Any]] = MappingProxyType({"type": "none"})
_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """A cluster's health-check settings (Nacos ``Cluster``); defaults are Nacos's."""

    # Read-only mappings are unhashable, which dataclasses treat as mutable defaults: use factories.
    health_checker: Mapping[str, Any] = field(default_factory=lambda: DEFAULT_HEALTH_CHECKER)
    check_port: int = DEFAULT_CHECK_PORT
    use_instance_port: bool = True
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the journal."""
        return {
            "healthChecker": dict(self.health_checker),
            "checkPort": self.check_port,
            "useInstancePort": self.use_instance_port,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClusterConfig:
        """Inverse of :meth:`to_json`."""
        return cls(
            health_checker=MappingProxyType(dict(data.get("healthChecker", {"type": "TCP"}))),
            check_port=int(data.get("checkPort", DEFAULT_CHECK_PORT)),
            use_instance_port=bool(data.get("useInstancePort", True)),
            metadata=MappingProxyType(dict(data.get("metadata", {}))),
        )


DEFAULT_CLUSTER_CONFIG: Final = ClusterConfig()


@dataclass(frozen=True, slots=True)
class ServiceMeta:
    """Per-service attributes: protect threshold, metadata, selector and configured clusters.

    ``persisted`` marks services whose metadata lives in the durable store (created by ``POST
    /service``, by a persistent instance, or changed by ``PUT /service``/``/cluster``); services that
    only ever held ephemeral instances live in memory, as in Nacos.
    """

    protect_threshold: float = 0.0
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    selector: Mapping[str, Any] = field(default_factory=lambda: NO_SELECTOR)
    clusters: Mapping[str, ClusterConfig] = field(default_factory=lambda: MappingProxyType({}))
    persisted: bool = False

    def cluster(self, name: str) -> ClusterConfig:
        """The configured cluster, or Nacos's default configuration."""
        return self.clusters.get(name, DEFAULT_CLUSTER_CONFIG)

    def with_cluster(self, name: str, config: ClusterConfig) -> ServiceMeta:
        """A copy with one cluster configured."""
        clusters = dict(self.clusters)
        clusters[name] = config
        return replace(self, clusters=MappingProxyType(clusters))

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the journal."""
        return {
            "protectThreshold": self.protect_threshold,
            "metadata": dict(self.metadata),
            "selector": dict(self.selector),
            "clusters": {name: config.to_json() for name, config in self.clusters.items()},
            "persisted": self.persisted,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServiceMeta:
        """Inverse of :meth:`to_json`."""
        return cls(
            protect_threshold=float(data.get("protectThreshold", 0.0)),
            metadata=MappingProxyType(dict(data.get("metadata", {}))),
            selector=MappingProxyType(dict(data.get("selector", {"type": "none"}))),
            clusters=MappingProxyType(
                {name: ClusterConfig.from_json(value) for name, value in data.get("clusters", {}).items()}
            ),
            persisted=bool(data.get("persisted", False)),
        )


DEFAULT_SERVICE_META: Final = ServiceMeta()
