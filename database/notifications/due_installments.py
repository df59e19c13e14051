"""What the repayment reminders read from the system of record: installments coming due."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import asyncpg

from tools.notifications.ports import DueInstallment

__all__ = ["PgDueInstallments"]

_DUE = """
SELECT i.loan_id, l.application_id, l.borrower_id, a.reference, i.number, i.due_date, l.currency,
       (i.principal_due_minor - i.principal_paid_minor) + (i.interest_due_minor - i.interest_paid_minor)
         + (i.fee_due_minor - i.fee_paid_minor) AS amount_due_minor
FROM caas_core.loan_installments i
JOIN caas_core.loans l ON l.id = i.loan_id
JOIN caas_core.applications a ON a.id = l.application_id
WHERE i.due_date BETWEEN $1 AND $2
  AND l.status IN ('active', 'delinquent')
  AND NOT i.cancelled AND i.settled_at IS NULL
  AND (i.principal_due_minor - i.principal_paid_minor) + (i.interest_due_minor - i.interest_paid_minor)
        + (i.fee_due_minor - i.fee_paid_minor) > 0
  AND ($3::date IS NULL OR (i.due_date, i.loan_id, i.number) > ($3, $4, $5))
ORDER BY i.due_date, i.loan_id, i.number
LIMIT $6
"""


class PgDueInstallments:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def due_between(
        self, first: date, last: date, after: tuple[date, UUID, int] | None, limit: int
    ) -> list[DueInstallment]:
        start = after or (None, None, None)
        rows = await self._pool.fetch(_DUE, first, last, start[0], start[1], start[2], limit)
        return [DueInstallment(**dict(r.items())) for r in rows]
