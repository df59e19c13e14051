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


async def test_the_moves_audit_row_marks_its_confirmed_action_ran_in_the_moves_transaction(
    core_db: asyncpg.Connection,
) -> None:
    """Migration 0049: only a succeeded audit row of the same tool, arguments and caller that commits
    marks the action ran; a process that stops before its move commits leaves it unmarked."""
    subject, digest = f"svc-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex * 2
    action = await core_db.fetchval(
        """
        INSERT INTO caas_core.pending_actions (id, tool, arguments, args_sha256, summary, requester_subject,
            requester_role, status, created_at, expires_at, confirmed_by, confirmed_role, confirmed_at)
        VALUES (gen_random_uuid(), 'payments.disburse_loan', '{}'::jsonb, $2, 'a move', $1, 'service',
            'confirmed', now(), now() + interval '15 minutes', 'op', 'operator', now())
        RETURNING id
        """,
        subject,
        digest,
    )

    async def audited(outcome: str, tool: str = "payments.disburse_loan", sha: str = digest) -> None:
        await core_db.execute(
            "INSERT INTO caas_audit.audit_log (principal_id, principal_role, tool, object_type, object_id, "
            "args_sha256, outcome) VALUES ($1, 'service', $2, 'payment', 'p', $3, $4)",
            subject,
            tool,
            sha,
            outcome,
        )

    async def ran() -> bool:
        stamp = await core_db.fetchval("SELECT ran_at FROM caas_core.pending_actions WHERE id = $1", action)
        return stamp is not None

    rolled_back = core_db.transaction()
    await rolled_back.start()
    await audited("succeeded")
    assert await ran()  # inside the move's transaction
    await rolled_back.rollback()
    assert not await ran()  # the move did not commit: nothing ran
    await audited("failed")
    await audited("succeeded", tool="payments.retry_disbursement")
    await audited("succeeded", sha=uuid.uuid4().hex * 2)
    assert not await ran()
    await audited("succeeded")
    assert await ran()
