"""The HTTP application around the MCP server: DNS-rebinding protection (Host and Origin) on every route,
and the gate that drains calls in flight on shutdown."""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlsplit

import uvicorn
from fastmcp import FastMCP
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_servers.config import Settings
from mcp_servers.fronts import FrontRoutes
from mcp_servers.platform.request_context import RequestIdMiddleware
from mcp_servers.platform.tracing import TraceContextMiddleware
from mcp_servers.platform.ws_guard import WebSocketHostOriginGuard
from mcp_servers.platform.ws_protocol import WebSocketProtocol
from mcp_servers.subscriptions import withdraw_subscriptions
from mcp_servers.toolsets import Selection, ToolsetHeaders, parse_toolsets

__all__ = ["KEEP_ALIVE_S", "ShutdownGate", "allowed_hosts", "http_app", "server_config"]

_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - compared against, never bound
# An idle connection is closed by its client first: nginx keeps upstream connections 60 s and httpx 5 s
# (uvicorn's own default). When the server closes first, a request sent on the connection at that instant
# gets no answer: a 502 through nginx, a ReadError direct.
KEEP_ALIVE_S = 75


def server_config(app: ASGIApp, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """How ``caas serve`` runs ``app`` under uvicorn."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # The client's address in the audit row: X-Forwarded-For/-Proto only from a trusted proxy.
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        # The gate has drained the calls in flight already (or the grace period is over).
        timeout_graceful_shutdown=2,
        timeout_keep_alive=KEEP_ALIVE_S,
        log_config=None,  # uvicorn's lines go through our handler (mcp_servers.platform.logs)
        ws=WebSocketProtocol,  # a handshake it cannot read gets a 400 (mcp_servers.platform.ws_protocol)
    )


def allowed_hosts(settings: Settings, bind_host: str) -> list[str]:
    """Host names a request may name besides loopback: the bind address (for a wildcard bind, this
    machine's name, which the registry is told), CAAS_PUBLIC_URL's host and CAAS_ALLOWED_HOSTS.
    FastMCP's guard also accepts the address a connection actually arrived on."""
    hosts = list(settings.allowed_host_list)
    hosts.append(socket.gethostname() if bind_host in _WILDCARD_HOSTS else bind_host.strip("[]"))
    if settings.public_url is not None:
        public = urlsplit(settings.public_url.replace("{service}", "caas")).hostname
        if public:
            hosts.append(public)
    return hosts


def http_app(
    server: FastMCP,
    settings: Settings,
    bind_host: str,
    gate: ShutdownGate,
    *,
    front: str | None = None,
    process: int | None = None,
) -> ASGIApp:
    """Streamable HTTP at ``/mcp`` plus the server's own routes, all behind the Host/Origin guard
    (421 for a Host not allowed, 403 for a foreign Origin; the MCP transport specification asks
    servers to validate Origin), inside the shutdown gate (outermost, so that while draining every
    new request is a 503, authenticated or not). ``front`` keeps a ``caas serve --front`` process to its
    routes (mcp_servers.fronts), inside the guard. ``process``: this child's index under ``caas serve
    --processes``, answered as ``X-CaaS-Process`` on every response (which process served it)."""
    if not settings.http_sessions:
        # Without a session a subscription has nowhere to send its notifications: do not offer it.
        withdraw_subscriptions(server)
    hosts = allowed_hosts(settings, bind_host)
    app = server.http_app(
        path="/mcp",
        stateless_http=not settings.http_sessions,
        host_origin_protection=True,
        allowed_hosts=hosts,
        allowed_origins=settings.allowed_origin_list,
        middleware=[
            Middleware(
                WebSocketHostOriginGuard, allowed_hosts=hosts, allowed_origins=settings.allowed_origin_list
            ),
            # The caller's traceparent first, so every line and span of the request joins its trace.
            Middleware(TraceContextMiddleware),
            Middleware(RequestIdMiddleware),
            # A malformed X-CaaS-Toolsets / X-CaaS-Read-Only is a 400 naming the valid toolsets.
            Middleware(ToolsetHeaders, selection=Selection(parse_toolsets(settings.toolsets))),
            *([Middleware(FrontRoutes, front=front)] if front else []),
        ],
    )
    return _Gated(app, gate, process)


_STREAMS = "/live/"


class ShutdownGate:
    """Counts HTTP requests in flight; once draining, new requests are answered 503."""

    def __init__(self) -> None:
        self.inflight = 0
        self.draining = False


_REFUSED = json.dumps(
    {"error": {"code": "unavailable", "message": "the server is shutting down; retry on another instance"}}
).encode()


class _Gated:
    def __init__(self, app: ASGIApp, gate: ShutdownGate, process: int | None = None) -> None:
        self.app = app
        self.gate = gate
        self.header = None if process is None else (b"x-caas-process", str(process).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.gate.draining:
            await _unavailable(send)
            return
        if scope["path"].startswith(_STREAMS):
            # A live stream is not a call in flight: it lasts until the client leaves, so counting it
            # would hold every shutdown for the whole grace period. uvicorn ends it; the client reconnects.
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if self.header is not None:
                    message = {**message, "headers": [*message.get("headers", ()), self.header]}
            await send(message)

        self.gate.inflight += 1
        try:
            await self.app(scope, receive, watched)
        except asyncio.CancelledError:
            # Cut off when the grace period ran out: a 503 (try elsewhere), not uvicorn's 500.
            if not started:
                await _unavailable(send)
            raise
        finally:
            self.gate.inflight -= 1


async def _unavailable(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _REFUSED})
