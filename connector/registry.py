"""Slug → adapter class, for platforms and carriers, found through entry points.

Built-in adapters declare themselves in ``pyproject.toml`` under the entry-point groups
``helloword.platforms`` and ``helloword.carriers``; a third-party package adds an adapter the
same way. ``capabilities`` tells which ports an adapter implements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from .errors import PermanentError
from .ports import CARRIER_PORTS, PLATFORM_PORTS, AdapterContext, Credentials

PLATFORM_GROUP = "helloword.platforms"
CARRIER_GROUP = "helloword.carriers"


@dataclass
class Registry:
    platforms: dict[str, type] = field(default_factory=dict)
    carriers: dict[str, type] = field(default_factory=dict)

    @classmethod
    def discover(cls) -> Registry:
        registry = cls()
        for group, target in (
            (PLATFORM_GROUP, registry.platforms),
            (CARRIER_GROUP, registry.carriers),
        ):
            for entry in entry_points(group=group):
                target[entry.name] = entry.load()
        return registry

    def platform_class(self, slug: str) -> type:
        try:
            return self.platforms[slug]
        except KeyError:
            known = ", ".join(sorted(self.platforms)) or "none"
            raise PermanentError(f"no platform adapter {slug!r} (known: {known})") from None

    def carrier_class(self, slug: str) -> type:
        try:
            return self.carriers[slug]
        except KeyError:
            known = ", ".join(sorted(self.carriers)) or "none"
            raise PermanentError(f"no carrier adapter {slug!r} (known: {known})") from None

    def platform(self, slug: str, credentials: Credentials, context: AdapterContext) -> Any:
        return self.platform_class(slug)(credentials, context)

    def carrier(self, slug: str, credentials: Credentials, context: AdapterContext) -> Any:
        return self.carrier_class(slug)(credentials, context)


def capabilities(adapter: object) -> list[str]:
    """Names of the ports the adapter (class or instance) implements."""
    ports = PLATFORM_PORTS + CARRIER_PORTS
    names = []
    for port in ports:
        if _implements(adapter, port):
            names.append(port.__name__)
    return names


def _implements(adapter: object, port: type) -> bool:
    if isinstance(adapter, type):
        members = [m for m in dir(port) if not m.startswith("_")]
        return all(hasattr(adapter, m) for m in members)
    return isinstance(adapter, port)
