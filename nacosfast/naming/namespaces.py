"""The namespace registry behind the console API (compatibility.md §5).

Nacos lists namespaces from its config database; a naming-only server keeps its own. ``public`` (id
``""`` on the console) always exists and cannot be changed or deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

PUBLIC_NAMESPACE: Final = "public"
NAMESPACE_QUOTA: Final = 200
"""Nacos shows a quota of 200 configurations per namespace; naming does not enforce it."""


@dataclass(frozen=True, slots=True)
class Namespace:
    """A custom namespace: id, display name and description."""

    namespace_id: str
    show_name: str
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the journal."""
        return {"id": self.namespace_id, "name": self.show_name, "desc": self.description}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Namespace:
        """Inverse of :meth:`to_json`."""
        return cls(str(data["id"]), str(data["name"]), str(data.get("desc", "")))


class NamespaceTable:
    """Custom namespaces by id, in creation order."""

    def __init__(self) -> None:
        self._namespaces: dict[str, Namespace] = {}

    def __contains__(self, namespace_id: str) -> bool:
        return namespace_id in self._namespaces or namespace_id in ("", PUBLIC_NAMESPACE)

    def __len__(self) -> int:
        return len(self._namespaces)

    def get(self, namespace_id: str) -> Namespace | None:
        """A custom namespace, or ``None``."""
        return self._namespaces.get(namespace_id)

    def all(self) -> list[Namespace]:
        """Custom namespaces in creation order."""
        return list(self._namespaces.values())

    def put(self, namespace: Namespace) -> None:
        """Create or replace a custom namespace."""
        self._namespaces[namespace.namespace_id] = namespace

    def remove(self, namespace_id: str) -> bool:
        """Delete a custom namespace; ``False`` if it did not exist."""
        return self._namespaces.pop(namespace_id, None) is not None
