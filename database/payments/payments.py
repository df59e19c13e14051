"""Payments and the webhook inbox in ``caas_core`` (migration 0013): the reader (pool) and the writer
(inside a unit of work)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields
from datetime import timedelta
from uuid import UUID

import asyncpg

from database.marketplace.capital_at_commit import CapitalAtCommit
from database.payments.attention import (
    BOOKING,
    DISPUTED,
    DISPUTED_SUCCESSES,
    OTHER_BODIES,
    RECOVERED,
    UNAPPLIED_RECEIPTS,
    UNDONE_AFTER_SUCCESS,
    flagged,
)
from database.platform.audit import Connection, audit_args, audit_row_sql
from database.sql import Filters
from tools.payments.domain.payments import Booking, PaymentRecord
from tools.payments.ports import Flagged, InboxEntry, InboxOutcome, NewPayment, PaymentQuery
from tools.platform.errors import Conflict
from tools.platform.ports import Invocation, OutboxEvent

__all__ = ["STALLED_CHARGES", "UNAPPLIED_RECEIPTS", "PgPaymentReader", "PgPaymentWriter"]

_COLUMNS = ", ".join(f"p.{f.name}" for f in fields(PaymentRecord))
_SELECT = f"SELECT {_COLUMNS} FROM caas_core.payments p"
_KEY = ("p.created_at", "p.id")
_INBOX = (
    "SELECT source, event_id, event_type, outcome, detail, payment_id, received_at "
    "FROM caas_core.webhook_inbox WHERE source = $1 AND event_id = $2"
)
# A final status with its audit row, its event (``tools.payments.core.payment_event``) and, for an
# inbound event's effect, the event's inbox row concluded (none when $17 is NULL), one statement.
_SETTLE_RECORDED = f"""
WITH written AS (
    UPDATE caas_core.payments SET status = $2, settled_at = now(), sent_at = coalesce(sent_at, now()),
        -- A succeeded payment's last_error says why it was not applied (NULL: applied); an error
        -- noted on an attempt before it succeeded says nothing of that.
        last_error = CASE WHEN $2 = 'succeeded' THEN $3 ELSE coalesce($3, last_error) END
    WHERE id = $1
    RETURNING *
), audit AS ({audit_row_sql(4, "payment", "id::text", "written")}
), event AS (
    INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
    SELECT $11, $12, $13, $14::text::jsonb FROM written
), inbox AS (
    UPDATE caas_core.webhook_inbox i SET outcome = $15, detail = $16, payment_id = written.id
    FROM written WHERE i.source = $17 AND i.event_id = $18
)
SELECT {_COLUMNS} FROM written p
"""

# Migration 0033's partial index holds only the charges still being opened: the sweep reads those.
STALLED_CHARGES = (
    f"{_SELECT} WHERE p.kind = 'collection' AND p.status = 'requested' "
    "AND p.created_at < now() - $1::interval ORDER BY p.created_at LIMIT $2"
)

# A collection's charge opened: ``sent`` with the payer's URL, its audit row and its event, in one
# statement, and only while it is still ``requested`` (nothing is written when the sweep failed it).
_CHARGE_SENT = f"""
WITH written AS (
    UPDATE caas_core.payments SET status = 'sent', vendor = $2, sent_at = now(), authorization_url = $3,
        access_code = $4, last_error = NULL
    WHERE id = $1 AND status = 'requested'
    RETURNING *
), audit AS ({audit_row_sql(5, "payment", "id::text", "written")}
), event AS (
    INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
    SELECT $12, $13, $14, $15::text::jsonb FROM written
)
SELECT {_COLUMNS} FROM written p
"""


def _payment(row: asyncpg.Record) -> PaymentRecord:
    return PaymentRecord(**dict(row.items()))


def _entry(row: asyncpg.Record | None) -> InboxEntry | None:
    return InboxEntry(**dict(row.items())) if row else None


class PgPaymentReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, payment_id: UUID) -> PaymentRecord | None:
        row = await self._pool.fetchrow(f"{_SELECT} WHERE p.id = $1", payment_id)
        return _payment(row) if row else None

    async def listing(self, query: PaymentQuery) -> list[PaymentRecord]:
        f = Filters()
        select = _SELECT
        if (query.provider_id, query.borrower_id, query.created_by) != (None, None, None):
            select += (
                " JOIN caas_core.loans l ON l.id = p.loan_id"
                " JOIN caas_core.applications a ON a.id = l.application_id"
            )
        if query.loan_id is not None:
            f.add(f"p.loan_id = {f.arg(query.loan_id)}")
        if query.kind is not None:
            f.add(f"p.kind = {f.arg(query.kind)}")
        if query.statuses:
            f.add(f"p.status = ANY({f.arg(list(query.statuses))}::text[])")
        if query.provider_id is not None:
            f.add(f"l.provider_id = {f.arg(query.provider_id)}")
        if query.borrower_id is not None:
            f.add(f"l.borrower_id = {f.arg(query.borrower_id)}")
        if query.created_by is not None:
            f.add(f"a.created_by = {f.arg(query.created_by)}")
        f.keyset(_KEY, query.after)
        return [_payment(r) for r in await self._pool.fetch(f.page(select, _KEY, query.limit), *f.args)]

    async def inbox(self, source: str, event_id: str) -> InboxEntry | None:
        return _entry(await self._pool.fetchrow(_INBOX, source, event_id))

    async def disputed_successes(self) -> int:
        return int(await self._pool.fetchval(DISPUTED_SUCCESSES))

    async def events_with_other_bodies(self, since: timedelta) -> Flagged:
        # Through migration 0044's partial index: only the rows that had another body.
        return flagged(await self._pool.fetch(OTHER_BODIES, since))

    async def undone_after_success(self, since: timedelta) -> Flagged:
        return flagged(await self._pool.fetch(UNDONE_AFTER_SUCCESS, since))

    async def unapplied_receipts(self) -> int:
        # Through migration 0034's partial index: the few such rows, never the book.
        return int(await self._pool.fetchval(UNAPPLIED_RECEIPTS))

    async def booking(self, payment_id: UUID) -> Booking | None:
        state = await self._pool.fetchval(BOOKING, str(payment_id))
        return None if state is None else Booking(state)

    async def stalled_charges(self, older_than: timedelta, limit: int) -> list[PaymentRecord]:
        rows = await self._pool.fetch(STALLED_CHARGES, older_than, limit)
        return [_payment(r) for r in rows]


class PgPaymentWriter:
    def __init__(self, conn: Connection, capital: CapitalAtCommit | None = None) -> None:
        # ``capital``: the unit of work's capital given back at COMMIT, which a savepoint rolled back
        # must forget too.
        self._conn, self._capital = conn, capital

    async def _one(self, sql: str, *args: object) -> PaymentRecord:
        row = await self._conn.fetchrow(sql, *args)
        assert row is not None
        return _payment(row)

    async def insert(self, new: NewPayment) -> PaymentRecord:
        try:
            return await self._one(
                "INSERT INTO caas_core.payments AS p (kind, loan_id, amount_minor, currency, simulated, "
                "simulate_outcome, requested_by, prepay) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                f"RETURNING {_COLUMNS}",
                new.kind,
                new.loan_id,
                new.amount_minor,
                new.currency,
                new.simulated,
                new.simulate_outcome,
                new.requested_by,
                new.prepay,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                "this loan already has a disbursement requested, sent or paid; list_payments shows it"
            ) from None

    async def get(self, payment_id: UUID) -> PaymentRecord | None:
        row = await self._conn.fetchrow(f"{_SELECT} WHERE p.id = $1", payment_id)
        return _payment(row) if row else None

    async def lock(self, payment_id: UUID) -> PaymentRecord | None:
        row = await self._conn.fetchrow(f"{_SELECT} WHERE p.id = $1 FOR NO KEY UPDATE", payment_id)
        return _payment(row) if row else None

    async def active_disbursement(self, loan_id: UUID) -> PaymentRecord | None:
        row = await self._conn.fetchrow(
            f"{_SELECT} WHERE p.loan_id = $1 AND p.kind = 'disbursement' "
            "AND p.status IN ('requested', 'sent', 'succeeded') "
            f"AND NOT (p.last_error IS NOT NULL AND EXISTS ({RECOVERED})) "
            "ORDER BY p.created_at DESC LIMIT 1",
            loan_id,
        )
        return _payment(row) if row else None

    async def other_payout(self, loan_id: UUID, besides: UUID) -> PaymentRecord | None:
        row = await self._conn.fetchrow(
            f"{_SELECT} WHERE p.loan_id = $1 AND p.kind = 'disbursement' AND p.id <> $2 AND "
            "(p.status IN ('requested', 'sent') OR (p.status = 'succeeded' AND p.last_error IS NULL))",
            loan_id,
            besides,
        )
        return _payment(row) if row else None

    async def booked_payout(self, loan_id: UUID) -> tuple[PaymentRecord, UUID] | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS}, j.id AS recovery_journal_id FROM caas_core.payments p "
            "JOIN caas_ledger.journals j ON j.kind = 'payout_recovery' AND j.source_id = p.id::text "
            "WHERE p.loan_id = $1 AND p.kind = 'disbursement' AND p.status = 'succeeded' "
            "AND p.last_error IS NOT NULL AND NOT EXISTS (SELECT 1 FROM caas_ledger.journals r "
            "WHERE r.kind = 'reversal' AND r.source_id = j.id::text) "
            "ORDER BY p.created_at LIMIT 1 FOR NO KEY UPDATE OF p",
            loan_id,
        )
        if row is None:
            return None
        found = dict(row.items())
        journal_id = found.pop("recovery_journal_id")
        return PaymentRecord(**found), journal_id

    async def mark_applied(self, payment_id: UUID) -> PaymentRecord:
        return await self._one(
            f"UPDATE caas_core.payments AS p SET last_error = NULL WHERE id = $1 RETURNING {_COLUMNS}",
            payment_id,
        )

    async def start_attempt(self, payment_id: UUID, vendor: str) -> PaymentRecord:
        return await self._one(
            "UPDATE caas_core.payments AS p SET attempts = attempts + 1, vendor = $2 WHERE id = $1 "
            f"RETURNING {_COLUMNS}",
            payment_id,
            vendor,
        )

    async def release_attempt(self, payment_id: UUID, error: str) -> None:
        await self._conn.execute(
            "UPDATE caas_core.payments SET vendor = NULL, last_error = $2 WHERE id = $1 "
            "AND status = 'requested'",
            payment_id,
            error[:500],
        )

    async def success_disputed(self, payment_id: UUID) -> bool:
        return bool(
            await self._conn.fetchval(f"SELECT EXISTS ({DISPUTED} AND i.payment_id = $1)", payment_id)
        )

    async def note_error(self, payment_id: UUID, error: str) -> None:
        # Never on a succeeded payment, whose last_error means "not applied": an attempt's timeout noted
        # after its webhook settled it would make an applied payout read as refused.
        await self._conn.execute(
            "UPDATE caas_core.payments SET last_error = $2 WHERE id = $1 AND status <> 'succeeded'",
            payment_id,
            error[:500],
        )

    async def mark_sent(
        self,
        payment_id: UUID,
        vendor: str,
        *,
        transfer_code: str | None = None,
    ) -> PaymentRecord:
        return await self._one(
            "UPDATE caas_core.payments AS p SET status = 'sent', vendor = $2, sent_at = now(), "
            "transfer_code = coalesce($3, transfer_code), last_error = NULL "
            f"WHERE id = $1 RETURNING {_COLUMNS}",
            payment_id,
            vendor,
            transfer_code,
        )

    async def mark_charge_sent(
        self,
        payment_id: UUID,
        vendor: str,
        *,
        authorization_url: str,
        access_code: str,
        call: Invocation,
        event: OutboxEvent,
    ) -> PaymentRecord | None:
        row = await self._conn.fetchrow(
            _CHARGE_SENT,
            payment_id,
            vendor,
            authorization_url,
            access_code,
            *audit_args(call),
            event.aggregate_type,
            event.aggregate_id,
            event.event_type,
            json.dumps(event.payload, separators=(",", ":")),
        )
        return _payment(row) if row else None

    async def settle(
        self,
        payment_id: UUID,
        status: str,
        error: str | None,
        call: Invocation,
        event: OutboxEvent,
        inbox: InboxOutcome | None = None,
    ) -> PaymentRecord:
        return await self._one(
            _SETTLE_RECORDED,
            payment_id,
            status,
            None if error is None else error[:500],
            *audit_args(call),
            event.aggregate_type,
            event.aggregate_id,
            event.event_type,
            # As text: a connection without the pools' json codec (a test's) settles too.
            json.dumps(event.payload, separators=(",", ":")),
            None if inbox is None else inbox.outcome,
            None if inbox is None or inbox.detail is None else inbox.detail[:1000],
            None if inbox is None else inbox.source,
            None if inbox is None else inbox.event_id,
        )

    async def receive(self, source: str, event_id: str, event_type: str, payload_sha256: str) -> bool:
        # A concurrent copy of the same event waits here for the first transaction: after its COMMIT
        # this inserts nothing (a duplicate); after its ROLLBACK this one takes the event over.
        inserted = await self._conn.fetchval(
            "INSERT INTO caas_core.webhook_inbox (source, event_id, event_type, payload_sha256) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (source, event_id) DO NOTHING RETURNING true",
            source,
            event_id,
            event_type[:100],
            payload_sha256,
        )
        return bool(inserted)

    async def conclude(
        self, source: str, event_id: str, outcome: str, detail: str | None, payment_id: UUID | None
    ) -> None:
        await self._conn.execute(
            "UPDATE caas_core.webhook_inbox SET outcome = $3, detail = $4, payment_id = $5 "
            "WHERE source = $1 AND event_id = $2",
            source,
            event_id,
            outcome,
            None if detail is None else detail[:1000],
            payment_id,
        )

    async def inbox(self, source: str, event_id: str) -> InboxEntry | None:
        return _entry(await self._conn.fetchrow(_INBOX, source, event_id))

    async def other_body(self, source: str, event_id: str, payload_sha256: str) -> bool:
        counted = await self._conn.fetchval(
            "UPDATE caas_core.webhook_inbox SET other_bodies = other_bodies + 1, other_body_at = now() "
            "WHERE source = $1 AND event_id = $2 AND payload_sha256 <> $3 RETURNING true",
            source,
            event_id,
            payload_sha256,
        )
        return bool(counted)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        # Inside the unit of work. Not released when the effect succeeds: COMMIT releases it (a RELEASE
        # would be a round trip for nothing); an error rolls back to it and the transaction goes on (a
        # cancellation ends the whole transaction, which the unit of work rolls back).
        await self._conn.execute("SAVEPOINT caas_effect")
        mark = None if self._capital is None else self._capital.mark()
        try:
            yield
        except Exception:
            await self._conn.execute("ROLLBACK TO SAVEPOINT caas_effect")
            if self._capital is not None and mark is not None:
                self._capital.roll_back_to(mark)
            raise
