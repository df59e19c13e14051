"""A page of loans for ``list_loans``: keyset by (created_at, id), with what each still owes."""

from __future__ import annotations

import asyncpg

from database.sql import Filters
from tools.loans.ports import LoanListRow, LoanQuery

__all__ = ["loan_page"]

_KEY = ("l.created_at", "l.id")
_SELECT = (
    "SELECT l.id, l.application_id, a.reference AS application_reference, l.provider_id, "
    "p.name AS provider_name, l.status, l.currency, l.principal_minor, l.days_past_due, l.created_at, "
    "l.disbursed_at FROM caas_core.loans l "
    "JOIN caas_core.applications a ON a.id = l.application_id "
    "JOIN caas_core.providers p ON p.id = l.provider_id"
)
# The same reading as tools.loans.domain.loans.open_outstanding: installments neither cancelled nor settled,
# each owing due - paid of every component; the first of them is the next one due. Joined to the page
# only, so a listing never sums the schedules of loans it does not show.
_OWED = """
    SELECT sum(owed)::bigint AS outstanding_minor,
           (array_agg(number ORDER BY number))[1] AS next_due_number,
           (array_agg(due_date ORDER BY number))[1] AS next_due_date,
           (array_agg(owed ORDER BY number))[1] AS next_due_minor
    FROM (
        SELECT number, due_date,
               principal_due_minor - principal_paid_minor + interest_due_minor - interest_paid_minor
                   + fee_due_minor - fee_paid_minor AS owed
        FROM caas_core.loan_installments WHERE loan_id = page.id AND NOT cancelled
    ) i
    WHERE owed > 0
"""


def _row(row: asyncpg.Record) -> LoanListRow:
    data = dict(row.items())
    data["outstanding_minor"] = data["outstanding_minor"] or 0
    return LoanListRow(**data)


async def loan_page(pool: asyncpg.Pool, query: LoanQuery) -> list[LoanListRow]:
    f = Filters()
    if query.statuses:
        f.add(f"l.status = ANY({f.arg(list(query.statuses))}::text[])")
    if query.provider_id is not None:
        f.add(f"l.provider_id = {f.arg(query.provider_id)}")
    if query.borrower_id is not None:
        f.add(f"l.borrower_id = {f.arg(query.borrower_id)}")
    if query.created_by is not None:
        f.add(f"a.created_by = {f.arg(query.created_by)}")
    if query.currency is not None:
        f.add(f"l.currency = {f.arg(query.currency)}")
    if query.min_days_past_due is not None:
        # A written-off loan keeps the days it was written off at, but nothing is past due on it.
        f.add(f"l.days_past_due >= {f.arg(query.min_days_past_due)} AND l.status <> 'written_off'")
    f.keyset(_KEY, query.after)
    sql = (
        f"WITH page AS ({f.page(_SELECT, _KEY, query.limit)}) "
        f"SELECT page.*, o.* FROM page LEFT JOIN LATERAL ({_OWED}) o ON true "
        "ORDER BY page.created_at DESC, page.id DESC"
    )
    return [_row(r) for r in await pool.fetch(sql, *f.args)]
