"""Start-up: the embedded default, pools with codecs, and refusing a database that is not migrated."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from database.migrate import MigrationError
from mcp_servers.config import load_settings
from mcp_servers.runtime import Runtime


async def test_without_a_url_the_embedded_server_holds_both_migrated_databases() -> None:
    with tempfile.TemporaryDirectory(prefix="caas-embedded-") as data_dir:
        runtime = Runtime(load_settings(data_dir=Path(data_dir), database_url=None, supabase_db_url=None))
        async with runtime.session():
            assert runtime.targets is not None and runtime.targets.embedded is not None
            healthy, deps = await runtime.health()
            assert healthy, deps
            assert runtime.core_pool is not None and runtime.supabase_pool is not None
            schemas = {
                r["nspname"]
                for r in await runtime.core_pool.fetch(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'caas_%'"
                )
            }
            assert {"caas_core", "caas_analytics", "caas_audit", "caas_meta"} <= schemas
            assert await runtime.supabase_pool.fetchval(
                "SELECT to_regclass('public.application_status') IS NOT NULL"
            )
            admin = runtime.targets.embedded.admin_dsn
        # Stopping the last user of the embedded server stops the server too.
        with pytest.raises((OSError, asyncpg.PostgresError)):
            await asyncpg.connect(admin, timeout=2)


async def test_with_auto_migrate_off_an_unmigrated_database_stops_start_up(
    fresh_database: Any, tmp_path: Path
) -> None:
    core, supabase = await fresh_database(), await fresh_database()
    runtime = Runtime(
        load_settings(database_url=core, supabase_db_url=supabase, data_dir=tmp_path, auto_migrate=False)
    )
    with pytest.raises(MigrationError):
        async with runtime.session():
            pass  # pragma: no cover - start-up must fail before this
    assert not runtime.ready
