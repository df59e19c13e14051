"""An in-memory Onasis MCP server registry (contract section 3), for the sandbox and tests.

``POST /api/services/{name}/activate`` (re-activating replaces the entry), ``/heartbeat``,
``/deactivate`` and ``GET /api/services/{name}/status``, which probes the service's ``health_url``
with a 5 s timeout as the real registry does. ``POST /sandbox/registry/down`` and ``/up`` make every
registry route answer 503, to test a service riding out a registry outage; ``GET
/sandbox/registry/services`` lists what is registered. ``build_registry_app`` serves it alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.platform.http import HttpClient
from adapters.sandbox.gateway import MAX_BODY
from tools.platform.domain.bounded_json import UnreadableJson, parse_bounded

__all__ = ["RegistryState", "build_registry_app", "registry_routes"]

PROBE_TIMEOUT_SECONDS = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class ServiceEntry:
    name: str
    config: dict[str, Any]
    active: bool = True
    activated_at: datetime = field(default_factory=_now)
    deactivated_at: datetime | None = None
    last_heartbeat: datetime | None = None
    heartbeats: int = 0
    activations: int = 1

    def public(self) -> dict[str, Any]:
        return {
            "service": self.name,
            "active": self.active,
            "status": "active" if self.active else "inactive",
            "activatedAt": self.activated_at.isoformat(),
            "deactivatedAt": self.deactivated_at.isoformat() if self.deactivated_at else None,
            "lastHeartbeat": self.last_heartbeat.isoformat() if self.last_heartbeat else None,
            "heartbeats": self.heartbeats,
            "activations": self.activations,
            "config": self.config,
        }


@dataclass(slots=True)
class RegistryState:
    services: dict[str, ServiceEntry] = field(default_factory=dict)
    down: bool = False  # the sandbox switch: every registry route answers 503


def _state(request: Request) -> RegistryState:
    state: RegistryState = request.app.state.registry
    return state


def _fail(status: int, code: str, message: str) -> Response:
    return JSONResponse({"success": False, "error": message, "code": code}, status_code=status)


def _unavailable(request: Request) -> Response | None:
    if _state(request).down:
        return _fail(503, "registry_unavailable", "the registry is down (sandbox switch)")
    return None


async def activate(request: Request) -> Response:
    if (down := _unavailable(request)) is not None:
        return down
    name = request.path_params["name"]
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _fail(413, "payload_too_large", f"the body is larger than {MAX_BODY} bytes")
    try:
        body = parse_bounded(raw or b"{}")
    except UnreadableJson as exc:
        return _fail(400, "invalid_request", str(exc))
    config = body.get("config") if isinstance(body, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("url"), str):
        return _fail(400, "invalid_request", "the body must be {'config': {'url': ..., ...}}")
    registry = _state(request)
    previous = registry.services.get(name)
    entry = ServiceEntry(name, config, activations=(previous.activations + 1) if previous else 1)
    registry.services[name] = entry
    return JSONResponse(
        {"success": True, "service": name, "status": "active", "activatedAt": entry.activated_at.isoformat()}
    )


async def heartbeat(request: Request) -> Response:
    if (down := _unavailable(request)) is not None:
        return down
    entry = _state(request).services.get(request.path_params["name"])
    if entry is None or not entry.active:
        # Tells the service to activate again (the registry restarted and forgot it).
        return _fail(404, "not_found", "this service is not active here; activate it")
    entry.last_heartbeat = _now()
    entry.heartbeats += 1
    return JSONResponse(
        {"success": True, "service": entry.name, "timestamp": entry.last_heartbeat.isoformat()}
    )


async def deactivate(request: Request) -> Response:
    if (down := _unavailable(request)) is not None:
        return down
    entry = _state(request).services.get(request.path_params["name"])
    if entry is None:
        return _fail(404, "not_found", "this service was never activated here")
    entry.active = False
    entry.deactivated_at = _now()
    return JSONResponse({"success": True, "service": entry.name, "status": "inactive"})


async def _probe(url: str | None) -> dict[str, Any]:
    stamp = _now().isoformat()
    if not url:
        return {"status": "unhealthy", "error": "no health_url", "timestamp": stamp}
    started = time.perf_counter()
    try:
        async with HttpClient(timeout=httpx.Timeout(PROBE_TIMEOUT_SECONDS)) as http:
            response = await http.get(url)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL ("http://[::1") is no HTTPError
        return {"status": "unhealthy", "error": type(exc).__name__, "timestamp": stamp}
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    if response.status_code != 200:
        return {"status": "unhealthy", "error": f"HTTP {response.status_code}", "timestamp": stamp}
    return {"status": "healthy", "responseTime": elapsed, "timestamp": stamp}


async def status(request: Request) -> Response:
    if (down := _unavailable(request)) is not None:
        return down
    entry = _state(request).services.get(request.path_params["name"])
    if entry is None:
        return _fail(404, "not_found", "this service was never activated here")
    health_url = entry.config.get("health_url")
    body = {
        "service": entry.name,
        "active": entry.active,
        "status": "active" if entry.active else "inactive",
        "activatedAt": entry.activated_at.isoformat(),
        "health": await _probe(health_url if isinstance(health_url, str) else None),
    }
    return JSONResponse(body)


async def switch(request: Request) -> Response:
    which = request.path_params["switch"]
    if which not in ("down", "up"):
        return _fail(404, "not_found", "use /sandbox/registry/down or /up")
    _state(request).down = which == "down"
    return JSONResponse({"success": True, "down": _state(request).down})


async def services(request: Request) -> Response:
    return JSONResponse([entry.public() for entry in _state(request).services.values()])


def registry_routes(services_path: str = "/api/services") -> list[Route]:
    base = "/" + services_path.strip("/")
    return [
        Route(f"{base}/{{name}}/activate", activate, methods=["POST"]),
        Route(f"{base}/{{name}}/heartbeat", heartbeat, methods=["POST"]),
        Route(f"{base}/{{name}}/deactivate", deactivate, methods=["POST"]),
        Route(f"{base}/{{name}}/status", status, methods=["GET"]),
        Route("/sandbox/registry/services", services, methods=["GET"]),
        Route("/sandbox/registry/{switch}", switch, methods=["POST"]),
    ]


async def _health(_: Request) -> Response:
    return JSONResponse({"status": "ok", "service": "onasis-registry-sandbox"})


def build_registry_app(state: RegistryState | None = None, services_path: str = "/api/services") -> Starlette:
    """The registry alone, as an ASGI app (``request.app.state.registry`` holds its state)."""
    app = Starlette(routes=[Route("/health", _health, methods=["GET"]), *registry_routes(services_path)])
    app.state.registry = state if state is not None else RegistryState()
    return app
