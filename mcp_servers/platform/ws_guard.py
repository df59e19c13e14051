"""The Host/Origin guard for WebSocket handshakes (``/live/ws``).

FastMCP's ``HostOriginGuardMiddleware`` looks at HTTP requests only, and a WebSocket handshake reaches
the app as a ``websocket`` scope, so a page on any origin, or a rebound host name, could open
``/live/ws`` (a probe's find: 101 where ``/health`` answers 421 and 403). The handshake is an HTTP
request all the same: the same guard, with the same settings, judges it as one, and a refused one is
closed before it is accepted, which the server answers 403.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastmcp.server.http import HostOriginGuardMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["WebSocketHostOriginGuard"]

_PASSED = "caas.host_origin_passed"


async def _passed(scope: Scope, receive: Receive, send: Send) -> None:
    scope[_PASSED] = True


async def _discard(message: Message) -> None:
    """The guard's refusal as an HTTP response: a handshake is refused by closing it instead."""


class WebSocketHostOriginGuard:
    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str], allowed_origins: Sequence[str]) -> None:
        self.app = app
        self._guard = HostOriginGuardMiddleware(
            _passed, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins, mode="strict"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        # As the HTTP request it is: a browser's Origin for a ws:// page is http://, for wss:// https://.
        handshake = {**scope, "type": "http", "method": "GET"}
        handshake["scheme"] = "https" if scope.get("scheme") == "wss" else "http"
        await self._guard(handshake, receive, _discard)
        if handshake.get(_PASSED):
            await self.app(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": "Host or Origin not allowed"})
