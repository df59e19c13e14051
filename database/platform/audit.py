"""The audit row and the outbox events that every state change writes in its own transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from tools.platform.ports import AuditRecord, OutboxEvent

__all__ = ["Connection", "record_audit"]

Connection = asyncpg.Connection | PoolConnectionProxy

# Audit row and outbox events in one round trip; the statement is atomic with the transaction.
_RECORD = """
WITH audit AS (
    INSERT INTO caas_audit.audit_log
        (principal_id, principal_role, provider_id, tool, object_type, object_id, args_sha256, outcome,
         request_id, client_ip)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $14::inet)
)
INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
SELECT * FROM unnest($10::text[], $11::text[], $12::text[], $13::jsonb[])
"""


async def record_audit(conn: Connection, audit: AuditRecord, events: Sequence[OutboxEvent] = ()) -> None:
    call = audit.invocation
    await conn.execute(
        _RECORD,
        call.principal.subject,
        call.principal.role.value,
        call.principal.provider_id,
        call.tool,
        audit.object_type,
        audit.object_id,
        call.args_sha256,
        audit.outcome,
        call.request_id,
        [e.aggregate_type for e in events],
        [e.aggregate_id for e in events],
        [e.event_type for e in events],
        [e.payload for e in events],
        call.client_ip,
    )
