"""Comparing and accepting offers through a real MCP client on real PostgreSQL: the APR ranking, the
atomic acceptance (other bids rejected, capital reserved in the providers row and the ledger, the
application offer_accepted), idempotency, refusals, and fifty acceptances racing on one application.

The three offers of the full path, on 250000.00 GHS over 12 months (figures from the domain rules):
  A  24% annuity, no fee:       APR 24.00%, total cost of credit 33678.79, installment 23639.90
  B  22% annuity, 5000.00 fee:  APR 25.95% (the fee raises it above the 22% nominal rate)
  C  20% flat, no fee:          APR 35.07% (the lowest nominal rate, charged on the whole principal)
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from tests.helpers.bidding import (
    ACCEPT,
    BALANCE,
    BIDS,
    COMPARE,
    PLACE,
    REVISE,
    TIMELINE,
    WITHDRAW,
    as_borrower,
    as_provider,
    bid_body,
    bid_rows,
    call,
    capital,
    events,
    market,
    open_application,
    place,
    refused,
    uid,
)
from tests.helpers.clock import MovableClock
from tests.helpers.common import error_code
from tests.helpers.confirm import CONFIRM, confirmed, pending_id, person_confirms
from tests.helpers.errors import error_message
from tests.helpers.markets import Countries
from tools.loans.domain.apr import annual_percentage_rate, apr_percent
from tools.loans.domain.schedules import build_schedule
from tools.platform.principal import Role

AMOUNT_MINOR = 25_000_000


async def three_offers(
    client: Client, principal: Any, country: str
) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    app, providers = await market(client, principal, country)
    a, b, c = providers
    bids = [
        await place(client, principal, app, c, annual_rate="0.20", schedule_method="flat"),
        await place(client, principal, app, b, annual_rate="0.22", origination_fee="5000.00"),
        await place(client, principal, app, a, annual_rate="0.24"),
    ]
    return app, [a, b, c], [bids[2], bids[1], bids[0]]


def key() -> str:
    return f"accept-{uuid.uuid4()}"


async def reservations(db: asyncpg.Connection, bid_ids: list[str]) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT id, source_id FROM caas_ledger.journals WHERE kind = 'reservation' AND source_id = ANY($1)",
        bid_ids,
    )


async def test_offers_rank_by_apr_and_the_accepted_one_reserves_capital_atomically(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, providers, bids = await three_offers(client, principal, country)
    before = {p: await capital(core_db, p) for p in providers}
    as_borrower(principal, app)
    await the_comparison_ranks_by_apr_with_the_disclosed_figures(client, app, providers, bids)
    accepted = await accepting_the_best_rejects_the_others_once_per_key(client, app, bids)
    await the_capital_is_reserved_in_the_provider_row_and_the_ledger(
        client, principal, core_db, app, providers, bids, before, accepted
    )
    await the_application_moved_on_and_takes_no_more_bids(client, principal, core_db, app, providers, bids)


async def the_comparison_ranks_by_apr_with_the_disclosed_figures(
    client: Client, app: dict[str, Any], providers: list[str], bids: list[dict[str, Any]]
) -> None:
    (a, b, _), (bid_a, bid_b, bid_c) = providers, bids
    comparison = await call(client, COMPARE, {"application": app["reference"]})
    offers = comparison["offers"]
    assert [o["bid"]["id"] for o in offers] == [bid_a["id"], bid_b["id"], bid_c["id"]]
    assert [o["rank"] for o in offers] == [1, 2, 3] and comparison["best_bid_id"] == bid_a["id"]
    assert [o["apr_percent"] for o in offers] == ["24.00", "25.95", "35.07"]

    # B by hand (tools.loans.domain.apr): 12 annuity installments of 250000.00 at 22%, the 5000.00 fee
    # deducted from the amount financed (245000.00), so the APR rises above the nominal 22%.
    schedule = build_schedule(AMOUNT_MINOR, "GHS", Decimal("0.22"), 12, date(2030, 1, 1))
    assert offers[1]["apr"] == str(annual_percentage_rate(24_500_000, schedule.payments)) == "0.259472"
    assert apr_percent(AMOUNT_MINOR, schedule.payments) == Decimal("22.00")  # the same loan without the fee
    assert offers[1]["amount_financed"] == {"amount": "245000.00", "currency": "GHS"}
    finance_charge = schedule.total_of_payments - 24_500_000
    assert offers[1]["finance_charge"]["amount"] == str(Decimal(finance_charge) / 100)
    assert offers[0]["installment"] == {"amount": "23639.90", "currency": "GHS"}
    assert offers[0]["finance_charge"]["amount"] == "33678.79" and offers[0]["apr"] == "0.240000"
    assert (offers[2]["installment"]["amount"], offers[2]["finance_charge"]["amount"]) == (
        "25000.00",
        "50000.00",
    )
    names = {o["bid"]["provider_id"]: o["bid"]["provider_name"] for o in offers}
    assert comparison["explanation"].startswith(f"{names[a]} is best of 3 live offers: a lower APR: 24.00%")
    assert f"against 25.95% for {names[b]}" in comparison["explanation"]
    assert "below" in offers[2]["why"] and "a lower APR: 25.95% against 35.07%" in offers[2]["why"]
    assert comparison["excluded"] == []


async def accepting_the_best_rejects_the_others_once_per_key(
    client: Client, app: dict[str, Any], bids: list[dict[str, Any]]
) -> Any:
    bid_a, bid_b, bid_c = bids
    k = key()
    accepted = await call(
        client, ACCEPT, {"application": app["id"], "bid": bid_a["id"], "idempotency_key": k}
    )
    assert (accepted["application_status"], accepted["replayed"]) == ("offer_accepted", False)
    assert (accepted["accepted"]["status"], accepted["accepted"]["id"]) == ("accepted", bid_a["id"])
    assert accepted["capital_reserved"] == {"amount": "250000.00", "currency": "GHS"}
    assert {(o["bid_id"], o["status"]) for o in accepted["other_bids"]} == {
        (bid_b["id"], "rejected"),
        (bid_c["id"], "rejected"),
    }
    # Replaying the key answers the same (naming the application by id or by reference); the same key
    # with other arguments is a conflict.
    replay = await call(
        client, ACCEPT, {"application": app["reference"], "bid": bid_a["id"], "idempotency_key": k}
    )
    assert replay == {**accepted, "replayed": True}
    other = {"application": app["id"], "bid": bid_b["id"], "idempotency_key": k}
    assert await refused(client, ACCEPT, other) == "conflict"
    again = {"application": app["id"], "bid": bid_b["id"], "idempotency_key": key()}
    assert await refused(client, ACCEPT, again) == "conflict"  # accepting twice
    assert await refused(client, COMPARE, {"application": app["id"]}) == "conflict"
    return accepted


async def the_capital_is_reserved_in_the_provider_row_and_the_ledger(
    client: Client,
    principal: Any,
    core_db: asyncpg.Connection,
    app: dict[str, Any],
    providers: list[str],
    bids: list[dict[str, Any]],
    before: dict[str, int],
    accepted: Any,
) -> None:
    (a, b, c), (bid_a, bid_b, bid_c) = providers, bids
    rows = {str(r["id"]): r for r in await bid_rows(core_db, app)}
    assert rows[bid_a["id"]]["status"] == "accepted" and rows[bid_a["id"]]["accepted_at"] is not None
    assert [rows[x["id"]]["status"] for x in (bid_b, bid_c)] == ["rejected", "rejected"]
    after = {p: await capital(core_db, p) for p in (a, b, c)}
    assert after == {a: before[a] - AMOUNT_MINOR, b: before[b], c: before[c]}
    [journal] = await reservations(core_db, [bid_a["id"], bid_b["id"], bid_c["id"]])
    assert str(journal["id"]) == accepted["reservation_journal_id"]
    principal(uid("op"), Role.OPERATOR)
    reserved = await call(client, BALANCE, {"account": f"provider:{a}:capital_reserved:GHS"})
    assert reserved["balance"] == {"amount": "250000.00", "currency": "GHS"}
    available = await call(client, BALANCE, {"account": f"provider:{a}:capital_available:GHS"})
    # Onboarding deposited the provider's capital; the reservation moved this much of it.
    assert available["balance_minor"] == await capital(core_db, a)


async def the_application_moved_on_and_takes_no_more_bids(
    client: Client,
    principal: Any,
    core_db: asyncpg.Connection,
    app: dict[str, Any],
    providers: list[str],
    bids: list[dict[str, Any]],
) -> None:
    (_, b, _), (bid_a, _, _) = providers, bids
    as_borrower(principal, app)
    last = (await call(client, TIMELINE, {"application": app["id"]}))["entries"][-1]
    assert (last["from_status"], last["to_status"], last["actor_id"]) == (
        "open_for_bids",
        "offer_accepted",
        app["borrower_id"],
    )
    assert bid_a["id"] in last["reason"]
    kinds = [e["event_type"] for e in await events(core_db, app, "")]
    assert kinds.count("offer.accepted") == 1 and kinds.count("bid.rejected") == 2
    assert "application.offer_accepted" in kinds
    listed = await call(client, BIDS, {"application": app["id"]})
    assert {b["status"] for b in listed["items"]} == {"accepted", "rejected"}
    as_provider(principal, b)
    assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body()}) == "conflict"


async def test_equal_aprs_rank_by_total_cost_and_expired_bids_are_excluded(
    client: Client, principal: Any, clock: MovableClock, country: str
) -> None:
    # 24% annuity and 24% declining balance both disclose 24.000000%; declining costs 32500.00 in
    # all against 33678.79, so it ranks first.
    app, (a, b, c) = await market(client, principal, country)
    annuity = await place(client, principal, app, a)
    declining = await place(client, principal, app, b, schedule_method="declining_balance")
    # The cheapest bid, valid for an hour only, and the hour passes.
    await place(
        client,
        principal,
        app,
        c,
        amount="1000.00",
        annual_rate="0.18",
        valid_until=(clock.now() + timedelta(hours=1)).isoformat(),
    )
    clock.move(hours=1, seconds=1)
    as_borrower(principal, app)
    comparison = await call(client, COMPARE, {"application": app["id"]})
    assert [o["bid"]["id"] for o in comparison["offers"]] == [declining["id"], annuity["id"]]
    assert [o["apr"] for o in comparison["offers"]] == ["0.240000", "0.240000"]
    assert "the same APR (24.00%)" in comparison["explanation"]
    assert "lower total cost of credit: GH₵32,500.00 against GH₵33,678.79" in comparison["explanation"]
    [excluded] = comparison["excluded"]
    assert excluded["provider_id"] == c and "expired" in excluded["reason"]

    expired_id = str(excluded["bid_id"])
    refusal = await client.call_tool(
        ACCEPT,
        {"application": app["id"], "bid": expired_id, "idempotency_key": key()},
        raise_on_error=False,
    )
    assert error_code(refusal) == "conflict" and "expired" in error_message(refusal)


async def test_withdrawn_superseded_and_foreign_bids_cannot_be_accepted_and_nothing_changes(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str, countries: Countries
) -> None:
    app, (a, b, _) = await market(client, principal, country)
    withdrawn = await place(client, principal, app, a)
    await call(client, WITHDRAW, {"bid": withdrawn["id"], "reason": "repriced"})
    old = await place(client, principal, app, b)
    await call(client, REVISE, {"bid": old["id"], "changes": {"annual_rate": "0.2"}})
    elsewhere, (d, *_) = await market(client, principal, countries.claim(), lenders=1)
    foreign = await place(client, principal, elsewhere, d)

    as_borrower(principal, app)
    for bid_id, code in (
        (withdrawn["id"], "conflict"),
        (old["id"], "conflict"),
        (foreign["id"], "not_found"),
    ):
        args = {"application": app["id"], "bid": bid_id, "idempotency_key": key()}
        assert await refused(client, ACCEPT, args) == code, bid_id
    assert await refused(client, ACCEPT, {"application": app["id"], "bid": old["id"]}) == "invalid_argument"
    # Someone else's application, whoever asks: not found. Providers and staff do not accept offers.
    theirs = {"application": elsewhere["id"], "bid": foreign["id"], "idempotency_key": key()}
    for who in (uid("b"), uid("agent")):
        principal(who, Role.BORROWER if who.startswith("b-") else Role.AGENT)
        assert await refused(client, ACCEPT, theirs) == "not_found"
    for role in (Role.PROVIDER, Role.OPERATOR):
        principal(uid("u"), role, d if role is Role.PROVIDER else None)
        assert await refused(client, ACCEPT, theirs) == "permission_denied"

    assert all(r["status"] != "accepted" for r in await bid_rows(core_db, app))
    status = await core_db.fetchval(
        "SELECT status FROM caas_core.applications WHERE id = $1", uuid.UUID(app["id"])
    )
    assert status == "open_for_bids"
    assert await reservations(core_db, [withdrawn["id"], old["id"], foreign["id"]]) == []


async def test_an_agent_accepts_for_the_borrower_it_filed_for(
    client: Client, principal: Any, country: str
) -> None:
    agent = uid("agent")
    app, (a, *_) = await market(client, principal, country, lenders=1, agent=agent)
    offer = await place(client, principal, app, a)
    principal(agent, Role.AGENT)
    args = {"application": app["id"], "bid": offer["id"], "idempotency_key": key()}
    # The agent's say-so is not enough: the borrower it filed for confirms the money move.
    done = await confirmed(client, principal, ACCEPT, args, by=(app["borrower_id"], Role.BORROWER))
    assert done["application_status"] == "offer_accepted" and done["other_bids"] == []


async def test_only_the_borrower_confirms_an_agents_acceptance_and_sees_its_apr(
    client: Client, principal: Any, country: str, core_db: asyncpg.Connection
) -> None:
    agent = uid("agent")
    app, (a, *_) = await market(client, principal, country, lenders=1, agent=agent)
    offer = await place(client, principal, app, a)
    principal(agent, Role.AGENT)
    args = {"application": app["id"], "bid": offer["id"], "idempotency_key": key()}
    asked = await client.call_tool(ACCEPT, args, raise_on_error=False)
    message = error_message(asked)
    assert error_code(asked) == "confirmation_required" and "APR 24.00%" in message, message
    assert offer["provider_name"] in message and "250000.00" in message
    action = {"action": pending_id(message)}
    principal(uid("b-stranger"), Role.BORROWER)  # not theirs to see
    assert await refused(client, CONFIRM, action) == "not_found"
    principal(uid("op"), Role.OPERATOR)  # not a role of accept_offer
    assert await refused(client, CONFIRM, action) == "permission_denied"
    assert (await bid_rows(core_db, app))[0]["status"] == "active"
    as_borrower(principal, app)
    done = (await client.call_tool(CONFIRM, action)).structured_content
    assert done["result"]["accepted"]["id"] == offer["id"]


async def test_a_suspended_providers_offer_is_excluded_and_cannot_be_accepted(
    client: Client, principal: Any, country: str
) -> None:
    app, (a, b) = await market(client, principal, country, lenders=2)
    held = await place(client, principal, app, a, annual_rate="0.19")
    good = await place(client, principal, app, b)
    principal(uid("op"), Role.OPERATOR)
    await call(client, "admin_suspend_provider", {"provider": a, "reason": "compliance hold"})
    as_borrower(principal, app)
    comparison = await call(client, COMPARE, {"application": app["id"]})
    assert [o["bid"]["id"] for o in comparison["offers"]] == [good["id"]]
    assert comparison["explanation"].startswith(f"{good['provider_name']} has the only live offer")
    assert [(x["bid_id"], x["reason"]) for x in comparison["excluded"]] == [
        (held["id"], "its provider is suspended")
    ]
    args = {"application": app["id"], "bid": held["id"], "idempotency_key": key()}
    assert await refused(client, ACCEPT, args) == "conflict"
    as_provider(principal, a)
    assert await refused(client, REVISE, {"bid": held["id"], "changes": {"annual_rate": "0.2"}}) == (
        "conflict"
    )


@pytest.fixture
async def mono(server: Any) -> Any:
    async with Client(server, elicitation_handler=person_confirms) as c:
        yield c


async def test_fifty_concurrent_acceptances_accept_exactly_one_bid(
    mono: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (a, b, c), bids = await three_offers(mono, principal, country)
    before = {p: await capital(core_db, p) for p in (a, b, c)}
    as_borrower(principal, app)
    results = await asyncio.gather(
        *(
            mono.call_tool(
                ACCEPT,
                {"application": app["id"], "bid": bids[i % 3]["id"], "idempotency_key": key()},
                raise_on_error=False,
            )
            for i in range(50)
        )
    )
    codes = [error_code(r) for r in results]
    assert codes.count(None) == 1 and codes.count("conflict") == 49, codes
    winner = next(r.structured_content for r in results if not r.is_error)
    rows = await bid_rows(core_db, app)
    assert [str(r["id"]) for r in rows if r["status"] == "accepted"] == [winner["accepted"]["id"]]
    assert sorted(r["status"] for r in rows) == ["accepted", "rejected", "rejected"]
    assert len(await reservations(core_db, [x["id"] for x in bids])) == 1
    won_by = winner["accepted"]["provider_id"]
    after = {p: await capital(core_db, p) for p in (a, b, c)}
    assert after == {p: before[p] - (AMOUNT_MINOR if p == won_by else 0) for p in (a, b, c)}
    moves = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.application_transitions WHERE application_id = $1 "
        "AND to_status = 'offer_accepted'",
        uuid.UUID(app["id"]),
    )
    keys = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.idempotency_keys "
        "WHERE operation = 'accept_offer' AND principal_id = $1",
        app["borrower_id"],
    )
    assert (moves, keys) == (1, 1)  # the refused calls leave no key behind


async def test_the_market_helper_reaches_open_for_bids_through_the_tools(
    client: Client, principal: Any, country: str
) -> None:
    app = await open_application(client, principal, country)
    as_borrower(principal, app)
    entries = (await call(client, TIMELINE, {"application": app["id"]}))["entries"]
    assert [e["to_status"] for e in entries] == ["submitted", "open_for_bids"]
    comparison = await call(client, COMPARE, {"application": app["id"]})
    assert comparison["offers"] == [] and comparison["best_bid_id"] is None
