"""A provider's capital in a currency, as the ledger holds it (``get_provider_capital``), and what it
still has going there, which must be settled before it lends in another (``update_provider``)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from database.platform.audit import Connection
from tools.ledger.domain.chart import account
from tools.marketplace.ports import CapitalFigures

__all__ = ["capital_figures", "in_currency"]

# The provider's two capital accounts, and the principal its loans still owe it (each loan's
# principal_receivable account, found by its code): the cached balances, as reconcile_ledger checks them.
_CAPITAL_FIGURES = """
SELECT
    coalesce((SELECT balance_minor FROM caas_ledger.account_balances WHERE account_id = $2), 0) AS available,
    coalesce((SELECT balance_minor FROM caas_ledger.account_balances WHERE account_id = $3), 0) AS reserved,
    coalesce(sum(b.balance_minor), 0) AS lent,
    count(*) FILTER (WHERE b.balance_minor <> 0) AS loans
FROM caas_core.loans l
JOIN caas_ledger.accounts a ON a.code = 'loan:' || l.id::text || ':principal_receivable:' || $4::text
JOIN caas_ledger.account_balances b ON b.account_id = a.id
WHERE l.provider_id = $1 AND l.currency = $4::text
"""


# Counted with the provider's own indexes (bids_provider_idx, loans_provider_idx): a rare admin call.
_IN_CURRENCY = """
SELECT (SELECT count(*) FROM caas_core.bids WHERE provider_id = $1 AND status = 'active')::int AS bids,
       coalesce((SELECT balance_minor FROM caas_ledger.account_balances WHERE account_id = $2), 0)
           AS reserved,
       (SELECT count(*) FROM caas_core.loans WHERE provider_id = $1
        AND status IN ('pending_disbursement', 'active', 'delinquent', 'defaulted'))::int AS loans
"""


async def in_currency(conn: Connection, provider_id: UUID, currency: str) -> tuple[int, int, int]:
    """Live bids, capital reserved for accepted offers (minor units of ``currency``) and loans not yet
    closed, written off or cancelled, in the provider's transaction."""
    reserved = account("provider", "capital_reserved", currency, str(provider_id)).id
    row = await conn.fetchrow(_IN_CURRENCY, provider_id, reserved)
    assert row is not None
    return row["bids"], row["reserved"], row["loans"]


async def capital_figures(db: Connection | asyncpg.Pool, provider_id: UUID, currency: str) -> CapitalFigures:
    owner = str(provider_id)
    row = await db.fetchrow(
        _CAPITAL_FIGURES,
        provider_id,
        account("provider", "capital_available", currency, owner).id,
        account("provider", "capital_reserved", currency, owner).id,
        currency,
    )
    assert row is not None
    return CapitalFigures(
        available_minor=int(row["available"]),
        reserved_minor=int(row["reserved"]),
        lent_minor=int(row["lent"]),
        loans_outstanding=int(row["loans"]),
    )
