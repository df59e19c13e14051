"""One asyncpg pool per database per process, with codecs the repositories rely on."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

__all__ = ["POOLER_OPTIONS", "configure_connection", "create_pool"]


async def configure_connection(conn: asyncpg.Connection) -> None:
    # numeric already decodes to Decimal in asyncpg; json/jsonb need codecs to become Python data.
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda value: json.dumps(value, separators=(",", ":"), default=str),
            decoder=json.loads,
            schema="pg_catalog",
        )


async def _no_reset_query(conn: asyncpg.Connection) -> None:
    """On release: no reset query. asyncpg's default (releasing every advisory lock, ``CLOSE ALL``,
    ``UNLISTEN *``, ``RESET ALL``) is one more round trip on every call (issue 14: the server's CPU per
    call) to undo session state that no pooled connection holds here: settings change by ``SET LOCAL``
    only, advisory locks are transaction locks, cursors live in transactions, and LISTEN and the
    migrations' session lock have connections of their own (``database.platform.listen``,
    ``database.migrate``). An open transaction is still rolled back: asyncpg does that before calling
    this. Through a transaction pooler the reset would moreover run on whichever server connection
    PgBouncer lends, where ``RESET ALL`` reverts the timezone and application_name PgBouncer restores
    for this client."""


# Through PgBouncer in transaction mode a named prepared statement lives on one server connection while
# the next transaction may run on another ("prepared statement __asyncpg_stmt_1__ does not exist"):
# the statement cache is off and asyncpg prepares unnamed statements, which live one transaction.
POOLER_OPTIONS: dict[str, Any] = {"statement_cache_size": 0}


async def create_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    application_name: str = "caas",
    pooled: bool = False,
    **kwargs: Any,
) -> asyncpg.Pool:
    """A pool on ``dsn``; ``pooled``: the URL goes through a transaction pooler (Neon's -pooler host)."""
    # application_name says which process holds a connection (pg_stat_activity): caas, caas-<service>.
    kwargs = {"reset": _no_reset_query, **(POOLER_OPTIONS if pooled else {}), **kwargs}
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=configure_connection,
        command_timeout=30,
        server_settings={"application_name": application_name, "timezone": "UTC"},
        **kwargs,
    )
    assert pool is not None
    return pool
