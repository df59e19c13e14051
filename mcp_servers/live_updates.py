"""Live updates (the plan's WebSocket service): ``/live/ws`` (WebSocket) and ``/live/events`` (Server-Sent
Events, the fallback) push each change the signed-in principal may see, whichever process made it.

Every state change writes an outbox event in its own transaction, so the outbox is the one place that
sees every process's changes: each connection follows it from the moment it is answered
(``database.platform.outbox_feed``, read every ``CAAS_SUBSCRIPTION_POLL_SECONDS``) and each event is
re-checked against the caller's read access (``mcp_servers.live_access``) before it is sent.

Authentication is the bearer token of ``/mcp`` (same verifier). A browser cannot set headers on a
WebSocket or an EventSource, so the token may also come as ``?access_token=`` or, on the WebSocket only,
as the first message ``{"access_token": "..."}`` (which keeps it out of URLs and access logs). Refused:
SSE answers 401, the WebSocket closes with 1008 (policy violation). When the token expires the stream
ends (WebSocket close 1008): reconnect with a fresh one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import asyncpg
from fastmcp import FastMCP
from fastmcp.server.auth import AuthProvider
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from database.platform.outbox_feed import OutboxFeed
from mcp_servers.live_access import ENTITIES, live_message, may_see
from mcp_servers.platform.auth import PrincipalSource
from mcp_servers.runtime import Runtime
from tools.platform.principal import Principal

__all__ = ["POLICY_VIOLATION", "LiveUpdates"]

log = logging.getLogger("caas.live")

POLICY_VIOLATION = 1008
_FIRST_MESSAGE_S = 10.0
_MAX_TOKEN = 8192
_REFUSAL = (
    "a valid bearer token is required: send it as Authorization: Bearer <token>, as ?access_token=, "
    'or (WebSocket) as the first message {"access_token": "<token>"}'
)


@dataclass(slots=True)
class _Follower:
    """One connection's view of the outbox: the events since it was answered that its caller may see."""

    runtime: Runtime
    pool: asyncpg.Pool
    caller: Principal
    expires_at: float | None
    feed: OutboxFeed

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at

    async def messages(self) -> list[dict[str, Any]]:
        try:
            changes = await self.feed.read(self.pool)
        except Exception as exc:  # a database hiccup must not end the stream; the next read catches up
            log.warning("could not read the outbox for live updates: %s", type(exc).__name__)
            return []
        deps = self.runtime.deps
        return [live_message(c) for c in changes if await may_see(deps, self.caller, c)]


class LiveUpdates:
    """The two live routes on a server whose bearer tokens ``auth`` verifies."""

    def __init__(self, runtime: Runtime, auth: AuthProvider) -> None:
        self._runtime = runtime
        self._auth = auth

    def install(self, server: FastMCP) -> None:
        # FastMCP's custom_route makes HTTP routes only; a WebSocket route joins the same list.
        server._additional_http_routes.extend(
            [
                Route("/live/events", self.events, methods=["GET"]),
                WebSocketRoute("/live/ws", self.websocket),
            ]
        )

    async def _follow(self, token: str | None) -> _Follower | None:
        """A follower for the token's principal, its feed started; None for a token we do not accept."""
        pool = self._runtime.core_pool
        if not token or len(token) > _MAX_TOKEN or pool is None:
            return None
        try:
            access = await self._auth.verify_token(token)
        except Exception:  # a token is input: whatever it holds, the answer is a refusal
            access = None
        if access is None or not access.claims:
            return None
        caller = PrincipalSource.from_claims(access.claims)
        feed = OutboxFeed(ENTITIES)
        # From here on: a change committed once the client is answered is never before the feed.
        await feed.start(pool)
        return _Follower(self._runtime, pool, caller, access.expires_at, feed)

    async def events(self, request: Request) -> Response:
        follower = await self._follow(_token(request.headers, request.query_params))
        if follower is None:
            # RFC 6750's body, as /mcp answers (TokenHelp adds how to get a token).
            body = {"error": "invalid_token", "error_description": _REFUSAL}
            return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return EventSourceResponse(self._stream(follower), ping=15)

    async def _stream(self, follower: _Follower) -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(data=json.dumps({"type": "live.ready"}), event="live.ready")
        while not follower.expired:
            for message in await follower.messages():
                yield ServerSentEvent(data=json.dumps(message), event=message["type"])
            await anyio.sleep(self._runtime.settings.subscription_poll_seconds)

    async def websocket(self, ws: WebSocket) -> None:
        await ws.accept()
        token = _token(ws.headers, ws.query_params) or await _first_message_token(ws)
        follower = await self._follow(token)
        if follower is None:
            await ws.close(POLICY_VIOLATION, _REFUSAL[:120])
            return
        await ws.send_json({"type": "live.ready"})
        async with anyio.create_task_group() as group:

            async def until_gone() -> None:
                # Whatever the client sends after signing in is ignored; its leaving ends the push.
                while (await ws.receive())["type"] != "websocket.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(until_gone)
            await self._push(ws, follower)
            group.cancel_scope.cancel()

    async def _push(self, ws: WebSocket, follower: _Follower) -> None:
        try:
            while not follower.expired:
                for message in await follower.messages():
                    await ws.send_json(message)
                await anyio.sleep(self._runtime.settings.subscription_poll_seconds)
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
            body = json.loads(text) if text else None
        except ValueError:
            return None
        token = body.get("access_token") if isinstance(body, dict) else None
        return token if isinstance(token, str) else None
    return None
