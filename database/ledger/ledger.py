"""The double-entry ledger in ``caas_ledger``: posting (inside a unit of work), balances, statements,
journals and reconciliation.

Posting is one statement, so one round trip: it opens any account not seen before, inserts the
journal and its postings from arrays, and the postings' statement trigger updates the cached balances.
The deferred constraint trigger checks at COMMIT that every journal balances per currency.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from database.ledger.reconcile import reconcile
from database.locks import KeyedAdvisoryLock
from database.marketplace.capital_at_commit import add_at_once
from database.platform.audit import Connection, audit_args, audit_row_sql
from tools.ledger.domain.chart import Account, AccountKind, OwnerType
from tools.ledger.domain.ledger import (
    AccountBalance,
    Journal,
    JournalDraft,
    JournalKind,
    Posting,
    Reconciliation,
    StatementLine,
)
from tools.ledger.ledger import JournalAlreadyPosted
from tools.platform.ports import Invocation

__all__ = ["PgLedgerReader", "PgLedgerWriter"]

Queryable = Connection | asyncpg.Pool

_POST = """
WITH lines AS (
    SELECT * FROM unnest(
        $6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[]
    ) WITH ORDINALITY AS l(account_id, code, kind, currency, owner_type, owner_id, amount_minor, line)
),
opened AS (
    INSERT INTO caas_ledger.accounts (id, code, kind, currency, owner_type, owner_id)
    SELECT DISTINCT account_id, code, kind, currency, owner_type, owner_id FROM lines ORDER BY account_id
    ON CONFLICT DO NOTHING
    RETURNING id
),
journal AS (
    INSERT INTO caas_ledger.journals (kind, source_id, reverses_journal_id, memo, created_by)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (kind, source_id) DO NOTHING
    RETURNING id
),
posted AS (
    INSERT INTO caas_ledger.postings (journal_id, account_id, currency, amount_minor)
    SELECT journal.id, l.account_id, l.currency, l.amount_minor
    FROM journal CROSS JOIN lines l
    ORDER BY l.line
    RETURNING 1
)
SELECT (SELECT id FROM journal) AS journal_id, (SELECT count(*) FROM posted) AS posted
"""
# With its audit row and its event (``tools.ledger.ledger.journal_event``: the fields known before,
# parameter $13 as JSON text, and the id the statement assigns), written only when the journal is: a movement
# posted before writes nothing.
_POST_RECORDED = _POST.replace(
    "\nSELECT (SELECT id FROM journal)",
    f"""
, audit AS ({audit_row_sql(14, "journal", "id::text", "journal")}
), event AS (
    INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
    SELECT 'journal', id::text, 'ledger.journal_posted',
           $13::text::jsonb || jsonb_build_object('journal_id', id::text)
    FROM journal
)
SELECT (SELECT id FROM journal)""",
    1,
)

_HOLD_JOURNAL = f"SELECT pg_advisory_xact_lock({KeyedAdvisoryLock.JOURNAL_SETTLEMENT.value}, hashtext($1))"
_JOURNAL = """
SELECT j.id, j.kind, j.source_id, j.memo, j.created_by, j.created_at, j.reverses_journal_id,
       (SELECT r.id FROM caas_ledger.journals r
        WHERE r.kind = 'reversal' AND r.source_id = j.id::text) AS reversed_by,
       p.amount_minor, a.code, a.kind AS account_kind, a.currency, a.owner_type, a.owner_id
FROM caas_ledger.journals j
JOIN caas_ledger.postings p ON p.journal_id = j.id
JOIN caas_ledger.accounts a ON a.id = p.account_id
WHERE j.id = $1
ORDER BY p.id
"""

_BALANCE = """
SELECT a.id, a.code, a.kind, a.currency, a.owner_type, a.owner_id, a.created_at,
       CASE WHEN $2::timestamptz IS NULL THEN coalesce(b.balance_minor, 0)
            ELSE coalesce((SELECT sum(p.amount_minor) FROM caas_ledger.postings p
                           WHERE p.account_id = a.id AND p.created_at <= $2), 0)::bigint
       END AS net_debit_minor
FROM caas_ledger.accounts a
LEFT JOIN caas_ledger.account_balances b ON b.account_id = a.id
WHERE a.{key} = $1
"""

_STATEMENT = """
SELECT p.id AS posting_id, p.journal_id, j.kind AS journal_kind, j.source_id, j.memo, p.amount_minor,
       p.created_at
FROM caas_ledger.postings p
JOIN caas_ledger.journals j ON j.id = p.journal_id
WHERE p.account_id = $1 AND ($2::timestamptz IS NULL OR (p.created_at, p.id) < ($2, $3::bigint))
ORDER BY p.created_at DESC, p.id DESC
LIMIT $4
"""


def _account(row: asyncpg.Record, kind_column: str = "kind") -> Account:
    owner = row["owner_id"]
    return Account(
        row["code"], AccountKind(row[kind_column]), row["currency"], OwnerType(row["owner_type"]), owner
    )


async def _journal(db: Queryable, journal_id: UUID) -> Journal | None:
    rows = await db.fetch(_JOURNAL, journal_id)
    if not rows:
        return None
    first = rows[0]
    return Journal(
        id=first["id"],
        kind=JournalKind(first["kind"]),
        source_id=first["source_id"],
        memo=first["memo"],
        created_by=first["created_by"],
        created_at=first["created_at"],
        reverses_journal_id=first["reverses_journal_id"],
        postings=tuple(Posting(_account(r, "account_kind"), r["amount_minor"]) for r in rows),
        reversed_by=first["reversed_by"],
    )


class PgLedgerWriter:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def post(self, draft: JournalDraft, call: Invocation, event_fields: dict[str, Any]) -> UUID:
        lines = draft.postings
        row = await self._conn.fetchrow(
            _POST_RECORDED,
            draft.kind.value,
            draft.source_id,
            draft.reverses_journal_id,
            draft.memo,
            call.principal.subject,
            [p.account.id for p in lines],
            [p.account.code for p in lines],
            [p.account.kind.value for p in lines],
            [p.currency for p in lines],
            [p.account.owner_type.value for p in lines],
            [p.account.owner_id for p in lines],
            [p.amount_minor for p in lines],
            # As text: a connection without the pools' json codec (a migration's, a test's) posts too.
            json.dumps(event_fields, separators=(",", ":")),
            *audit_args(call),
        )
        assert row is not None
        if row["journal_id"] is None:
            existing = await self._conn.fetchval(
                "SELECT id FROM caas_ledger.journals WHERE kind = $1 AND source_id = $2",
                draft.kind.value,
                draft.source_id,
            )
            raise JournalAlreadyPosted(draft.kind.value, draft.source_id, existing)
        assert row["posted"] == len(lines)
        journal_id: UUID = row["journal_id"]
        return journal_id

    async def journal(self, journal_id: UUID) -> Journal | None:
        return await _journal(self._conn, journal_id)

    async def journal_of(self, kind: JournalKind, source_id: str) -> Journal | None:
        journal_id = await self._conn.fetchval(
            "SELECT id FROM caas_ledger.journals WHERE kind = $1 AND source_id = $2", kind.value, source_id
        )
        return None if journal_id is None else await _journal(self._conn, journal_id)

    async def hold_journal(self, journal_id: UUID) -> None:
        await self._conn.execute(_HOLD_JOURNAL, str(journal_id))

    async def lock_provider_capital(self, provider_id: UUID) -> tuple[str, int, int] | None:
        row = await self._conn.fetchrow(
            "SELECT currency, capital_available_minor, currency_version FROM caas_core.providers "
            "WHERE id = $1 FOR NO KEY UPDATE",
            provider_id,
        )
        return (
            None
            if row is None
            else (row["currency"], row["capital_available_minor"], row["currency_version"])
        )

    async def add_provider_capital(self, provider_id: UUID, amount_minor: int) -> None:
        await add_at_once(self._conn, provider_id, amount_minor)

    async def take_loan_commission(self, loan_id: UUID, amount_minor: int) -> bool:
        taken = await self._conn.fetchval(
            "UPDATE caas_core.loans SET commission_minor = commission_minor - $2, updated_at = now() "
            "WHERE id = $1 AND commission_minor >= $2 RETURNING true",
            loan_id,
            amount_minor,
        )
        return bool(taken)


class PgLedgerReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def balance(self, account: UUID | str, as_of: datetime | None = None) -> AccountBalance | None:
        key = "id" if isinstance(account, UUID) else "code"
        row = await self._pool.fetchrow(_BALANCE.format(key=key), account, as_of)
        if row is None:
            return None
        return AccountBalance(row["id"], _account(row), row["net_debit_minor"], row["created_at"], as_of)

    async def statement(
        self, account_id: UUID, after: tuple[datetime, int] | None, limit: int
    ) -> list[StatementLine]:
        rows = await self._pool.fetch(
            _STATEMENT, account_id, after[0] if after else None, after[1] if after else None, limit
        )
        return [
            StatementLine(**{**dict(r.items()), "journal_kind": JournalKind(r["journal_kind"])}) for r in rows
        ]

    async def journal(self, journal_id: UUID) -> Journal | None:
        return await _journal(self._pool, journal_id)

    async def reconcile(self, full: bool) -> Reconciliation:
        return await reconcile(self._pool, full)
