"""Pending money moves awaiting a person's confirmation (migration 0020)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from database.locks import KeyedAdvisoryLock
from database.platform.audit import record_audit
from tools.platform.confirmation import INTERRUPTED_AFTER, PendingAction
from tools.platform.ports import AuditRecord, Clock, Invocation, OutboxEvent
from tools.platform.principal import Principal, Role
from tools.platform.transactions import transaction

__all__ = ["INTERRUPTED", "PgPendingActions", "fail_interrupted_actions"]

_COLUMNS = (
    "id, tool, arguments, args_sha256, summary, requester_subject, requester_role, requester_provider_id, "
    "status, created_at, expires_at, coalesce(confirmed_role || ':' || confirmed_by, "
    "declined_role || ':' || declined_by) AS settled_by, coalesce(confirmed_at, declined_at) AS settled_at, "
    "decline_reason, failure, concerns_subject"
)
_INSERTED = (
    "id, tool, arguments, args_sha256, summary, requester_subject, requester_role, requester_provider_id, "
    "status, created_at, expires_at, concerns_subject"
)
# The same caller asking again for the same call gets the action already waiting, not a second one.
_OPEN = f"""
SELECT {_COLUMNS} FROM caas_core.pending_actions
WHERE requester_subject = $1 AND requester_role = $2 AND tool = $3 AND args_sha256 = $4
  AND status = 'pending' AND expires_at > $5
ORDER BY created_at DESC LIMIT 1
"""
# One requester's opens one after another (the lock lasts until COMMIT), so the count below is the
# truth when the insert follows it: concurrent calls cannot each see room for one more.
_LOCK = f"SELECT pg_advisory_xact_lock({KeyedAdvisoryLock.PENDING_ACTIONS.value}, hashtext($1 || ':' || $2))"
_WAITING = """
SELECT count(*) FROM caas_core.pending_actions
WHERE requester_subject = $1 AND requester_role = $2 AND status = 'pending' AND expires_at > $3
"""
_INSERT = f"""
INSERT INTO caas_core.pending_actions ({_INSERTED})
VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, 'pending', $9, $10, $11)
"""
# Single use, settled by the database: only one UPDATE finds the row still pending.
_SETTLE = f"""
UPDATE caas_core.pending_actions
SET status = 'confirmed', confirmed_by = $2, confirmed_role = $3, confirmed_at = $4
WHERE id = $1 AND status = 'pending' AND expires_at > $4
RETURNING {_COLUMNS}
"""
# Settled the other way, by the same single-use rule.
_DECLINE = f"""
UPDATE caas_core.pending_actions
SET status = 'declined', declined_by = $2, declined_role = $3, declined_at = $4, decline_reason = $5
WHERE id = $1 AND status = 'pending' AND expires_at > $4
RETURNING {_COLUMNS}
"""
# A confirmed move that did not run: settled, with why.
_FAIL = f"""
UPDATE caas_core.pending_actions SET status = 'failed', failure = $2
WHERE id = $1 AND status = 'confirmed' AND ran_at IS NULL
RETURNING {_COLUMNS}
"""
# After the move returned: a replay writes no audit row of its own (migration 0049's trigger marks the
# others in the move's transaction).
_RAN = """
UPDATE caas_core.pending_actions SET ran_at = now() WHERE id = $1 AND status = 'confirmed' AND ran_at IS NULL
"""
# Held while its move runs, in a transaction of its own: the sweep's FOR UPDATE SKIP LOCKED passes it by,
# and the move's own marks (NO KEY UPDATE) do not wait for it. A process that stops lets it go.
_HOLD = "SELECT 1 FROM caas_core.pending_actions WHERE id = $1 FOR KEY SHARE"
# Confirmed before $1 and never ran: its process stopped before the move committed.
_INTERRUPTED = f"""
WITH stale AS (
    SELECT id AS stale_id FROM caas_core.pending_actions
    WHERE status = 'confirmed' AND ran_at IS NULL AND confirmed_at < $1
    ORDER BY confirmed_at LIMIT 100 FOR UPDATE SKIP LOCKED
)
UPDATE caas_core.pending_actions SET status = 'failed', failure = $2 FROM stale WHERE id = stale_id
RETURNING {_COLUMNS}
"""
INTERRUPTED = (
    "the process running it stopped before the move finished, and nothing of it was written: nothing "
    "ran. Call the tool again for a new confirmation"
)
# Newest first: every action ($1 NULL), or those one caller asked for, plus those of the tools in $3
# on its own records (migration 0048's index).
_NEWEST = f"""
SELECT {_COLUMNS} FROM caas_core.pending_actions
WHERE ($1::text IS NULL OR (requester_subject = $1 AND requester_role = $2)
       OR (concerns_subject = $1 AND tool = ANY($3::text[])))
  AND ($4::timestamptz IS NULL OR (status = 'pending' AND expires_at > $4))
ORDER BY created_at DESC, id LIMIT $5
"""


def _action(row: asyncpg.Record) -> PendingAction:
    return PendingAction(
        id=row["id"],
        tool=row["tool"],
        arguments=row["arguments"],
        args_sha256=row["args_sha256"],
        summary=row["summary"],
        requester=Principal(
            row["requester_subject"], Role(row["requester_role"]), row["requester_provider_id"]
        ),
        status=row["status"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        settled_by=row["settled_by"],
        settled_at=row["settled_at"],
        decline_reason=row["decline_reason"],
        failure=row["failure"],
        concerns=row["concerns_subject"],
    )


def _event(action: PendingAction, event_type: str) -> OutboxEvent:
    # Who asked and for which tool, never the arguments (amounts, accounts): a reader asks the tools.
    who = action.requester
    return OutboxEvent(
        "pending_action",
        str(action.id),
        event_type,
        {"tool": action.tool, "requester": f"{who.role}:{who.subject}"},
    )


class PgPendingActions:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open(self, action: PendingAction, audit: AuditRecord, *, at_most: int) -> PendingAction | None:
        who = action.requester
        async with self._pool.acquire() as conn, transaction(conn):
            await conn.execute(_LOCK, who.role.value, who.subject)
            row = await conn.fetchrow(
                _OPEN, who.subject, who.role.value, action.tool, action.args_sha256, action.created_at
            )
            if row is not None:
                return _action(row)
            if await conn.fetchval(_WAITING, who.subject, who.role.value, action.created_at) >= at_most:
                return None
            await conn.execute(
                _INSERT,
                action.id,
                action.tool,
                dict(action.arguments),
                action.args_sha256,
                action.summary,
                who.subject,
                who.role.value,
                who.provider_id,
                action.created_at,
                action.expires_at,
                action.concerns,
            )
            # Those who may decide learn a move awaits them (the live feed: the operator console).
            await record_audit(conn, audit, [_event(action, "pending_action.requested")])
        return action

    async def settle(
        self, action_id: UUID, confirmer: Principal, now: datetime, audit: AuditRecord
    ) -> PendingAction | None:
        async with self._pool.acquire() as conn, transaction(conn):
            row: Any = await conn.fetchrow(_SETTLE, action_id, confirmer.subject, confirmer.role.value, now)
            if row is None:
                return None
            settled = _action(row)
            await record_audit(conn, audit, [_event(settled, "pending_action.confirmed")])
        return settled

    async def decline(
        self, action_id: UUID, decliner: Principal, reason: str, now: datetime, audit: AuditRecord
    ) -> PendingAction | None:
        async with self._pool.acquire() as conn, transaction(conn):
            row: Any = await conn.fetchrow(
                _DECLINE, action_id, decliner.subject, decliner.role.value, now, reason
            )
            if row is None:
                return None
            declined = _action(row)
            # The one who asked learns its move will not run (no queue subscribes yet; the feed sees it).
            await record_audit(conn, audit, [_event(declined, "pending_action.declined")])
        return declined

    async def fail(self, action_id: UUID, why: str, audit: AuditRecord) -> PendingAction | None:
        async with self._pool.acquire() as conn, transaction(conn):
            row: Any = await conn.fetchrow(_FAIL, action_id, why)
            if row is None:
                return None
            failed = _action(row)
            await record_audit(conn, audit, [_event(failed, "pending_action.failed")])
        return failed

    @asynccontextmanager
    async def running(self, action_id: UUID) -> AsyncIterator[None]:
        """While ``action_id``'s move runs: however long it waits (a lock, a gateway), the sweep does not
        take it for one whose process stopped."""
        async with self._pool.acquire() as conn, transaction(conn):
            await conn.execute(_HOLD, action_id)
            yield

    async def ran(self, action_id: UUID) -> None:
        """``action_id``'s move returned: it ran (a replay included)."""
        async with self._pool.acquire() as conn:
            await conn.execute(_RAN, action_id)

    async def fail_interrupted(self, call: Invocation, before: datetime) -> int:
        """Fail every action confirmed before ``before`` whose move never ran (``INTERRUPTED``), with its
        audit row and event, a batch per transaction; how many."""
        total = 0
        while True:
            async with self._pool.acquire() as conn, transaction(conn):
                rows = await conn.fetch(_INTERRUPTED, before, INTERRUPTED)
                for row in rows:
                    failed = _action(row)
                    audit = AuditRecord(call, "pending_action", str(failed.id), "failed")
                    await record_audit(conn, audit, [_event(failed, "pending_action.failed")])
            total += len(rows)
            if len(rows) < 100:
                return total

    async def newest(
        self,
        requester: Principal | None,
        tools: frozenset[str] | None,
        pending_at: datetime | None,
        limit: int,
    ) -> list[PendingAction]:
        subject, role = (requester.subject, requester.role.value) if requester else (None, None)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_NEWEST, subject, role, sorted(tools or ()), pending_at, limit)
        return [_action(row) for row in rows]

    async def get(self, action_id: UUID) -> PendingAction | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM caas_core.pending_actions WHERE id = $1", action_id
            )
        return None if row is None else _action(row)


async def fail_interrupted_actions(pool: asyncpg.Pool, clock: Clock, call: Invocation) -> int:
    """The workers' sweep (every minute): fail what was confirmed ``INTERRUPTED_AFTER`` ago and never
    ran; how many."""
    return await PgPendingActions(pool).fail_interrupted(call, clock.now() - INTERRUPTED_AFTER)
