"""get_platform_revenue's commission by provider reaches the providers' commission_expense accounts
through an index of those accounts alone (migration 0025), not by filtering every provider account
(issue 14, part 6: at 100k providers that read 16k accounts to find the few)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from database.loans.commissions import _BY_PROVIDER


def scans_of(plan: dict[str, Any], table: str) -> list[dict[str, Any]]:
    found = [plan] if plan.get("Relation Name") == table else []
    for child in plan.get("Plans", []):
        found += scans_of(child, table)
    return found


async def test_commission_by_provider_reads_only_commission_expense_accounts(
    core_db: asyncpg.Connection,
) -> None:
    end = datetime.now(UTC)
    async with core_db.transaction():
        # Priced out, not forbidden: without a fitting index the plan filters a wider scan instead.
        await core_db.execute("SET LOCAL enable_seqscan = off")
        raw = await core_db.fetchval(
            f"EXPLAIN (FORMAT JSON) {_BY_PROVIDER}", "NGN", end - timedelta(days=365), end
        )
    # core_db decodes json as the product's connections do; a plain connection would hand back text.
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    [accounts] = scans_of(plan, "accounts")
    assert accounts.get("Index Name") == "accounts_commission_expense_idx", accounts
    assert "Filter" not in accounts, accounts  # every account the index yields is one the report sums
