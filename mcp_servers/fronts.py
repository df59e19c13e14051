"""The people's side on the plan's ports: ``caas serve --front provider`` (the provider dashboard, 3009),
``--front admin`` (the operator console run alone, 3015) and ``--front live`` (the WebSocket service,
3010).

A front is a process of the composed server, not a server of its own: the same tools at ``/mcp``, the
same tokens and role gate, the same live routes; a page it serves calls ``/mcp`` and ``/live/`` on its
own origin. What a front changes is what it answers and what it carries: no background workers, no
sandbox, a small pool, no registration (the registry lists MCP servers; the composed server is listed).

- ``provider`` and ``admin``: ``/`` leads to the front's page, the other pages are not served (each has
  its own process or the composed server); ``/mcp``, ``/live/``, the probes and metrics are served.
- ``live``: ``/live/ws`` and ``/live/events``, the probes and metrics; anything else is a 404 naming
  where it is. Streams are long-lived and many: a process of their own keeps them apart from tool calls,
  and refusing the rest keeps this process to the one job nginx sends it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["FRONTS", "FRONT_PORTS", "Front", "FrontRoutes", "front_refusal"]


@dataclass(frozen=True, slots=True)
class Front:
    port: int
    # The page ``/`` leads to; None: no page (the live service).
    home: str | None


# The plan's ports for the people's side (beside PLAN_PORTS, the MCP servers'): the provider dashboard
# 3009, the WebSocket service 3010. The plan names no port for the operator console run alone: 3015,
# next to the CaaS servers' own.
FRONTS = {
    "provider": Front(3009, "/provider/"),
    "live": Front(3010, None),
    "admin": Front(3015, "/admin/"),
}
FRONT_PORTS = {name: front.port for name, front in FRONTS.items()}

_PAGES = ("/app/", "/admin/", "/provider/")
_PROBES = ("/health", "/ready", "/metrics")


def front_refusal(front: str | None, *, service: str | None, stdio: bool, workers: bool | None) -> str | None:
    """Why ``caas serve --front`` cannot run with the other flags given (None: it can)."""
    if front is None:
        return None
    if service is not None:
        return "--front and --service exclude each other: a front is a process of the composed server"
    if stdio:
        return "--front serves HTTP (pages and live updates); it has no stdio form"
    if workers:
        return "a front runs no background workers: run them in `caas worker` or the composed server"
    return None


class FrontRoutes:
    """ASGI middleware (inside the Host/Origin guard) that keeps a front to its routes."""

    def __init__(self, app: ASGIApp, front: str) -> None:
        self.app = app
        self.front = front
        self.home = FRONTS[front].home

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self.home is None:
            if path.startswith("/live/") or path in _PROBES:
                await self.app(scope, receive, send)
            else:
                await self._not_here(scope, receive, send)
            return
        if path == "/" and scope["type"] == "http":
            await _send(send, 307, b"", [(b"location", self.home.encode())])
            return
        if _is_page(path) and not path.startswith(self.home.rstrip("/")):
            await self._not_here(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _not_here(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect; closing before accepting answers 403
            await send({"type": "websocket.close", "code": 1008})
            return
        where = "the live updates only (/live/ws, /live/events)" if self.home is None else self.home
        message = (
            f"this process (caas serve --front {self.front}) serves {where}; "
            "the rest is on the composed server"
        )
        body = json.dumps({"error": {"code": "not_found", "message": message}}).encode()
        await _send(send, 404, body, [(b"content-type", b"application/json")])


def _is_page(path: str) -> bool:
    return any(path == page.rstrip("/") or path.startswith(page) for page in _PAGES)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
