"""The audit row and the outbox events that every state change writes in its own transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from tools.platform.ports import AuditRecord, IdempotencyClaim, Invocation, OutboxEvent

__all__ = ["Connection", "audit_args", "audit_row_sql", "iso_timestamp_sql", "record_audit"]

Connection = asyncpg.Connection | PoolConnectionProxy

# The caller's IP address goes as text and PostgreSQL makes it an inet (``$n::text::inet``): a parameter
# typed inet makes asyncpg parse the string with ipaddress.ip_address, 6 us of every write's call in
# Python, for an address request_context already checked and wrote canonically (same stored value).
# Audit row and outbox events in one round trip; the statement is atomic with the transaction.
_AUDIT = """
WITH audit AS (
    INSERT INTO caas_audit.audit_log
        (principal_id, principal_role, provider_id, tool, object_type, object_id, args_sha256, outcome,
         request_id, client_ip)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $14::text::inet)
)"""
_OUTBOX = """
INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
SELECT * FROM unnest($10::text[], $11::text[], $12::text[], $13::jsonb[])
"""
_RECORD = _AUDIT + _OUTBOX
# The same, and the idempotency key this transaction claimed records the audited object as what it
# produced (its resource id): the key's completion costs no round trip of its own.
_RECORD_COMPLETING = (
    _AUDIT
    + """, completed AS (
    UPDATE caas_core.idempotency_keys SET resource_id = $6
    WHERE principal_id = $15 AND operation = $16 AND key = $17
)"""
    + _OUTBOX
)


def audit_args(call: Invocation) -> list[object]:
    """The parameters of ``audit_row_sql``, in its order."""
    p = call.principal
    return [
        p.subject,
        p.role.value,
        p.provider_id,
        call.tool,
        call.args_sha256,
        call.request_id,
        call.client_ip,
    ]


def audit_row_sql(first: int, object_type: str, object_id_sql: str, source: str) -> str:
    """An INSERT of the audit row of a change made earlier in the same statement: one succeeded row per
    row of the CTE ``source``, the object's id from ``object_id_sql`` (an expression over that row),
    the caller from parameters ``$first`` to ``$first + 6`` (``audit_args``)."""
    a = [f"${first + i}" for i in range(7)]
    return f"""
    INSERT INTO caas_audit.audit_log
        (principal_id, principal_role, provider_id, tool, object_type, object_id, args_sha256, outcome,
         request_id, client_ip)
    SELECT {a[0]}::text, {a[1]}::text, {a[2]}::text, {a[3]}::text, '{object_type}', {object_id_sql},
           {a[4]}::text, 'succeeded', {a[5]}::text, {a[6]}::text::inet
    FROM {source}"""


def iso_timestamp_sql(column: str) -> str:
    """``column`` (timestamptz) as Python's ``datetime.isoformat()`` writes a UTC time, so that an event
    built in SQL carries the very string one built in Python from the returned row would."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_part('microseconds', {column})"
        f"::bigint % 1000000 = 0 THEN '' ELSE to_char({utc}, '.US') END || '+00:00'"
    )


async def record_audit(
    conn: Connection,
    audit: AuditRecord,
    events: Sequence[OutboxEvent] = (),
    completes: IdempotencyClaim | None = None,
) -> None:
    """The audit row and ``events``; with ``completes``, also that key's completion with
    ``audit.object_id`` (``PgUnitOfWork.complete_idempotency_key``), in the same statement."""
    call = audit.invocation
    key = () if completes is None else (completes.principal_id, completes.operation, completes.key)
    await conn.execute(
        _RECORD if completes is None else _RECORD_COMPLETING,
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
        *key,
    )
