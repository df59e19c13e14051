"""Loans in ``caas_core``: the reader (pool) and the writer (inside a unit of work)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import fields
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from database.loans.listing import loan_page
from database.marketplace.providers import PROVIDER_COLUMNS, provider_record
from database.platform.audit import Connection, audit_args, audit_row_sql, iso_timestamp_sql
from tools.loans.domain.loans import (
    AcceptedBid,
    InstallmentRecord,
    LoanChanges,
    LoanRecord,
    LoanTransition,
    NewLoan,
    RepaymentRecord,
    loan_event_fields,
)
from tools.loans.ports import LoanBook, LoanListRow, LoanQuery
from tools.marketplace.domain.providers import ProviderRecord
from tools.platform.errors import Conflict
from tools.platform.ports import Invocation
from tools.platform.principal import Principal

__all__ = ["PgLoanReader", "PgLoanWriter"]

_REFERENCE = re.compile(r"^CAAS-\d{4}-\d{6,}$")
_NEW = [f.name for f in fields(NewLoan)]
_JOINED = {"application_reference": "a.reference", "application_created_by": "a.created_by"}
_COLUMNS = ", ".join(
    _JOINED[f.name] + f" AS {f.name}" if f.name in _JOINED else f"l.{f.name}" for f in fields(LoanRecord)
)
_SELECT = f"SELECT {_COLUMNS} FROM caas_core.loans l JOIN caas_core.applications a ON a.id = l.application_id"
_INSTALLMENT_COLUMNS = [f.name for f in fields(InstallmentRecord)]
# Only loans whose aging can change on $1: an open installment due before it (the partial index
# loan_installments_open_due_idx) or in arrears (loans_in_arrears_idx; its predicate repeated verbatim).
# A loan already aged for $1 is left out, so the runs of one day (limit 500 each) work through the
# book instead of ageing its first 500 loans again; a repayment re-ages the loan it changes itself.
_AGING_CANDIDATES = """
SELECT id FROM (
    SELECT i.loan_id AS id
    FROM caas_core.loan_installments i
    JOIN caas_core.loans l ON l.id = i.loan_id AND l.status IN ('active', 'delinquent', 'defaulted')
        AND (l.aged_on IS NULL OR l.aged_on < $1)
    WHERE NOT i.cancelled AND i.settled_at IS NULL AND i.due_date < $1
      AND ($2::uuid IS NULL OR i.loan_id > $2)
    UNION
    SELECT id FROM caas_core.loans
    WHERE (status IN ('delinquent', 'defaulted') OR (status = 'active' AND days_past_due > 0))
      AND (aged_on IS NULL OR aged_on < $1) AND ($2::uuid IS NULL OR id > $2)
) c
ORDER BY id
LIMIT $3
"""

_INSTALLMENTS = (
    f"SELECT {', '.join(_INSTALLMENT_COLUMNS)} FROM caas_core.loan_installments "
    "WHERE loan_id = $1 ORDER BY number"
)
_TRANSITION_COLUMNS = [f.name for f in fields(LoanTransition)]
# A loan's schedule and timeline in one statement: the installments by number, then the transitions
# in the order they happened (each part's other columns NULL).
_NO_TRANSITION = ", ".join(f"NULL::text AS {c}" for c in _TRANSITION_COLUMNS if c != "occurred_at")
_DETAILS = f"""
SELECT 0 AS part, {", ".join(_INSTALLMENT_COLUMNS)}, {_NO_TRANSITION},
       NULL::timestamptz AS occurred_at, 0::bigint AS n
FROM caas_core.loan_installments WHERE loan_id = $1
UNION ALL
SELECT 1, {", ".join("NULL" for _ in _INSTALLMENT_COLUMNS)}, {", ".join(_TRANSITION_COLUMNS)}, id
FROM caas_core.loan_transitions WHERE loan_id = $1
ORDER BY part, number, n
"""
# A loan that ever defaulted counts against its lender's book, cured since or not.
_EVER_DEFAULTED = "defaulted_at IS NOT NULL OR status IN ('defaulted', 'written_off')"
# A loan's provider and its book (LoanReader.book's counts) in one read.
_LENDER_FROM = f"""
FROM caas_core.providers p CROSS JOIN LATERAL (
    SELECT count(*) AS book_loans,
           count(*) FILTER (WHERE {_EVER_DEFAULTED}) AS book_defaulted
    FROM caas_core.loans WHERE provider_id = p.id AND status NOT IN ('pending_disbursement', 'cancelled')
) b
WHERE p.id = $1
"""
_LENDER = (
    f"SELECT {', '.join(f'p.{c}' for c in PROVIDER_COLUMNS)}, b.book_loans, b.book_defaulted {_LENDER_FROM}"
)
# The lender read with, in the same statement, the loan (if any) that a gateway reference disbursed.
_LENDER_DISBURSING = _LENDER.replace(
    _LENDER_FROM,
    f", (SELECT id FROM caas_core.loans WHERE disbursement_reference = $2) AS disbursed {_LENDER_FROM}",
)
_REPAYMENT_COLUMNS = [f.name for f in fields(RepaymentRecord)]
_REPAYMENTS = f"SELECT {', '.join(_REPAYMENT_COLUMNS)} FROM caas_core.loan_repayments"
_LOAN_REPAYMENTS = f"{_REPAYMENTS} WHERE loan_id = $1 ORDER BY paid_at, recorded_at"
_STATUS_TIME = {"closed": "closed_at", "defaulted": "defaulted_at", "written_off": "written_off_at"}
# Installments as arrays, for one INSERT or UPDATE of a whole schedule.
_ARRAYS = (
    "unnest($2::smallint[], $3::date[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], "
    "$8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::date[], $13::boolean[], "
    "$14::timestamptz[])"
)


def _arrays_from(first: int) -> str:
    """``_ARRAYS`` with its parameters numbered from ``first``."""
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) - 2 + first}", _ARRAYS)


def _written(ctes: str) -> str:
    """``ctes`` (a WITH list whose CTE ``written`` returns the loan rows it writes) followed by the
    loans as the readers return them: one round trip for the write and its result."""
    return f"{ctes}\n{_SELECT.replace('caas_core.loans l', 'written l', 1)}"


def _where(handle: str) -> tuple[str, object] | None:
    key = handle.strip()
    if _REFERENCE.match(key):
        return "a.reference = $1", key
    try:
        return "(l.id = $1 OR l.application_id = $1)", UUID(key)
    except ValueError:
        return None


def _loan(row: asyncpg.Record) -> LoanRecord:
    return LoanRecord(**dict(row.items()))


def _installment(row: asyncpg.Record) -> InstallmentRecord:
    return InstallmentRecord(**dict(row.items()))


def _repayment(row: asyncpg.Record) -> RepaymentRecord:
    return RepaymentRecord(**dict(row.items()))


def _installment_arrays(rows: Sequence[InstallmentRecord]) -> list[list[Any]]:
    return [[getattr(r, name) for r in rows] for name in _INSTALLMENT_COLUMNS]


class PgLoanReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, handle: str) -> LoanRecord | None:
        where = _where(handle)
        if where is None:
            return None
        row = await self._pool.fetchrow(f"{_SELECT} WHERE {where[0]}", where[1])
        return _loan(row) if row else None

    async def installments(self, loan_id: UUID) -> list[InstallmentRecord]:
        return [_installment(r) for r in await self._pool.fetch(_INSTALLMENTS, loan_id)]

    async def timeline(self, loan_id: UUID) -> list[LoanTransition]:
        rows = await self._pool.fetch(
            "SELECT from_status, to_status, actor_id, actor_role, reason, occurred_at "
            "FROM caas_core.loan_transitions WHERE loan_id = $1 ORDER BY id",
            loan_id,
        )
        return [LoanTransition(**dict(r.items())) for r in rows]

    async def details(self, loan_id: UUID) -> tuple[list[InstallmentRecord], list[LoanTransition]]:
        rows = await self._pool.fetch(_DETAILS, loan_id)
        return (
            [InstallmentRecord(**{c: r[c] for c in _INSTALLMENT_COLUMNS}) for r in rows if r["part"] == 0],
            [LoanTransition(**{c: r[c] for c in _TRANSITION_COLUMNS}) for r in rows if r["part"] == 1],
        )

    async def repayment(self, repayment_id: UUID) -> RepaymentRecord | None:
        row = await self._pool.fetchrow(f"{_REPAYMENTS} WHERE id = $1", repayment_id)
        return _repayment(row) if row else None

    async def repayments(self, loan_id: UUID) -> list[RepaymentRecord]:
        return [_repayment(r) for r in await self._pool.fetch(_LOAN_REPAYMENTS, loan_id)]

    async def book(self, provider_id: UUID) -> LoanBook:
        row = await self._pool.fetchrow(
            f"SELECT count(*) AS loans, count(*) FILTER (WHERE {_EVER_DEFAULTED}) AS bad "
            "FROM caas_core.loans WHERE provider_id = $1 "
            "AND status NOT IN ('pending_disbursement', 'cancelled')",
            provider_id,
        )
        assert row is not None
        return LoanBook(loans=row["loans"], defaulted=row["bad"])

    async def listing(self, query: LoanQuery) -> list[LoanListRow]:
        return await loan_page(self._pool, query)


class PgLoanWriter:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def accepted_bid(self, application_id: UUID) -> AcceptedBid | None:
        row = await self._conn.fetchrow(
            "SELECT id, application_id, provider_id, version, amount_minor, currency, annual_rate, "
            "term_months, origination_fee_minor, repayment_frequency, schedule_method, valid_until "
            "FROM caas_core.bids WHERE application_id = $1 AND status = 'accepted'",
            application_id,
        )
        return AcceptedBid(**dict(row.items())) if row else None

    async def lender(self, provider_id: UUID) -> tuple[ProviderRecord, LoanBook] | None:
        row = await self._conn.fetchrow(_LENDER, provider_id)
        if row is None:
            return None
        return provider_record(row), LoanBook(loans=row["book_loans"], defaulted=row["book_defaulted"])

    async def lender_disbursing(
        self, provider_id: UUID, gateway_reference: str
    ) -> tuple[ProviderRecord, LoanBook, UUID | None] | None:
        row = await self._conn.fetchrow(_LENDER_DISBURSING, provider_id, gateway_reference)
        if row is None:
            return None
        book = LoanBook(loans=row["book_loans"], defaulted=row["book_defaulted"])
        return provider_record(row), book, row["disbursed"]

    async def for_application(self, application_id: UUID) -> LoanRecord | None:
        row = await self._conn.fetchrow(f"{_SELECT} WHERE l.application_id = $1", application_id)
        return _loan(row) if row else None

    async def insert(
        self, new: NewLoan, installments: Sequence[InstallmentRecord], actor: Principal
    ) -> LoanRecord:
        n = len(_NEW)
        placeholders = ", ".join(f"${i}" for i in range(1, n + 1))
        # The loan, its schedule and its first timeline entry in one statement.
        sql = _written(
            f"""
            WITH written AS (
                INSERT INTO caas_core.loans ({", ".join(_NEW)}) VALUES ({placeholders}) RETURNING *
            ), schedule AS (
                INSERT INTO caas_core.loan_installments (loan_id, {", ".join(_INSTALLMENT_COLUMNS)})
                SELECT written.id, t.* FROM written CROSS JOIN {_arrays_from(n + 1)} AS t
            ), entry AS (
                INSERT INTO caas_core.loan_transitions
                    (loan_id, from_status, to_status, actor_id, actor_role, reason)
                SELECT id, NULL, status, ${n + 14}, ${n + 15}, 'originated from the accepted bid'
                FROM written
            )"""
        )
        try:
            row = await self._conn.fetchrow(
                sql,
                *(getattr(new, name) for name in _NEW),
                *_installment_arrays(installments),
                actor.subject,
                actor.role.value,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                "this application (or its accepted bid) already has a loan; call get_loan with the "
                "application's id"
            ) from None
        assert row is not None
        return _loan(row)

    async def lock(self, handle: str) -> LoanRecord | None:
        where = _where(handle)
        if where is None:
            return None
        row = await self._conn.fetchrow(f"{_SELECT} WHERE {where[0]} FOR NO KEY UPDATE OF l", where[1])
        return _loan(row) if row else None

    async def lock_by_payment(self, payment_id: UUID) -> LoanRecord | None:
        row = await self._conn.fetchrow(
            f"{_SELECT} WHERE l.id = (SELECT loan_id FROM caas_core.payments WHERE id = $1) "
            "FOR NO KEY UPDATE OF l",
            payment_id,
        )
        return _loan(row) if row else None

    async def aging_candidates(self, as_of: date, after: UUID | None, limit: int) -> list[UUID]:
        rows = await self._conn.fetch(_AGING_CANDIDATES, as_of, after, limit)
        return [r["id"] for r in rows]

    async def lock_servicing(self, loan_id: UUID) -> LoanRecord | None:
        row = await self._conn.fetchrow(
            f"{_SELECT} WHERE l.id = $1 AND l.status IN ('active', 'delinquent', 'defaulted') "
            "FOR UPDATE OF l SKIP LOCKED",
            loan_id,
        )
        return _loan(row) if row else None

    async def installments(self, loan_id: UUID) -> list[InstallmentRecord]:
        return [_installment(r) for r in await self._conn.fetch(_INSTALLMENTS, loan_id)]

    async def save_installments(self, loan_id: UUID, changed: Sequence[InstallmentRecord]) -> None:
        if not changed:
            return
        sets = ", ".join(f"{name} = t.{name}" for name in _INSTALLMENT_COLUMNS if name != "number")
        await self._conn.execute(
            f"UPDATE caas_core.loan_installments i SET {sets} "
            f"FROM {_ARRAYS} AS t({', '.join(_INSTALLMENT_COLUMNS)}) "
            "WHERE i.loan_id = $1 AND i.number = t.number",
            loan_id,
            *_installment_arrays(changed),
        )

    def _sets(self, changes: LoanChanges, args: list[Any]) -> list[str]:
        sets = []
        for f in fields(LoanChanges):
            value = getattr(changes, f.name)
            if value is not None:
                args.append(value)
                sets.append(f"{f.name} = ${len(args)}")
        return sets

    async def update(self, loan_id: UUID, changes: LoanChanges) -> LoanRecord:
        args: list[Any] = [loan_id]
        sets = [*self._sets(changes, args), "updated_at = now()", "version = version + 1"]
        row = await self._conn.fetchrow(
            _written(
                f"WITH written AS (UPDATE caas_core.loans SET {', '.join(sets)} WHERE id = $1 RETURNING *)"
            ),
            *args,
        )
        assert row is not None
        return _loan(row)

    async def move(
        self,
        loan: LoanRecord,
        to_status: str,
        call: Invocation,
        reason: str,
        changes: LoanChanges | None = None,
        told: str | None = None,
    ) -> LoanRecord:
        args: list[Any] = [loan.id, to_status]
        sets = ["status = $2", "updated_at = now()", "version = version + 1"]
        sets += self._sets(changes or LoanChanges(), args)
        if to_status in _STATUS_TIME:
            sets.append(f"{_STATUS_TIME[to_status]} = now()")
        if to_status == "active":
            sets.append("disbursed_at = coalesce(disbursed_at, now())")
        k = len(args)
        actor = call.principal
        # As text: a connection without the pools' json codec (a migration's, a test's) moves too.
        fields_json = json.dumps(
            loan_event_fields(loan, to_status, told or reason, loan.status), separators=(",", ":")
        )
        args += [loan.status, actor.subject, actor.role.value, reason[:2000], fields_json, *audit_args(call)]
        # The move, its timeline entry, its audit row, its event (tools.loans.loans.loan_event of the
        # moved row: the fields known before, and the time the statement writes) and the moved loan.
        sql = _written(
            f"""
            WITH written AS (
                UPDATE caas_core.loans SET {", ".join(sets)} WHERE id = $1 RETURNING *
            ), entry AS (
                INSERT INTO caas_core.loan_transitions
                    (loan_id, from_status, to_status, actor_id, actor_role, reason)
                SELECT id, ${k + 1}, $2, ${k + 2}, ${k + 3}, ${k + 4} FROM written
            ), audit AS ({audit_row_sql(k + 6, "loan", "id::text", "written")}
            ), event AS (
                INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
                SELECT 'loan', id::text, 'loan.' || status, ${k + 5}::text::jsonb
                    || jsonb_build_object('occurred_at', {iso_timestamp_sql("updated_at")})
                FROM written
            )"""
        )
        try:
            row = await self._conn.fetchrow(sql, *args)
        except asyncpg.UniqueViolationError:
            raise Conflict("this gateway reference already confirmed another loan's disbursement") from None
        assert row is not None
        return _loan(row)

    async def repayment_by_reference(self, loan_id: UUID, reference: str) -> RepaymentRecord | None:
        row = await self._conn.fetchrow(
            f"{_REPAYMENTS} WHERE loan_id = $1 AND reference = $2", loan_id, reference
        )
        return _repayment(row) if row else None

    async def repayments(self, loan_id: UUID) -> list[RepaymentRecord]:
        return [_repayment(r) for r in await self._conn.fetch(_LOAN_REPAYMENTS, loan_id)]

    async def insert_repayment(self, record: RepaymentRecord) -> RepaymentRecord:
        columns = [c for c in _REPAYMENT_COLUMNS if c != "recorded_at"]
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        row = await self._conn.fetchrow(
            f"INSERT INTO caas_core.loan_repayments ({', '.join(columns)}) VALUES ({placeholders}) "
            f"RETURNING {', '.join(_REPAYMENT_COLUMNS)}",
            *(getattr(record, c) for c in columns),
        )
        assert row is not None
        return _repayment(row)
