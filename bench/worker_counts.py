"""Diagnostic (``bench_journey.py --count-worker OUT.json``): ``caas worker`` counting what it sends to
PostgreSQL, written to OUT.json when it stops. Counts, over the whole run (warm-up and idle included):
the relay's looks (empty or not) and the events they published, the queues' claims (empty or not,
per queue) and the jobs they took, and every statement by its first words. Statements, not cProfile's
calls: cProfile counts a coroutine once per resumption, so an ``await`` inflates its figures."""

from __future__ import annotations

import collections
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from asyncpg.connection import Connection

from database.platform.jobs import PgJobStore
from tools.platform.domain.jobs import JobRoute

__all__ = ["run_counted"]


def run_counted(out: str, argv: list[str]) -> None:
    counts: collections.Counter[str] = collections.Counter()
    extended, simple = Connection._execute, Connection.execute
    relay, claim = PgJobStore.relay, PgJobStore.claim

    def statement(query: str) -> None:
        counts["statements"] += 1
        counts["sql: " + " ".join(query.split())[:60]] += 1

    async def _execute(self: Connection, query: str, *args: Any, **kw: Any) -> Any:
        statement(query)
        return await extended(self, query, *args, **kw)

    async def execute(self: Connection, query: str, *args: Any, **kw: Any) -> Any:
        if not args:  # with arguments it goes through _execute
            statement(query)
        return await simple(self, query, *args, **kw)

    async def counted_relay(
        self: PgJobStore, limit: int, route: Callable[[str, Mapping[str, Any]], list[JobRoute]]
    ) -> int:
        n = await relay(self, limit, route)
        counts["relay looks"] += 1
        counts["relay looks empty"] += n == 0
        counts["relay events"] += n
        return n

    @asynccontextmanager
    async def counted_claim(
        self: PgJobStore, queue: str, limit: int, now: datetime, lease: timedelta
    ) -> AsyncIterator[Any]:
        async with claim(self, queue, limit, now, lease) as batch:
            for key in ("claims", f"claims {queue}"):
                counts[key] += 1
                counts[f"{key} empty"] += not batch.jobs
            counts["claimed jobs"] += len(batch.jobs)
            yield batch

    Connection._execute, Connection.execute = _execute, execute  # type: ignore[method-assign]
    PgJobStore.relay, PgJobStore.claim = counted_relay, counted_claim  # type: ignore[method-assign,assignment]
    from mcp_servers.cli import main

    try:
        main(argv)
    finally:
        with open(out, "w") as f:
            json.dump(dict(counts.most_common()), f, indent=1)
