"""Backup and recovery (issue 12, part 8): ``caas db backup`` of both databases after a journey, and
``caas db restore`` into new databases, on which a new runtime starts with its migrations clean, a
consistent ledger, the audit log as it was, and the work that was waiting (an outbox event, a payout
to send) still waiting, then done. A restore under other personal-data keys is refused."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastmcp import Client
from pydantic import SecretStr

from database import migrate
from mcp_servers.composition import build_server
from mcp_servers.config import Settings
from mcp_servers.runtime import Runtime
from tests.helpers.common import caas_command, caas_env
from tests.helpers.loans import RECONCILE, call
from tests.helpers.payments import GET_PAYMENT, disburse, pending_loan
from tools.platform.principal import Principal, Role

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

AUDIT = "SELECT * FROM caas_audit.audit_log ORDER BY 1"
WAITING = (
    "SELECT (SELECT count(*) FROM caas_core.outbox WHERE published_at IS NULL),"
    " (SELECT count(*) FROM caas_core.jobs WHERE done_at IS NULL AND failed_at IS NULL)"
)


def caas_db(
    *args: str | Path, core: str, supabase: str, cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*caas_command(), "db", *map(str, args)],
        env=caas_env(NEON_DATABASE_URL=core, SUPABASE_DB_URL=supabase, CAAS_DATA_DIR=str(cwd), **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def fetch(dsn: str, query: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(row) for row in await conn.fetch(query)]
    finally:
        await conn.close()


async def runs_on(settings: Settings, new_core: str, new_supabase: str, payment: dict[str, Any]) -> None:
    """A runtime on the restored databases: migrations clean, ledger consistent, the payout still
    waiting and then sent by the workers."""
    moved = settings.model_copy(
        # Restored databases, reached directly (the pooled run's PgBouncer URL named the old one).
        update={
            "database_url": SecretStr(new_core),
            "direct_url": None,
            "database_pooled": None,
            "supabase_db_url": SecretStr(new_supabase),
        }
    )
    restarted = Runtime(moved)
    async with restarted.session():
        for dsn, target in ((new_core, "core"), (new_supabase, "supabase")):
            conn = await asyncpg.connect(dsn)
            try:
                assert {s.state for s in await migrate.status(conn, target)} == {"applied"}  # type: ignore[arg-type]
            finally:
                await conn.close()
        restarted.principals.local = Principal(f"admin-{uuid.uuid4().hex[:6]}", Role.ADMIN)
        async with Client(build_server(restarted)) as admin:
            assert (await call(admin, RECONCILE, {}))["consistent"] is True
            assert (await call(admin, GET_PAYMENT, {"payment": payment["id"]}))["status"] == "requested"
            # Until idle: the restored backlog is the whole test session's, and each notification the
            # queue stores writes an event of its own (notification.created) for the relay to publish.
            while await restarted.workers.drain():
                pass
            assert (await call(admin, GET_PAYMENT, {"payment": payment["id"]}))["status"] == "sent"


async def test_a_backup_restored_into_new_databases_runs_on_where_it_stopped(
    settings: Settings,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    fresh_database: Any,
    tmp_path: Path,
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan)  # its payout waits for the payments worker
    assert settings.database_url is not None and settings.supabase_db_url is not None
    direct = settings.direct_database_url
    assert direct is not None
    core, supabase = direct.get_secret_value(), settings.supabase_db_url.get_secret_value()
    audit = await fetch(core, AUDIT)
    [(outbox_waiting, _)] = await fetch(core, WAITING)
    assert outbox_waiting > 0

    done = caas_db("backup", "--out", tmp_path / "backup", core=core, supabase=supabase, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert set(manifest["databases"]) == {"core", "supabase"}
    assert manifest["databases"]["core"]["migrations"] == [m.name for m in migrate.load("core")]
    assert "unreadable" in manifest["reminder"] and "unreadable" in done.stdout
    assert set(manifest["pii"]["fingerprints"]) == {"test-k1", "@index"}

    new_core, new_supabase = await fresh_database(), await fresh_database()
    other_keys = {
        "CAAS_PII_KEYS": "other:" + base64.b64encode(b"o" * 32).decode(),
        "CAAS_PII_ACTIVE_KEY_ID": "other",
    }
    refused = caas_db(
        "restore",
        "--from",
        tmp_path / "backup",
        core=new_core,
        supabase=new_supabase,
        cwd=tmp_path,
        **other_keys,
    )
    assert refused.returncode == 2 and "'test-k1'" in refused.stderr, refused.stderr
    restored = caas_db(
        "restore", "--from", tmp_path / "backup", core=new_core, supabase=new_supabase, cwd=tmp_path
    )
    assert restored.returncode == 0, restored.stderr
    assert "encrypted values decrypted with the configured keys" in restored.stdout
    again = caas_db(
        "restore", "--from", tmp_path / "backup", core=new_core, supabase=new_supabase, cwd=tmp_path
    )
    assert again.returncode == 2 and "--clean" in again.stderr  # never over a database in use by accident

    assert await fetch(new_core, AUDIT) == audit
    assert await fetch(new_core, WAITING) == await fetch(core, WAITING)
    await runs_on(settings, new_core, new_supabase, payment)
    [(outbox_left, _)] = await fetch(new_core, WAITING)
    assert outbox_left == 0
    # The restored audit log is the old one plus what the new runtime did, never less.
    assert (await fetch(new_core, AUDIT))[: len(audit)] == audit
