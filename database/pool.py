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


async def _keep_session(conn: asyncpg.Connection) -> None:
    """On release: no reset query. asyncpg's default (``RESET ALL``, ``UNLISTEN *``, ``CLOSE ALL``,
    releasing every advisory lock) is one more round trip on every release, for state nothing here
    leaves on a pooled connection: the pooler's rules hold for every pool (``SET LOCAL``, transaction
    locks; LISTEN and session locks on connections of their own), so one code path is right both ways.
    Through a transaction pooler it would also run on whichever server connection PgBouncer lends, and
    ``RESET ALL`` there reverts the timezone and application_name PgBouncer restores for this client.
    Open transactions are still rolled back (asyncpg does that before calling this)."""


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
    kwargs = {"reset": _keep_session, **(POOLER_OPTIONS if pooled else {}), **kwargs}
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
