"""The bound on a caller's waiting money moves reads only the unexpired ones (migration 0032): an agent
that left thousands unconfirmed over the months pays nothing for them when it asks again."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from database.platform.pending_actions import _WAITING


def index_scans(node: dict[str, Any]) -> list[tuple[str, str]]:
    """Each read of a table in the plan: the index it goes through and its condition, or a Seq Scan.
    A bitmap heap scan reads the table through its bitmap index scan (the node that names the index),
    which the planner picks over an index scan as the table's statistics change."""
    if "Index Name" in node:
        own = [(node["Index Name"], node.get("Index Cond", ""))]
    elif node["Node Type"] == "Seq Scan":
        own = [("Seq Scan", "")]
    else:
        own = []
    return own + [s for child in node.get("Plans", []) for s in index_scans(child)]


async def test_the_waiting_count_reads_only_the_unexpired_actions(core_db: asyncpg.Connection) -> None:
    subject, now = f"agent-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    # A long history of moves left to expire, and a few still waiting.
    await core_db.execute(
        """
        INSERT INTO caas_core.pending_actions (id, tool, arguments, args_sha256, summary, requester_subject,
            requester_role, status, created_at, expires_at)
        SELECT gen_random_uuid(), 'payments.disburse_loan', '{}'::jsonb, md5(n::text), 'a move', $1, 'agent',
            'pending', $2::timestamptz - n * interval '1 hour',
            $2::timestamptz - n * interval '1 hour' + interval '15 minutes'
        FROM generate_series(-2, 3000) AS n
        """,
        subject,
        now,
    )
    await core_db.execute("ANALYZE caas_core.pending_actions")
    assert await core_db.fetchval(_WAITING, subject, "agent", now) == 3
    raw = await core_db.fetchval(f"EXPLAIN (FORMAT JSON) {_WAITING}", subject, "agent", now)
    plan = json.loads(raw) if isinstance(raw, str) else raw  # the runtime's pools decode json
    [(index, condition)] = index_scans(plan[0]["Plan"])
    assert index == "pending_actions_waiting" and "expires_at" in condition, (index, condition)
