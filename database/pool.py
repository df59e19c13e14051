"""One asyncpg pool per database per process, with codecs the repositories rely on."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

__all__ = ["configure_connection", "create_pool"]


async def configure_connection(conn: asyncpg.Connection) -> None:
    # numeric already decodes to Decimal in asyncpg; json/jsonb need codecs to become Python data.
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda value: json.dumps(value, separators=(",", ":"), default=str),
            decoder=json.loads,
            schema="pg_catalog",
        )


async def create_pool(
    dsn: str, *, min_size: int, max_size: int, application_name: str = "caas", **kwargs: Any
) -> asyncpg.Pool:
    # application_name says which process holds a connection (pg_stat_activity): caas, caas-<service>.
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
