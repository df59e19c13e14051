"""A registry double over real HTTP (contract §3, in memory) and a helper to serve any ASGI app on
a chosen loopback port, so a test can stop a registry and bring one back at the same address."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Entry:
    config: dict[str, Any]
    active: bool = True
    activated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    heartbeats: int = 0


class RegistryDouble:
    """The registry's routes; ``calls`` records (method action, name, headers) of every request."""

    def __init__(self, prefix: str = "/api/services") -> None:
        self.prefix = prefix
        self.services: dict[str, Entry] = {}
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.activations: dict[str, int] = {}
        # Answer every call with this status instead (503: broken registry; 400: refusal).
        self.fail_with: int | None = None

    def forget(self) -> None:
        """What a restart of the real registry does: every registration is gone."""
        self.services.clear()

    def actions(self, name: str) -> list[str]:
        return [action for action, n, _ in self.calls if n == name]

    def app(self) -> Starlette:
        p = self.prefix
        return Starlette(
            routes=[
                Route(p + "/{name}/activate", self._activate, methods=["POST"]),
                Route(p + "/{name}/heartbeat", self._heartbeat, methods=["POST"]),
                Route(p + "/{name}/deactivate", self._deactivate, methods=["POST"]),
                Route(p + "/{name}/status", self._status, methods=["GET"]),
            ]
        )

    def _record(self, request: Request, action: str) -> str:
        name = str(request.path_params["name"])
        self.calls.append((action, name, dict(request.headers)))
        return name

    def _refusal(self) -> Response | None:
        if self.fail_with is None:
            return None
        return JSONResponse(
            {"success": False, "code": "broken" if self.fail_with >= 500 else "invalid", "error": "x"},
            status_code=self.fail_with,
        )

    @staticmethod
    def _unknown(name: str) -> Response:
        return JSONResponse(
            {"success": False, "code": "not_found", "error": f"no service {name}"}, status_code=404
        )

    async def _activate(self, request: Request) -> Response:
        name = self._record(request, "activate")
        if (refused := self._refusal()) is not None:
            return refused
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("config"), dict):
            return JSONResponse({"success": False, "code": "invalid_config"}, status_code=400)
        self.services[name] = Entry(config=body["config"])
        self.activations[name] = self.activations.get(name, 0) + 1
        return JSONResponse({"success": True, "service": name, "status": "active"})

    async def _heartbeat(self, request: Request) -> Response:
        name = self._record(request, "heartbeat")
        if (refused := self._refusal()) is not None:
            return refused
        entry = self.services.get(name)
        if entry is None or not entry.active:
            return self._unknown(name)
        entry.heartbeats += 1
        return JSONResponse({"success": True})

    async def _deactivate(self, request: Request) -> Response:
        name = self._record(request, "deactivate")
        if (refused := self._refusal()) is not None:
            return refused
        entry = self.services.get(name)
        if entry is None:
            return self._unknown(name)
        entry.active = False
        return JSONResponse({"success": True, "service": name, "status": "inactive"})

    async def _status(self, request: Request) -> Response:
        name = self._record(request, "status")
        if (refused := self._refusal()) is not None:
            return refused
        entry = self.services.get(name)
        if entry is None:
            return self._unknown(name)
        return JSONResponse(
            {
                "service": name,
                "active": entry.active,
                "status": "active" if entry.active else "inactive",
                "activatedAt": entry.activated_at,
                "health": {"status": "healthy", "responseTime": 1, "timestamp": entry.activated_at},
            }
        )


async def eventually(check: Callable[[], Awaitable[bool] | bool], *, within: float = 30.0) -> None:
    """Poll ``check`` until it holds; the deadline is generous, it only stops a hung test."""
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.02)
