"""bench/lock_waits.py (issue 14): a session waiting on another's row lock is counted as a lock wait,
by the lock and the statement that waits, and the sessions of other databases are left out."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bench.lock_waits import sample
from mcp_servers.runtime import Runtime


async def test_a_session_waiting_on_a_row_lock_is_counted_with_its_statement(
    runtime: Runtime, core_db: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runtime.targets is not None
    dsn = runtime.targets.direct_core
    name = await core_db.fetchval("SELECT current_database()")
    await core_db.execute("CREATE TABLE lock_waits_probe (id int PRIMARY KEY, n int NOT NULL)")
    await core_db.execute("INSERT INTO lock_waits_probe VALUES (1, 0)")
    holder, waiter = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        await holder.execute("BEGIN; UPDATE lock_waits_probe SET n = n + 1 WHERE id = 1")
        waiting = asyncio.create_task(waiter.execute("UPDATE lock_waits_probe SET n = n + 10 WHERE id = 1"))
        await asyncio.sleep(0.2)
        await sample(dsn, 0.3, 0.01, "no_such_database%")
        elsewhere = capsys.readouterr().out
        await sample(dsn, 0.3, 0.01, name, with_holders=True)
        here = capsys.readouterr().out
        await holder.execute("COMMIT")
        await waiting
    finally:
        await holder.close()
        await waiter.close()
    assert "Lock" not in elsewhere
    assert "Lock 1.00" in here and "Client" in here  # the holder waits on its client meanwhile
    assert "| 1.000 | transactionid | `UPDATE lock_waits_probe SET n = n + 10 WHERE id = 1` |" in here
    # Its holder: idle in transaction, waiting for its client, its last statement the first update.
    waiting = "UPDATE lock_waits_probe SET n = n + 10 WHERE id = 1"[:40]
    held = "`BEGIN; UPDATE lock_waits_probe SET n = n + 1 WHERE id = 1`"
    assert f"| 1.000 | `{waiting}` | idle in transaction | ClientRead | {held} |" in here
    assert await core_db.fetchval("SELECT n FROM lock_waits_probe WHERE id = 1") == 11
