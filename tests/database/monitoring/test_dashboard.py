"""The dashboard's reads stay off the whole book (issue 14, part 6): with sequential scans priced out,
each statement reaches the jobs it counts through an index whose conditions name them, so its cost
follows the queue's recent and unfinished work, not every job the queue ever ran."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from database.monitoring.dashboard import _PIPELINE, _SYNC


def scans_of(plan: dict[str, Any], table: str) -> list[dict[str, Any]]:
    found = [plan] if plan.get("Relation Name") == table else []
    for child in plan.get("Plans", []):
        found += scans_of(child, table)
    return found


async def test_sync_status_reads_jobs_only_through_indexes_that_select_them(
    core_db: asyncpg.Connection,
) -> None:
    async with core_db.transaction():
        # Priced out, not forbidden: a statement with no index for a condition still gets a Seq Scan
        # (or a Filter over a whole index), which is what this looks for.
        await core_db.execute("SET LOCAL enable_seqscan = off")
        raw = await core_db.fetchval(f"EXPLAIN (FORMAT JSON) {_SYNC}", datetime.now(UTC), "supabase_sync")
    # core_db decodes json as the product's connections do; a plain connection would hand back text.
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    scans = scans_of(plan, "jobs")
    assert len(scans) == 4, scans  # pending, failed, applied in the last hour, the latest applied
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan"), scan
        assert "Filter" not in scan, scan  # every row the index yields is one the statement wanted
    applied = [s for s in scans if "done_at >=" in s.get("Index Cond", s.get("Recheck Cond", ""))]
    assert len(applied) == 1, scans


async def test_pipeline_health_counts_from_the_kept_counts_and_reads_only_waiting_applications(
    core_db: asyncpg.Connection,
) -> None:
    async with core_db.transaction():
        await core_db.execute("SET LOCAL enable_seqscan = off")
        raw = await core_db.fetchval(
            f"EXPLAIN (FORMAT JSON) {_PIPELINE}",
            datetime.now(UTC),
            ["submitted"],
            [3600.0],
            None,
            20,
            ["submitted", "open_for_bids"],
        )
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    scans = scans_of(plan, "applications")
    # Counting the book per state was a scan of every application; now only the waiting states'
    # applications are read, through the state index.
    assert scans, plan
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan"), scan
        assert "status" in scan.get("Index Cond", scan.get("Recheck Cond", "")), scan
    assert scans_of(plan, "application_state_counts"), plan


async def test_the_application_role_reads_the_counts_but_cannot_write_them(
    core_db: asyncpg.Connection,
) -> None:
    tr = core_db.transaction()
    await tr.start()
    try:
        await core_db.execute("SET LOCAL ROLE caas_app")
        await core_db.fetch("SELECT * FROM caas_core.application_state_counts")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await core_db.execute(
                "INSERT INTO caas_core.application_state_counts VALUES ('submitted', 'NGN', 0, 1000)"
            )
    finally:
        await tr.rollback()
