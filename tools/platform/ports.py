"""What service registration needs from the Onasis MCP server (the registry), as a port.

The registry is discovery, not a dependency: the use case (``tools.platform.registration``) treats every error
below as "try again later" and never lets one stop the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "RegisteredTool",
    "RegistryError",
    "RegistryRejected",
    "RegistryStatus",
    "RegistryTimeout",
    "RegistryUnavailable",
    "ServiceConfig",
    "ServiceNotRegistered",
    "ServiceRegistry",
]


@dataclass(frozen=True, slots=True)
class RegisteredTool:
    name: str
    description: str
    # MCP wire names (readOnlyHint, destructiveHint, ...), as a client's tools/list shows them.
    annotations: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The ``config`` of an activation (contract §3): how the registry reaches and describes us."""

    url: str
    health_url: str
    metrics_url: str
    version: str
    tools: tuple[RegisteredTool, ...]
    tags: tuple[str, ...] = ()
    transport: str = "streamable-http"


@dataclass(frozen=True, slots=True)
class RegistryStatus:
    service: str
    active: bool
    status: str
    activated_at: str | None = None
    health: Mapping[str, Any] = field(default_factory=dict)


class RegistryError(Exception):
    """Base of every registry failure. Texts name the operation and status, never a response body."""


class RegistryUnavailable(RegistryError):
    """Connection refused or reset, or a 5xx: the registry is down or restarting."""


class RegistryTimeout(RegistryUnavailable):
    """No answer within the client timeout."""


class RegistryRejected(RegistryError):
    """A 4xx other than an unknown service (bad path, bad credentials, invalid config)."""

    def __init__(self, message: str, *, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ServiceNotRegistered(RegistryError):
    """404 for a service name: the registry does not know us (it restarted and lost its state)."""


class ServiceRegistry(Protocol):
    """``POST {registry}/api/services/{name}/activate|heartbeat|deactivate``, ``GET .../status``."""

    async def activate(self, name: str, config: ServiceConfig) -> None: ...

    async def heartbeat(self, name: str) -> None: ...  # raises ServiceNotRegistered on 404

    async def deactivate(self, name: str) -> None: ...

    async def status(self, name: str) -> RegistryStatus: ...  # raises ServiceNotRegistered on 404
