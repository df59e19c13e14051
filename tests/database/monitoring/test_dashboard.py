"""The dashboard's reads stay off the whole book (issue 14, part 6): with sequential scans priced out,
each statement reaches the jobs it counts through an index whose conditions name them, so its cost
follows the queue's recent and unfinished work, not every job the queue ever ran."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from database.monitoring.dashboard import _SYNC


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
