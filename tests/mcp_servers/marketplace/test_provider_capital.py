"""The ledger holds the same provider capital as the provider row: deposits, withdrawals and their
reversals follow it."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.bidding import ACCEPT, as_borrower, market, place
from tests.helpers.common import error_code
from tests.helpers.loans import active_loan
from tests.helpers.providers import GET, ONBOARD, UPDATE, provider_body
from tools.ledger.domain.chart import account
from tools.platform.principal import Role

BALANCE = "admin_get_account_balance"


async def _balance(client: Client, code: str) -> int:
    return int((await client.call_tool(BALANCE, {"account": code})).structured_content["balance_minor"])


async def test_onboarding_deposits_and_capital_changes_post_deposits_and_withdrawals(
    client: Client, principal: Any
) -> None:
    principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    body = provider_body(capital_available="1000000.00")
    done = (await client.call_tool(ONBOARD, {"provider": body})).structured_content
    pid, currency = done["provider"]["id"], body["currency"]
    available = account("provider", "capital_available", currency, pid).code
    contributed = account("provider", "capital_contributed", currency, pid).code
    assert await _balance(client, available) == 100_000_000
    assert await _balance(client, contributed) == 100_000_000  # reported in its normal (credit) sign

    for capital, expected in (("1500000.00", 150_000_000), ("400000.00", 40_000_000)):
        await client.call_tool(UPDATE, {"provider": pid, "changes": {"capital_available": capital}})
        assert await _balance(client, available) == expected
        assert await _balance(client, contributed) == expected


REVERSE = "admin_reverse_journal"
REASON = "capital recorded in error"


async def _capital_journals(db: asyncpg.Connection, pid: str) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT kind, id FROM caas_ledger.journals WHERE source_id LIKE $1 || ':%' ORDER BY created_at",
        pid,
    )
    return {r["kind"]: str(r["id"]) for r in rows}


async def _row_and_ledger(client: Client, pid: str, currency: str) -> tuple[int, int]:
    """The available capital matching reads (the provider row) and the ledger's, in minor units."""
    row = (await client.call_tool(GET, {"provider": pid})).structured_content["capital_available"]
    available = account("provider", "capital_available", currency, pid).code
    return round(Decimal(row["amount"]) * 100), await _balance(client, available)


async def test_a_reversed_deposit_or_withdrawal_moves_the_providers_row_with_the_ledger(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    """A reversal once left the row (what matching and bidding read) at its old figure while the ledger
    moved: the lender could commit capital the ledger said it did not have."""
    principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    body = provider_body(capital_available="1000000.00")
    pid = (await client.call_tool(ONBOARD, {"provider": body})).structured_content["provider"]["id"]
    await client.call_tool(UPDATE, {"provider": pid, "changes": {"capital_available": "400000.00"}})
    journals = await _capital_journals(core_db, pid)
    principal("admin-1", Role.ADMIN)

    # 1,000,000.00 deposited, 400,000.00 left: the deposit cannot be taken back whole.
    refusal = await client.call_tool(
        REVERSE, {"journal": journals["capital_deposit"], "reason": REASON}, raise_on_error=False
    )
    assert error_code(refusal) == "conflict"
    assert "has only 400000.00 NGN available" in refusal.content[0].text
    assert await _row_and_ledger(client, pid, "NGN") == (40_000_000, 40_000_000)

    await client.call_tool(REVERSE, {"journal": journals["capital_withdrawal"], "reason": REASON})
    assert await _row_and_ledger(client, pid, "NGN") == (100_000_000, 100_000_000)
    await client.call_tool(REVERSE, {"journal": journals["capital_deposit"], "reason": REASON})
    assert await _row_and_ledger(client, pid, "NGN") == (0, 0)


async def test_capital_of_a_currency_the_provider_left_is_not_reversed(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    body = provider_body(capital_available="1000000.00")
    pid = (await client.call_tool(ONBOARD, {"provider": body})).structured_content["provider"]["id"]
    amounts = {"min_amount": "5000.00", "max_amount": "900000.00", "capital_available": "1000000.00"}
    await client.call_tool(UPDATE, {"provider": pid, "changes": {"currency": "MUR", **amounts}})
    [ngn_deposit] = await core_db.fetch(
        "SELECT id FROM caas_ledger.journals WHERE kind = 'capital_deposit' AND source_id = $1",
        f"{pid}:v1:NGN",
    )
    principal("admin-1", Role.ADMIN)
    refusal = await client.call_tool(
        REVERSE, {"journal": str(ngn_deposit["id"]), "reason": REASON}, raise_on_error=False
    )
    assert error_code(refusal) == "conflict" and "lends in MUR since its version" in refusal.content[0].text
    assert await _row_and_ledger(client, pid, "MUR") == (100_000_000, 100_000_000)
    assert await _balance(client, account("provider", "capital_available", "NGN", pid).code) == 0

    # Back to NGN with new capital: the first NGN deposit was withdrawn at the first change, so
    # reversing it now would take it out a second time.
    principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    back = {"min_amount": "50000.00", "max_amount": "5000000.00", "capital_available": "3000000.00"}
    await client.call_tool(UPDATE, {"provider": pid, "changes": {"currency": "NGN", **back}})
    principal("admin-1", Role.ADMIN)
    again = await client.call_tool(
        REVERSE, {"journal": str(ngn_deposit["id"]), "reason": REASON}, raise_on_error=False
    )
    assert error_code(again) == "conflict" and "before provider" in again.content[0].text
    assert await _row_and_ledger(client, pid, "NGN") == (300_000_000, 300_000_000)


async def test_a_lender_changes_currency_only_once_nothing_is_bid_reserved_or_lent_in_the_old_one(
    client: Client, principal: Any, runtime: Runtime, country: str, core_db: asyncpg.Connection
) -> None:
    """A probe changed a lender's currency with a live bid and an accepted offer: the reservation's
    release and the loan's settlements, in the old currency, were then added to capital counted in the
    new one, and a bid in the old currency could still be accepted, taking the ledger below zero."""
    app, (lender,) = await market(client, principal, country, lenders=1)
    bid = await place(client, principal, app, lender)
    to_kes = {"currency": "KES", "min_amount": "5000.00", "max_amount": "900000.00"}
    change = {"provider": lender, "changes": {**to_kes, "capital_available": "300000.00"}}

    async def refused_change() -> str:
        principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
        result = await client.call_tool(UPDATE, change, raise_on_error=False)
        assert error_code(result) == "conflict"
        row = await core_db.fetchrow("SELECT currency FROM caas_core.providers WHERE id = $1", lender)
        assert row["currency"] == "GHS"
        return str(result.content[0].text)

    assert "1 live bids, 0.00 GHS reserved" in await refused_change()
    as_borrower(principal, app)
    await client.call_tool(
        ACCEPT, {"application": app["id"], "bid": bid["id"], "idempotency_key": uuid.uuid4().hex}
    )
    assert f"0 live bids, {bid['amount']['amount']} GHS reserved" in await refused_change()

    _, provider = await active_loan(client, principal, runtime, core_db)
    principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    lent = {"provider": provider["id"], "changes": {**to_kes, "capital_available": "1.00"}}
    result = await client.call_tool(UPDATE, lent, raise_on_error=False)
    assert error_code(result) == "conflict" and "1 loans not yet closed, all in NGN" in result.content[0].text

    # A lender with nothing going changes freely, as before.
    idle = (await client.call_tool(ONBOARD, {"provider": provider_body()})).structured_content["provider"]
    moved = await client.call_tool(UPDATE, {**lent, "provider": idle["id"]})
    assert moved.structured_content["currency"] == "KES"


async def test_two_capital_changes_from_one_reading_do_not_both_land(client: Client, principal: Any) -> None:
    """Capital is set as a new total: two operators (or one and an offer being accepted) changing it
    from the same reading lost one change silently. With expected_version the second is refused."""
    principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    body = provider_body(capital_available="1000000.00")
    read = (await client.call_tool(ONBOARD, {"provider": body})).structured_content["provider"]
    pid, version = read["id"], read["version"]
    available = account("provider", "capital_available", body["currency"], pid).code
    calls = [
        client.call_tool(
            UPDATE,
            {"provider": pid, "changes": {"capital_available": amount}, "expected_version": version},
            raise_on_error=False,
        )
        for amount in ("1500000.00", "1200000.00")
    ]
    results = await asyncio.gather(*calls)
    assert sorted(error_code(r) or "ok" for r in results) == ["conflict", "ok"]
    [won] = [r.structured_content for r in results if not r.is_error]
    [lost] = [r for r in results if r.is_error]
    assert f"is at version {version + 1}, not {version}" in lost.content[0].text  # type: ignore[union-attr]
    now = (await client.call_tool(GET, {"provider": pid})).structured_content
    assert (now["version"], now["capital_available"]) == (version + 1, won["capital_available"])
    assert await _balance(client, available) == round(Decimal(won["capital_available"]["amount"]) * 100)
    again = {"provider": pid, "changes": {"capital_available": "900000.00"}, "expected_version": version + 1}
    assert (await client.call_tool(UPDATE, again)).structured_content["version"] == version + 2


async def test_capital_given_back_past_the_most_one_may_set_blocks_no_other_change(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    """A probe's find: a reversed withdrawal (or settlements) took capital past the most update_provider
    accepts, and from then on every change, a rename included, was refused for that capital."""
    principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    top = "100000000000000.00"
    pid = (
        await client.call_tool(ONBOARD, {"provider": provider_body(capital_available=top)})
    ).structured_content["provider"]["id"]
    await client.call_tool(UPDATE, {"provider": pid, "changes": {"capital_available": "99999999999000.00"}})
    await client.call_tool(UPDATE, {"provider": pid, "changes": {"capital_available": top}})
    journals = await _capital_journals(core_db, pid)
    principal("admin-1", Role.ADMIN)
    await client.call_tool(REVERSE, {"journal": journals["capital_withdrawal"], "reason": REASON})
    principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    name = f"Renamed {uuid.uuid4().hex[:8]}"
    renamed = (
        await client.call_tool(UPDATE, {"provider": pid, "changes": {"name": name}})
    ).structured_content
    assert (renamed["name"], renamed["capital_available"]["amount"]) == (name, "100000000001000.00")
    too_much = {"provider": pid, "changes": {"capital_available": "100000000001000.00"}}
    assert error_code(await client.call_tool(UPDATE, too_much, raise_on_error=False)) == "invalid_argument"
