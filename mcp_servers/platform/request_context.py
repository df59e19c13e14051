"""Which request, caller and tool a log line, an audit row and an error message belong to.

One id per request: the caller's ``X-Request-ID`` when it is usable as it is, else a new one. Over HTTP
:class:`RequestIdMiddleware` settles it before anything else runs and writes it back into the request's
headers, because the MCP SDK runs a stateless tool call in a task of its own that does not inherit the
request's context; the tool call reads it from there. Over stdio and in-process each call gets a new one.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastmcp.exceptions import NotFoundError, ResourceError
from fastmcp.server.dependencies import get_http_headers, get_http_request
from fastmcp.server.middleware import CallNext, MiddlewareContext
from mcp_types import CallToolRequestParams, ReadResourceRequestParams
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_servers.platform.auth import PrincipalSource
from mcp_servers.platform.dispatch import DirectCallTool
from mcp_servers.platform.tracing import tool_span

__all__ = [
    "CallLog",
    "LogContext",
    "RequestIdMiddleware",
    "bound",
    "client_ip_of",
    "current",
    "current_client_ip",
    "current_request_id",
    "new_request_id",
    "request_headers",
    "request_id_of",
    "usable_request_id",
]

log = logging.getLogger("caas.calls")

_HEADER = b"x-request-id"
# Logged, stored in the audit row and quoted back in error messages: printable ASCII without spaces.
# The form of a reference (ASCII letters, digits, . _ : -): it is stored and logged as it is.
_USABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Where a ToolResult built by toolkit.ErrorMapping says which error it is.
_ERROR_CODE_META = "caas/error_code"


@dataclass(slots=True)
class LogContext:
    request_id: str
    tool: str | None = None
    subject: str | None = None


_context: ContextVar[LogContext | None] = ContextVar("caas_log_context", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def usable_request_id(value: str | None) -> str | None:
    """``value`` when it can be logged and stored as it is, else None (a new id is made instead)."""
    return value if value is not None and _USABLE.fullmatch(value) else None


def current() -> LogContext | None:
    return _context.get()


def current_request_id() -> str:
    """The id of the request being handled; a new one outside any (a worker, a direct call)."""
    ctx = _context.get()
    return ctx.request_id if ctx is not None else new_request_id()


@contextmanager
def bound(request_id: str, *, tool: str | None = None, subject: str | None = None) -> Iterator[LogContext]:
    """Log lines written inside carry this request id, tool and subject."""
    ctx = LogContext(request_id, tool, subject)
    token = _context.set(ctx)
    try:
        yield ctx
    finally:
        _context.reset(token)


class RequestIdMiddleware:
    """ASGI middleware: settles the request's id, puts it in the request headers the app sees and in
    the response's ``X-Request-ID``, and binds it for the log lines written while handling it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v for k, v in scope["headers"] if k == _HEADER), None)
        request_id = usable_request_id(sent.decode("latin-1") if sent is not None else None)
        request_id = request_id or new_request_id()
        encoded = request_id.encode("ascii")
        headers = [(k, v) for k, v in scope["headers"] if k != _HEADER]
        scope = {**scope, "headers": [*headers, (_HEADER, encoded)]}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER]
                message = {**message, "headers": [*kept, (_HEADER, encoded)]}
            await send(message)

        with bound(request_id):
            await self.app(scope, receive, send_with_id)


def request_id_of(headers: Mapping[str, str]) -> str:
    """The id of an HTTP request handled outside MCP (a webhook), for its audit row: the one
    :class:`RequestIdMiddleware` settled, or the caller's, or a new one when neither is usable."""
    return usable_request_id(headers.get("x-request-id")) or current_request_id()


def client_ip_of(request: HTTPConnection) -> str | None:
    """The caller's IP address for the audit row: the peer, or the X-Forwarded-For client a trusted
    proxy named (uvicorn applies ``CAAS_TRUSTED_PROXIES`` before we see the request); None if not an IP."""
    host = request.client.host if request.client is not None else None
    return _canonical_ip(host) if host else None


@functools.lru_cache(maxsize=1024)
def _canonical_ip(host: str) -> str | None:
    # Parsing an address costs more than the rest of a write tool's audit identity (7 us); the same
    # few callers (agents, a proxy) come back call after call.
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a forwarded value that is no address ("unknown", a name): nothing to store
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        # A link-local peer's zone ("fe80::1%eth0") names our interface, not the caller, and an inet
        # cannot hold it (the audit insert failed: a probe's find).
        return str(ipaddress.IPv6Address(host.split("%", 1)[0]))
    return str(address)


def current_client_ip() -> str | None:
    """The IP address of the HTTP caller of the tool being called; None over stdio and in-process."""
    try:
        return client_ip_of(get_http_request())
    except RuntimeError:
        return None


@functools.lru_cache(maxsize=64)
def _encoded(names: tuple[str, ...]) -> frozenset[bytes]:
    return frozenset(name.encode("latin-1") for name in names)


def request_headers(*names: str) -> dict[str, str]:
    """The headers ``names`` (lower case) of this call's HTTP request, as fastmcp's
    ``get_http_headers(include=names)`` gives them (the last of repeated ones), read from the request's
    raw headers: that builds, filters and checks a dict of every header on every call (twice the time)."""
    try:
        raw = get_http_request().scope["headers"]
    except RuntimeError:  # no request: stdio, in-process, a background task's saved headers
        return {k: v for k, v in get_http_headers(include=set(names)).items() if k in names}
    wanted, found = _encoded(names), {}
    for name, value in raw:
        if (lower := name.lower()) in wanted:
            found[lower.decode("latin-1")] = value.decode("latin-1")
    return found


def _http_headers() -> Mapping[str, str] | None:
    try:
        return get_http_request().headers
    except RuntimeError:  # stdio and in-process calls have no HTTP request
        return None


def _http_request_id() -> str | None:
    headers = _http_headers()
    return usable_request_id(headers.get("x-request-id")) if headers is not None else None


def _log_call(kind: str, name: str, started: float, outcome: str) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    log.info(
        "%s %s: %s in %.1f ms",
        kind,
        name,
        outcome,
        duration_ms,
        extra={"duration_ms": duration_ms, "outcome": outcome},
    )


class CallLog(DirectCallTool):
    """One log line per tool call and per resource read: request id, subject, tool, duration and
    outcome (``ok`` or the error code), never the arguments. Placed before ``ErrorMapping``, which
    turns a tool's failures into results that carry their code."""

    def __init__(self, principals: PrincipalSource) -> None:
        self.principals = principals

    async def on_call_tool(
        self,
        context: MiddlewareContext[CallToolRequestParams],
        call_next: CallNext[CallToolRequestParams, Any],
    ) -> Any:
        name = context.message.name
        caller = self.principals.current()
        request_id = _http_request_id() or new_request_id()
        with (
            bound(request_id, tool=name, subject=caller.subject),
            tool_span("tool", name, caller.role.value, request_id, _http_headers) as span,
        ):
            started = time.perf_counter()
            outcome = "internal"  # unless the call returns: anything else raised past ErrorMapping is a bug
            try:
                result = await call_next(context)
                outcome = str((getattr(result, "meta", None) or {}).get(_ERROR_CODE_META) or "ok")
                return result
            except NotFoundError:  # an unknown tool, which the SDK answers itself
                outcome = "not_found"
                raise
            finally:
                span.outcome(outcome)
                _log_call("tool", name, started, outcome)

    async def on_read_resource(
        self,
        context: MiddlewareContext[ReadResourceRequestParams],
        call_next: CallNext[ReadResourceRequestParams, Any],
    ) -> Any:
        uri = str(context.message.uri)
        caller = self.principals.current()
        request_id = _http_request_id() or new_request_id()
        with (
            bound(request_id, subject=caller.subject),
            tool_span("resource", uri, caller.role.value, request_id, _http_headers) as span,
        ):
            started = time.perf_counter()
            outcome = "internal"
            try:
                result = await call_next(context)
                outcome = "ok"
                return result
            except ResourceError as exc:
                # Our resources raise "<code>: <message>"; fastmcp's own errors have no code.
                code, sep, _ = str(exc).partition(": ")
                outcome = code if sep and code.isidentifier() else "internal"
                raise
            except NotFoundError:
                outcome = "not_found"
                raise
            finally:
                span.outcome(outcome)
                _log_call("resource", uri, started, outcome)
