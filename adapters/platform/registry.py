"""The Onasis MCP server's service registry over HTTP (contract §3), implementing
``tools.platform.ports.ServiceRegistry``.

``POST {registry}{services_path}/{name}/activate`` with ``{"config": {...}}``, ``.../heartbeat``,
``.../deactivate`` and ``GET .../status``; ``services_path`` defaults to ``/api/services``. Every call
has a timeout and an ``X-Request-ID``; a key, when configured, goes as ``Authorization: Bearer``.
Response bodies are never copied into errors or logs, only the status and the registry's error code.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx

from adapters.platform.http import HttpClient
from tools.platform.ports import (
    RegistryError,
    RegistryRejected,
    RegistryStatus,
    RegistryTimeout,
    RegistryUnavailable,
    ServiceConfig,
    ServiceNotRegistered,
)

__all__ = ["DEFAULT_SERVICES_PATH", "HttpServiceRegistry", "config_body"]

DEFAULT_SERVICES_PATH = "/api/services"


def config_body(config: ServiceConfig) -> dict[str, Any]:
    """The activation body of contract §3."""
    return {
        "config": {
            "url": config.url,
            "transport": config.transport,
            "health_url": config.health_url,
            "metrics_url": config.metrics_url,
            "version": config.version,
            "tools": [
                {"name": t.name, "description": t.description, "annotations": dict(t.annotations)}
                for t in config.tools
            ],
            "tags": list(config.tags),
        }
    }


class HttpServiceRegistry:
    def __init__(
        self,
        base_url: str,
        *,
        services_path: str = DEFAULT_SERVICES_PATH,
        api_key: str | None = None,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._path = "/" + services_path.strip("/") if services_path.strip("/") else ""
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = HttpClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            headers=headers,
            follow_redirects=False,
            transport=transport,
        )

    def url(self, name: str, action: str) -> str:
        return f"{self.base_url}{self._path}/{quote(name, safe='')}/{action}"

    async def activate(self, name: str, config: ServiceConfig) -> None:
        # A 404 here means a wrong path, not an unknown service: activation creates the entry.
        await self._call("POST", name, "activate", json=config_body(config), unknown_is_404=False)

    async def heartbeat(self, name: str) -> None:
        await self._call("POST", name, "heartbeat")

    async def deactivate(self, name: str) -> None:
        await self._call("POST", name, "deactivate")

    async def status(self, name: str) -> RegistryStatus:
        body = await self._call("GET", name, "status")
        if not isinstance(body, dict):
            raise RegistryError(f"registry status of {name}: the answer is not a JSON object")
        health = body.get("health")
        activated_at = body.get("activatedAt")
        return RegistryStatus(
            service=str(body.get("service") or name),
            active=bool(body.get("active")),
            status=str(body.get("status") or ("active" if body.get("active") else "inactive")),
            activated_at=str(activated_at) if activated_at is not None else None,
            health=health if isinstance(health, dict) else {},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self, method: str, name: str, action: str, *, json: Any = None, unknown_is_404: bool = True
    ) -> Any:
        what = f"registry {action} of {name}"
        try:
            response = await self._client.request(
                method, self.url(name, action), json=json, headers={"X-Request-ID": str(uuid.uuid4())}
            )
        except httpx.TimeoutException:
            raise RegistryTimeout(f"{what}: no answer in time") from None
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(f"{what}: {type(exc).__name__}") from None
        status = response.status_code
        if status >= 500:
            raise RegistryUnavailable(f"{what}: HTTP {status}")
        if status == 404 and unknown_is_404:
            raise ServiceNotRegistered(f"{what}: the registry does not know the service")
        if status >= 400:
            code = _error_code(response)
            raise RegistryRejected(f"{what}: HTTP {status} {code or ''}".rstrip(), status=status, code=code)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None  # activate/heartbeat/deactivate need no body; status checks for a dict


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return str(code)[:64] if code is not None else None
