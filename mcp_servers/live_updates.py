"""Live updates (the plan's WebSocket service): ``/live/ws`` (WebSocket) and ``/live/events`` (Server-Sent
Events, the fallback) push each change the signed-in principal may see, whichever process made it.

Every state change writes an outbox event in its own transaction, so the outbox is the one place that
sees every process's changes: each connection follows it from the moment it is answered
(one reader per process, ``mcp_servers.live_hub``, woken by each commit's NOTIFY) and each
event is re-checked against the caller's read access (``mcp_servers.live_access``) before it is sent.

Authentication is the bearer token of ``/mcp`` (same verifier). A browser cannot set headers on a
WebSocket or an EventSource, so the token may also come as ``?access_token=`` or, on the WebSocket only,
as the first message ``{"access_token": "..."}`` (which keeps it out of URLs and access logs). Refused:
SSE answers 401, the WebSocket closes with 1008 (policy violation). When the token expires the stream
ends (WebSocket close 1008): reconnect with a fresh one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping

import anyio
from fastmcp import FastMCP
from fastmcp.server.auth import AuthProvider
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState

from mcp_servers.live_hub import Listener, LiveHub
from mcp_servers.platform.auth import PrincipalSource
from mcp_servers.runtime import Runtime
from tools.platform.domain.bounded_json import parse_bounded
from tools.platform.principal import Principal

__all__ = ["POLICY_VIOLATION", "LiveUpdates"]

# Who a token signs in, and when it expires (epoch seconds; None: never).
_Follower = tuple[Principal, float | None]

log = logging.getLogger("caas.live")

POLICY_VIOLATION = 1008
_TRY_AGAIN_LATER = 1013
# How long a connection waits for a message before it looks at its token's expiry again.
_WAIT_S = 1.0
_FIRST_MESSAGE_S = 10.0
_MAX_TOKEN = 8192
_REFUSAL = (
    "a valid bearer token is required: send it as Authorization: Bearer <token>, as ?access_token=, "
    'or (WebSocket) as the first message {"access_token": "<token>"}'
)


class LiveUpdates:
    """The two live routes on a server whose bearer tokens ``auth`` verifies."""

    def __init__(self, runtime: Runtime, auth: AuthProvider) -> None:
        self._runtime = runtime
        self._auth = auth
        self._hub = LiveHub(runtime)

    def install(self, server: FastMCP) -> None:
        # FastMCP's custom_route makes HTTP routes only; a WebSocket route joins the same list.
        server._additional_http_routes.extend(
            [
                Route("/live/events", self.events, methods=["GET"]),
                WebSocketRoute("/live/ws", self.websocket),
            ]
        )

    async def _signed_in(self, token: str | None) -> _Follower | None:
        """Who the token signs in, until when; None for a token we do not accept."""
        if not token or len(token) > _MAX_TOKEN or self._runtime.core_pool is None:
            return None
        try:
            access = await self._auth.verify_token(token)
        except Exception:  # a token is input: whatever it holds, the answer is a refusal
            access = None
        if access is None or not access.claims:
            return None
        return PrincipalSource.from_claims(access.claims), access.expires_at

    async def _follow(self, token: str | None) -> Listener | None:
        """A listener for the token's principal; None for a token we do not accept."""
        follower = await self._signed_in(token)
        # From here on: a change committed once the client is answered reaches it.
        return None if follower is None else await self._hub.join(*follower)

    async def events(self, request: Request) -> Response:
        follower = await self._signed_in(_token(request.headers, request.query_params))
        if follower is None:
            # RFC 6750's body, as /mcp answers (TokenHelp adds how to get a token).
            body = {"error": "invalid_token", "error_description": _REFUSAL}
            return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if request.method == "HEAD":  # headers only: no stream, so nothing joins the hub
            return Response(media_type="text/event-stream", headers={"Cache-Control": "no-store"})
        return EventSourceResponse(self._stream(follower), ping=15)

    async def _stream(self, follower: _Follower) -> AsyncIterator[ServerSentEvent]:
        # Joined as the stream starts, not before the response: a response never streamed (a HEAD, a
        # client gone before its first byte) never runs this body, so it would never have left the hub.
        listener = await self._hub.join(*follower)
        try:
            yield ServerSentEvent(data=json.dumps({"type": "live.ready"}), event="live.ready")
            while not listener.ended:
                for message in await listener.next(_WAIT_S):
                    # Unnamed ("message") events: a browser's EventSource.onmessage sees every change
                    # without knowing each event type in advance; the type is in the data.
                    yield ServerSentEvent(data=json.dumps(message))
        finally:
            self._hub.leave(listener)

    async def websocket(self, ws: WebSocket) -> None:
        await ws.accept()
        token = _token(ws.headers, ws.query_params) or await _first_message_token(ws)
        if ws.client_state is WebSocketState.DISCONNECTED:  # left before signing in
            return
        follower = await self._follow(token)
        if follower is None:
            await ws.close(POLICY_VIOLATION, _REFUSAL[:120])
            return
        try:
            await self._serve(ws, follower)
        finally:
            self._hub.leave(follower)

    async def _serve(self, ws: WebSocket, listener: Listener) -> None:
        async with anyio.create_task_group() as group:

            async def until_gone() -> None:
                # Whatever the client sends after signing in is ignored; its leaving ends the push.
                while (await ws.receive())["type"] != "websocket.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(until_gone)
            await self._push(ws, listener)
            group.cancel_scope.cancel()

    async def _push(self, ws: WebSocket, listener: Listener) -> None:
        try:
            await ws.send_json({"type": "live.ready"})
            while not listener.ended:
                for message in await listener.next(_WAIT_S):
                    await ws.send_json(message)
            if listener.overflowed:
                await ws.close(_TRY_AGAIN_LATER, "fell too far behind; reconnect")
            else:
                await ws.close(POLICY_VIOLATION, "the token expired; reconnect with a fresh one")
        except Exception as exc:  # the client went away between two sends (its own exception per server)
            log.debug("live client gone: %s", type(exc).__name__)


def _token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return query.get("access_token") or None


async def _first_message_token(ws: WebSocket) -> str | None:
    with anyio.move_on_after(_FIRST_MESSAGE_S):
        message = await ws.receive()
        text = message.get("text") if message["type"] == "websocket.receive" else None
        try:
            # Bounded: 100,000 nested brackets were a RecursionError that dropped the socket unclosed.
            body = parse_bounded(text.encode()) if text else None
        except ValueError:
            return None
        token = body.get("access_token") if isinstance(body, dict) else None
        return token if isinstance(token, str) else None
    return None
