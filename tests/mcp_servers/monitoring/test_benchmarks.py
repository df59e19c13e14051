"""Provider benchmarks and revenue by month through a real MCP client on real PostgreSQL, after a
journey: lenders invited, bidding, declining and one accepted; loans disbursed, one defaulted; every
figure the tools give matches what the journey did."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.bidding import ACCEPT, as_borrower, as_provider, invite, market, open_application, place
from tests.helpers.clock import MovableClock
from tests.helpers.loans import (
    AGE,
    ORIGINATE,
    REVENUE,
    accept_bid,
    approved_application,
    disburse,
    lender,
)
from tests.helpers.risk import call, refused, uid
from tools.platform.principal import Role

BENCHMARKS = "monitoring_list_provider_benchmarks"
MONTHS = "monitoring_get_revenue_by_month"
DECLINE = "providers_decline_invitation"


async def benchmarks_of(client: Client, ids: list[str], **args: Any) -> dict[str, dict[str, Any]]:
    """Every page, as an operator; the rows of ``ids``."""
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        page = await call(
            client, BENCHMARKS, {**args, "limit": 100, **({"cursor": cursor} if cursor else {})}
        )
        found |= {row["provider_id"]: row for row in page["providers"] if row["provider_id"] in ids}
        if (cursor := page["next_cursor"]) is None:
            return found


async def median_bid_seconds(db: asyncpg.Connection, provider_id: str) -> int:
    """What the journey did, read row by row: invitation to first bid per application, the median."""
    waits = sorted(
        (r["first"] - r["invited_at"]).total_seconds()
        for r in await db.fetch(
            "SELECT i.invited_at, min(b.created_at) AS first FROM caas_core.bids b "
            "JOIN caas_core.provider_invitations i USING (application_id, provider_id) "
            "WHERE b.provider_id = $1 GROUP BY i.invited_at",
            uuid.UUID(provider_id),
        )
    )
    middle = len(waits) // 2
    return round(waits[middle] if len(waits) % 2 else (waits[middle - 1] + waits[middle]) / 2)


async def test_each_lenders_funnel_time_to_bid_and_rates_match_the_journey(
    client: Client, principal: Any, country: str, core_db: asyncpg.Connection
) -> None:
    first, (a, b, c) = await market(client, principal, country, lenders=3)
    bid_a = await place(client, principal, first, a)
    await place(client, principal, first, b, annual_rate="0.26")
    as_provider(principal, c)
    await call(client, DECLINE, {"application": first["id"], "reason": "outside our appetite"})
    as_borrower(principal, first)
    await call(
        client,
        ACCEPT,
        {"application": first["id"], "bid": bid_a["id"], "idempotency_key": uid("k")},
    )
    second = await open_application(client, principal, country)
    await invite(client, principal, second)
    await place(client, principal, second, a)

    principal(uid("op"), Role.OPERATOR)
    rows = await benchmarks_of(client, [a, b, c])
    funnel = {
        p: (r["invitations"], r["bids"], r["accepted"], r["bid_rate"], r["acceptance_rate"])
        for p, r in rows.items()
    }
    assert funnel == {
        a: (2, 2, 1, "1.0000", "0.5000"),
        b: (2, 1, 0, "0.5000", "0.0000"),
        c: (2, 0, 0, "0.0000", None),
    }
    assert rows[a]["median_time_to_bid_s"] == await median_bid_seconds(core_db, a)
    assert rows[b]["median_time_to_bid_s"] == await median_bid_seconds(core_db, b)
    assert rows[c]["median_time_to_bid_s"] is None
    for row in rows.values():  # no loan was disbursed yet
        assert (row["loans"], row["defaulted"], row["default_rate"]) == (0, 0, None)
        assert row["volume"] == {"amount": "0.00", "currency": "GHS"} and row["status"] == "active"


async def loan_of(
    client: Client,
    principal: Any,
    runtime: Runtime,
    db: asyncpg.Connection,
    provider: dict[str, Any],
    **terms: Any,
) -> dict[str, Any]:
    """An approved application in the provider's currency, its accepted bid, the loan, disbursed."""
    currency = provider["currency"]
    app = await approved_application(client, principal, db, currency=currency, **terms.pop("app", {}))
    await accept_bid(runtime, db, app, provider, currency=currency, **terms)
    principal(uid("op-loans"), Role.OPERATOR)
    return await disburse(runtime, await call(client, ORIGINATE, {"application": app["id"]}))


async def test_default_rate_and_volume_count_disbursed_loans_and_those_in_default(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    provider = await lender(client, principal)
    late = await loan_of(client, principal, runtime, core_db, provider)
    await loan_of(client, principal, runtime, core_db, provider, amount_minor=10_000_000)
    principal(uid("op"), Role.OPERATOR)
    [row] = (await benchmarks_of(client, [provider["id"]], currency="NGN")).values()
    assert (row["loans"], row["defaulted"], row["default_rate"]) == (2, 0, "0.0000")
    assert row["volume"] == {"amount": "350000.00", "currency": "NGN"}

    # 91 days past the first installment: aging defaults the late loan (the other is as late: both).
    clock.move(days=(date.fromisoformat(late["first_due_date"]) - clock.today()).days + 91)
    await call(client, AGE, {})
    [row] = (await benchmarks_of(client, [provider["id"]], currency="NGN")).values()
    assert (row["loans"], row["defaulted"], row["default_rate"]) == (2, 2, "1.0000")


async def test_pages_follow_the_cursor_and_a_forged_cursor_is_refused(client: Client, principal: Any) -> None:
    made = [(await lender(client, principal, currency="BWP", countries=["BW"]))["id"] for _ in range(3)]
    principal(uid("op"), Role.OPERATOR)
    seen: list[str] = []
    cursor = None
    while True:
        page = await call(
            client, BENCHMARKS, {"currency": "BWP", "limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        assert len(page["providers"]) <= 2 and all(p["currency"] == "BWP" for p in page["providers"])
        seen += [p["provider_id"] for p in page["providers"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) and set(made) <= set(seen)
    assert await refused(client, BENCHMARKS, {"cursor": "not-a-cursor"}) == "invalid_argument"
    assert await refused(client, BENCHMARKS, {"limit": 101}) == "invalid_argument"


async def test_revenue_by_month_adds_up_as_the_platform_revenue_does(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    # Pula: no other test books revenue in it, so this month's figure is this loan's commission alone.
    provider = await lender(client, principal, currency="BWP", countries=["BW"], min_amount="500.00")
    await loan_of(client, principal, runtime, core_db, provider)
    principal(uid("admin"), Role.ADMIN)
    result = await call(client, MONTHS, {"currency": "BWP", "months": 3})
    today = runtime.clock.today()
    assert result["period_end"] >= today.isoformat() >= result["period_start"]
    [month] = result["months"]
    assert (month["currency"], month["month"]) == ("BWP", today.strftime("%Y-%m"))
    # 8.5% of the 250000.00 principal, at disbursement (the default plan); nothing repaid yet.
    assert month["commission_at_disbursement"] == {"amount": "21250.00", "currency": "BWP"}
    assert month["commission_on_interest"] == {"amount": "0.00", "currency": "BWP"}
    revenue = await call(
        client,
        REVENUE,
        {
            "currency": "BWP",
            "period_start": today.replace(day=1).isoformat(),
            "period_end": result["period_end"],
        },
    )
    for field in (
        "commission_at_disbursement",
        "commission_on_interest",
        "commission_reversals",
        "commission",
    ):
        assert month[field] == revenue[field], field
    assert (month["fee_income"], month["total"], month["journals"]) == (
        revenue["fee_income"],
        revenue["total"],
        revenue["journals"],
    )
    every = await call(client, MONTHS, {})
    assert month in every["months"] and every["period_start"] < result["period_start"]
    assert await refused(client, MONTHS, {"months": 25}) == "invalid_argument"
