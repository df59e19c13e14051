"""Diagnostic (``bench_journey.py --count-server OUT.json``): ``caas serve`` counting its round trips
to PostgreSQL by the tool being called, written to OUT.json when it stops. Over the whole run (warm-up
included): per tool, its requests and each statement by its first words. Requests that are not a tool
call are counted by their path: ``(/mcp)`` a session's start or tools/list, ``(/webhooks/...)`` the
gateway's webhooks; ``(no request)`` is what the server sends of its own (migrations at start-up).
A round trip is one ``execute`` or one extended-protocol execution; a statement asyncpg prepares
first costs one more, counted as ``prepare``. Under load each round trip of a tool waits its turn in
the event loop: this is where to look for them.

Each request's CPU (the process's, from the outermost ``bound`` of RequestIdMiddleware to its end) is
added to its tool's ``cpu_ms``: a figure of the tool alone at one agent (``--concurrency 1``); with
more, requests overlap and each is charged the others' CPU too."""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from asyncpg.connection import Connection

from mcp_servers.platform import request_context

__all__ = ["run_counted"]

_NO_REQUEST = "(no request)"
_path: ContextVar[str | None] = ContextVar("bench_request_path", default=None)


def run_counted(out: str, argv: list[str]) -> None:
    trips: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    cpu: dict[str, float] = collections.defaultdict(float)  # by request id
    tool_of: dict[str, str] = {}  # by request id: its tool, else its path
    extended, simple, prepare = Connection._execute, Connection.execute, Connection._get_statement
    bound, outermost = request_context.bound, request_context.RequestIdMiddleware.__call__

    async def with_path(self: Any, scope: Any, receive: Any, send: Any) -> None:
        token = _path.set(f"({scope.get('path')})")
        try:
            await outermost(self, scope, receive, send)
        finally:
            _path.reset(token)

    @contextmanager
    def timed_bound(request_id: str, **kw: Any) -> Iterator[Any]:
        if kw.get("tool") is not None:
            tool_of[request_id] = kw["tool"]
        else:
            tool_of.setdefault(request_id, _path.get() or _NO_REQUEST)
        start = time.process_time()
        try:
            with bound(request_id, **kw) as ctx:
                yield ctx
        finally:
            if not kw:  # the request's outermost binding, RequestIdMiddleware's
                cpu[request_id] += time.process_time() - start

    def trip(what: str) -> None:
        ctx = request_context.current()
        tool = _NO_REQUEST if ctx is None else ctx.tool or tool_of.get(ctx.request_id, _NO_REQUEST)
        trips[tool]["round trips"] += 1
        trips[tool][what] += 1

    async def _execute(self: Connection, query: str, *args: Any, **kw: Any) -> Any:
        trip("sql: " + " ".join(query.split())[:60])
        return await extended(self, query, *args, **kw)

    async def execute(self: Connection, query: str, *args: Any, **kw: Any) -> Any:
        if not args:  # with arguments it goes through _execute
            trip("sql: " + " ".join(query.split())[:60])
        return await simple(self, query, *args, **kw)

    async def get_statement(self: Connection, query: str, *args: Any, **kw: Any) -> Any:
        record_class = kw.get("record_class") or self._protocol.get_record_class()
        if self._stmt_cache.get((query, record_class, kw.get("ignore_custom_codec", False))) is None:
            trip("prepare")  # asyncpg prepares it first: one more round trip
        return await prepare(self, query, *args, **kw)

    Connection._execute, Connection.execute = _execute, execute  # type: ignore[method-assign]
    Connection._get_statement = get_statement  # type: ignore[method-assign]
    request_context.bound = timed_bound  # type: ignore[assignment]
    request_context.RequestIdMiddleware.__call__ = with_path  # type: ignore[method-assign]
    from mcp_servers.cli import main

    try:
        main(argv)
    finally:
        with open(out, "w") as f:
            json.dump(_report(trips, cpu, tool_of), f, indent=1)


def _report(
    trips: dict[str, collections.Counter[str]], cpu: dict[str, float], tool_of: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Per tool (or path): its requests, their CPU in ms, its round trips and each statement."""
    requests: collections.Counter[str] = collections.Counter()
    cpu_by_tool: dict[str, float] = collections.defaultdict(float)
    for request_id, seconds in cpu.items():
        requests[tool_of.get(request_id, _NO_REQUEST)] += 1
        cpu_by_tool[tool_of.get(request_id, _NO_REQUEST)] += seconds
    return {
        tool: {
            "requests": requests[tool],
            "cpu_ms": round(cpu_by_tool[tool] * 1000, 1),
            **dict(trips[tool].most_common()),
        }
        for tool in sorted(requests.keys() | trips.keys(), key=lambda t: -trips[t]["round trips"])
    }
