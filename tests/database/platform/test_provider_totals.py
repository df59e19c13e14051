"""``caas_providers_active`` from a running total (migration 0029): lenders onboarded, suspended,
reinstated and removed move it in their own transaction, capital and bid counts do not, and it always
equals a count of the providers table, a currency whose lenders are all suspended reading 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from database import migrate
from tests.helpers.metrics_history import from_history_and_totals

_LENDER = """
INSERT INTO caas_core.providers (name, provider_type, currency, countries, accepted_grades, min_score,
    max_dti, min_term_months, max_term_months, min_amount_minor, max_amount_minor, capital_available_minor,
    min_annual_rate, max_annual_rate, commission_plan, webhook_url, webhook_secret_encrypted, created_by)
VALUES ($1, 'bank', $2, ARRAY['NG'], ARRAY['A'], 600, 0.4, 1, 12, 1000, 100000, 50000, 0.1, 0.2, '{}',
        'https://lender.example/hook', '\\x00', 't')
RETURNING id
"""


@pytest.fixture
async def db(fresh_database: Any) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(await fresh_database())
    try:
        await migrate.migrate(conn, "core")
        yield conn
    finally:
        await conn.close()


async def active(db: asyncpg.Connection) -> dict[str, int]:
    history, totals = await from_history_and_totals(db)
    assert totals == history
    return {a: int(n) for (metric, a, _), n in totals.items() if metric == "providers_active"}


async def test_active_lenders_follow_onboarding_suspension_reinstatement_and_removal(
    db: asyncpg.Connection,
) -> None:
    first, second, ghana = [
        await db.fetchval(_LENDER, name, c) for name, c in (("One", "NGN"), ("Two", "NGN"), ("Three", "GHS"))
    ]
    assert await active(db) == {"NGN": 2, "GHS": 1}

    suspend = (
        "UPDATE caas_core.providers SET status = 'suspended', suspended_reason = 'test', "
        "suspended_at = now(), suspended_by = 't' WHERE id = $1"
    )
    await db.execute(suspend, first)
    await db.execute(suspend, ghana)
    assert await active(db) == {"NGN": 1, "GHS": 0}  # all of GHS suspended: 0, not absent
    await db.execute(suspend, ghana)  # suspended again: no change of status, no change of count
    await db.execute("UPDATE caas_core.providers SET capital_available_minor = 1, decided_count = 3")
    assert await active(db) == {"NGN": 1, "GHS": 0}

    await db.execute(
        "UPDATE caas_core.providers SET status = 'active', suspended_reason = NULL, "
        "suspended_at = NULL, suspended_by = NULL WHERE id = $1",
        first,
    )
    await db.execute("UPDATE caas_core.providers SET currency = 'KES' WHERE id = $1", second)
    assert await active(db) == {"NGN": 1, "GHS": 0, "KES": 1}
    await db.execute("DELETE FROM caas_core.providers WHERE id = ANY($1)", [first, ghana])
    # NGN's lenders all gone (one removed, one moved to KES) and GHS's: neither reads any more.
    assert await active(db) == {"KES": 1}
    await db.execute("SELECT caas_core.recount_metric_totals()")
    assert await active(db) == {"KES": 1}
