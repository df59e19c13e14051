"""The table of MCP servers and their tool sets, imported on demand.

A process serving one service imports that service's tool modules and no other: each entry names its
tool sets by module path (``"mcp_servers.risk.assessments"`` means that module's ``TOOLS``, or
``"module:ATTRIBUTE"``), and a module is imported the first time its service is looked up. Iterating
the keys imports nothing; ``items()`` and ``values()`` import every service (the composed server, the
catalogue). An entry may also hold ``ToolSet`` objects themselves.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_servers.toolkit import ToolSet

__all__ = ["ServiceTable"]


class ServiceTable(Mapping[str, "tuple[ToolSet, ...]"]):
    """``service -> tuple[ToolSet, ...]`` in listing order, each service's modules imported lazily."""

    def __init__(self, table: Mapping[str, Sequence[str | ToolSet]]) -> None:
        self._table = {service: tuple(entries) for service, entries in table.items()}
        self._loaded: dict[str, tuple[ToolSet, ...]] = {}

    def __getitem__(self, service: str) -> tuple[ToolSet, ...]:
        if service not in self._loaded:
            self._loaded[service] = tuple(_resolve(entry) for entry in self._table[service])
        return self._loaded[service]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, service: object) -> bool:
        return service in self._table

    def modules(self, service: str) -> tuple[str, ...]:
        """The module paths ``service``'s tool sets come from (without importing them)."""
        return tuple(entry.partition(":")[0] for entry in self._table[service] if isinstance(entry, str))


def _resolve(entry: str | ToolSet) -> ToolSet:
    if not isinstance(entry, str):
        return entry
    module, _, attribute = entry.partition(":")
    toolset: ToolSet = getattr(importlib.import_module(module), attribute or "TOOLS")
    return toolset
