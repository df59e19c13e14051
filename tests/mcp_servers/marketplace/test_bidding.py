"""Bidding through a real MCP client on real PostgreSQL: invited providers bid,
revise (history kept) and withdraw; each provider sees only its own bids; the provider's terms and the
application bound every bid; bidding closes early or at its deadline.

Every test lends in its own market (tests/helpers/bidding.py): an application of 250000.00 GHS over
12 months, opened for bids through submit, identity verification and an approving score.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.bidding import (
    BIDS,
    CLOSE,
    INVITATIONS,
    INVITE,
    PLACE,
    REVISE,
    WITHDRAW,
    as_borrower,
    as_provider,
    bid_body,
    bid_rows,
    call,
    events,
    expire_stale,
    later,
    lender,
    market,
    place,
    refused,
    uid,
)
from tests.helpers.clock import MovableClock
from tests.helpers.providers import decisions
from tools.marketplace import bidding
from tools.platform.principal import Role


async def test_an_invited_provider_bids_revises_and_the_history_stays(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (p1, p2, _) = await market(client, principal, country)
    first = await place(client, principal, app, p1, origination_fee="2500.00", conditions="salary domiciled")
    assert (first["version"], first["status"], first["live"]) == (1, "active", True)
    assert first["amount"] == {"amount": "250000.00", "currency": "GHS"}
    assert first["origination_fee"] == {"amount": "2500.00", "currency": "GHS"}
    assert (first["annual_rate"], first["installments"], first["schedule_method"]) == (
        "0.240000",
        12,
        "annuity",
    )

    revised = await call(
        client, REVISE, {"bid": first["id"], "changes": {"annual_rate": "0.215", "amount": "200000.00"}}
    )
    assert (revised["version"], revised["annual_rate"], revised["amount"]["amount"]) == (
        2,
        "0.215000",
        "200000.00",
    )
    assert (revised["origination_fee"]["amount"], revised["conditions"]) == ("2500.00", "salary domiciled")
    weekly = await call(
        client,
        REVISE,
        {"bid": revised["id"], "changes": {"repayment_frequency": "weekly", "conditions": None}},
    )
    assert (weekly["version"], weekly["installments"], weekly["conditions"]) == (3, 52, None)
    # The superseded versions cannot be revised or withdrawn any more.
    assert await refused(client, REVISE, {"bid": first["id"], "changes": {"term_months": 6}}) == "conflict"
    assert await refused(client, WITHDRAW, {"bid": revised["id"], "reason": "oops"}) == "conflict"
    assert await refused(client, REVISE, {"bid": weekly["id"], "changes": {}}) == "invalid_argument"
    other = await place(client, principal, app, p2, annual_rate="0.26")

    as_provider(principal, p1)
    mine = await call(client, BIDS, {"application": app["reference"]})
    assert [(b["version"], b["status"]) for b in mine["items"]] == [
        (3, "active"),
        (2, "superseded"),
        (1, "superseded"),
    ]
    as_borrower(principal, app)
    everyone = await call(client, BIDS, {"application": app["id"]})
    assert [b["id"] for b in everyone["items"]] == [other["id"], weekly["id"], revised["id"], first["id"]]
    live = await call(client, BIDS, {"application": app["id"], "status": ["active"]})
    assert {b["provider_id"] for b in live["items"]} == {p1, p2}
    page = await call(client, BIDS, {"application": app["id"], "limit": 3})
    rest = await call(client, BIDS, {"application": app["id"], "limit": 3, "cursor": page["next_cursor"]})
    assert [b["id"] for b in page["items"] + rest["items"]] == [b["id"] for b in everyone["items"]]
    assert rest["next_cursor"] is None

    rows = await bid_rows(core_db, app)
    assert [(r["version"], r["status"]) for r in rows if str(r["provider_id"]) == p1] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "active"),
    ]
    assert rows[0]["annual_rate"] == Decimal("0.24")  # a version's terms never change
    kinds = [(e["event_type"], e["payload"]["version"]) for e in await events(core_db, app, "bid.")]
    assert kinds == [("bid.placed", 1), ("bid.revised", 2), ("bid.revised", 3), ("bid.placed", 1)]
    as_provider(principal, p1)
    invitations = await call(client, INVITATIONS, {"application": app["id"]})
    assert [i["status"] for i in invitations["items"]] == ["bid_submitted"]
    assert await decisions(core_db, p1) == (1, 1)  # one decision per application, however often it revises


async def test_a_provider_sees_and_touches_only_its_own_bids(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (p1, p2, _) = await market(client, principal, country)
    theirs = await place(client, principal, app, p1)
    outsider = await lender(client, principal, country)  # onboarded after matching: never invited

    as_provider(principal, p2)
    assert (await call(client, BIDS, {"application": app["id"]}))["items"] == []
    assert await refused(client, BIDS, {"application": app["id"], "provider": p1}) == "permission_denied"
    assert await refused(client, REVISE, {"bid": theirs["id"], "changes": {"annual_rate": "0.2"}}) == (
        "not_found"
    )
    assert await refused(client, WITHDRAW, {"bid": theirs["id"], "reason": "not mine"}) == "not_found"

    as_provider(principal, outsider)
    assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body()}) == "not_found"
    assert await refused(client, BIDS, {"application": app["id"]}) == "not_found"
    principal(uid("lender-user"), Role.PROVIDER)  # a provider token without its provider_id
    assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body()}) == "permission_denied"
    for role in (Role.BORROWER, Role.OPERATOR):
        principal(uid("u"), role)
        assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body()}) == (
            "permission_denied"
        )
    principal(uid("b"), Role.BORROWER)  # another borrower
    assert await refused(client, BIDS, {"application": app["id"]}) == "not_found"
    assert [r["provider_id"] for r in await bid_rows(core_db, app)] == [uuid.UUID(p1)]


BAD_BIDS = {
    "more than requested": {"amount": "250000.01"},
    "below the provider's minimum": {"amount": "499.99"},
    "rate below the provider's range": {"annual_rate": "0.17"},
    "rate above the provider's range": {"annual_rate": "0.31"},
    "term below the provider's range": {"term_months": 2},
    "term above the provider's range": {"term_months": 37},
    "another currency": {"currency": "NGN"},
    "fee as large as the amount": {"amount": "1000.00", "origination_fee": "1000.00"},
    "validity in the past": {"valid_until": later(minutes=-1)},
    "validity beyond 90 days": {"valid_until": later(days=91)},
    "validity without an offset": {"valid_until": "2030-01-01T00:00:00"},
    "more decimals than the currency": {"amount": "1000.001"},
    "rate with 7 decimals": {"annual_rate": "0.2400001"},
    "negative fee": {"origination_fee": "-1.00"},
    "unknown frequency": {"repayment_frequency": "daily"},
    "unknown method": {"schedule_method": "balloon"},
    "unknown field": {"collateral": "house"},
    "not a currency": {"currency": "XYZ"},
    "empty conditions": {"conditions": ""},
    "zero amount": {"amount": "0"},
    "zero term": {"term_months": 0},
}


@pytest.mark.parametrize("bad", BAD_BIDS.values(), ids=BAD_BIDS.keys())
async def test_every_bad_bid_is_an_invalid_argument_and_nothing_is_stored(
    client: Client, principal: Any, core_db: asyncpg.Connection, bad: dict[str, Any], country: str
) -> None:
    app, (p1, *_) = await market(client, principal, country, lenders=1)
    as_provider(principal, p1)
    assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body(**bad)}) == (
        "invalid_argument"
    )
    assert await bid_rows(core_db, app) == [] and await events(core_db, app, "bid.") == []


async def test_a_provider_without_the_capital_cannot_bid_and_one_active_bid_at_a_time(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (p1, *_) = await market(client, principal, country, lenders=1)
    await core_db.execute(
        "UPDATE caas_core.providers SET capital_available_minor = 100000 WHERE id = $1", uuid.UUID(p1)
    )
    as_provider(principal, p1)
    assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body()}) == "conflict"
    small = await place(client, principal, app, p1, amount="1000.00")
    assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body(amount="900.00")}) == (
        "conflict"
    )
    withdrawn = await call(client, WITHDRAW, {"bid": small["id"], "reason": "repriced"})
    assert (withdrawn["status"], withdrawn["live"]) == ("withdrawn", False)
    assert await refused(client, WITHDRAW, {"bid": small["id"], "reason": "again"}) == "conflict"
    again = await place(client, principal, app, p1, amount="900.00")
    assert again["version"] == 2  # a new bid after a withdrawal continues the provider's versions
    assert [e["event_type"] for e in await events(core_db, app, "bid.")] == [
        "bid.placed",
        "bid.withdrawn",
        "bid.placed",
    ]
    assert (await events(core_db, app, "bid.withdrawn"))[0]["payload"]["reason"] == "repriced"


async def test_a_bid_builds_its_schedule_and_solves_its_apr_once(
    client: Client, principal: Any, country: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its terms are checked twice (before and under the lender's lock); the schedule, which depends
    # only on the terms and the day, is built for the first check alone.
    app, (p1, *_) = await market(client, principal, country, lenders=1)
    built: list[object] = []
    real = bidding.offer_figures

    def counted(terms: Any, as_of: Any) -> Any:
        built.append(terms)
        return real(terms, as_of)

    monkeypatch.setattr(bidding, "offer_figures", counted)
    placed = await place(client, principal, app, p1)
    assert placed["status"] == "active" and len(built) == 1


async def test_after_close_bidding_no_bid_is_placed_or_revised_but_one_can_be_withdrawn(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (p1, p2, p3) = await market(client, principal, country)
    standing = await place(client, principal, app, p1)
    other = await place(client, principal, app, p2)

    as_borrower(principal, app)
    assert await refused(client, CLOSE, {"application": app["id"], "reason": "enough offers"}) == (
        "permission_denied"
    )
    operator = uid("op-close")
    principal(operator, Role.OPERATOR)
    closed = await call(client, CLOSE, {"application": app["reference"], "reason": "enough offers"})
    assert (closed["open"], closed["closed_by"], closed["invitations_expired"]) == (False, operator, 1)
    assert closed["closes_at"] == closed["closed_at"]
    told = await events(core_db, app, "provider.bidding_closed")
    assert sorted(e["payload"]["provider_id"] for e in told) == sorted([p1, p2, p3])  # each lender's webhook
    assert await refused(client, CLOSE, {"application": app["id"], "reason": "again"}) == "conflict"

    as_provider(principal, p3)
    assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body()}) == "conflict"
    as_provider(principal, p1)
    assert await refused(client, REVISE, {"bid": standing["id"], "changes": {"annual_rate": "0.2"}}) == (
        "conflict"
    )
    as_provider(principal, p2)
    assert (await call(client, WITHDRAW, {"bid": other["id"], "reason": "capital call"}))["status"] == (
        "withdrawn"
    )
    statuses = await core_db.fetch(
        "SELECT provider_id, status FROM caas_core.provider_invitations WHERE application_id = $1",
        uuid.UUID(app["id"]),
    )
    assert {str(r["provider_id"]): r["status"] for r in statuses} == {
        p1: "bid_submitted",
        p2: "bid_submitted",
        p3: "expired",
    }
    assert await decisions(core_db, p3) == (1, 0)
    [event] = await events(core_db, app, "bidding.closed")
    assert event["payload"]["invitations_expired"] == 1 and event["payload"]["reason"] == "enough offers"
    # Nor is any lender invited to the closed round (a probe saw invitations and their webhooks go out).
    await lender(client, principal, country)
    principal(operator, Role.OPERATOR)
    invited = len(await events(core_db, app, "provider.invited"))
    assert await refused(client, INVITE, {"application": app["id"]}) == "conflict"
    assert len(await events(core_db, app, "provider.invited")) == invited


async def test_no_bid_after_the_deadline_of_a_round_not_stored_yet(
    client: Client, principal: Any, core_db: asyncpg.Connection, clock: MovableClock, country: str
) -> None:
    # No round stored yet: the deadline is when it opened for bids plus the 72-hour window.
    app, (p1, *_) = await market(client, principal, country, lenders=2)
    clock.move(hours=72, seconds=1)
    as_provider(principal, p1)
    assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body()}) == "conflict"
    assert await bid_rows(core_db, app) == []


async def test_no_bid_after_the_deadline_of_a_stored_round(
    client: Client, principal: Any, core_db: asyncpg.Connection, clock: MovableClock, country: str
) -> None:
    # A round stored by the first bid, whose deadline then passes.
    app, (p1, p2) = await market(client, principal, country, lenders=2)
    first = await place(client, principal, app, p1)
    stored = await core_db.fetchrow(
        "SELECT opened_at, closes_at, closed_at FROM caas_core.bidding_rounds WHERE application_id = $1",
        uuid.UUID(app["id"]),
    )
    assert stored["closes_at"] - stored["opened_at"] == timedelta(hours=72)
    assert stored["closed_at"] is None
    clock.move(seconds=max(0.0, (stored["closes_at"] - clock.now()).total_seconds()))  # to the deadline
    assert await refused(client, REVISE, {"bid": first["id"], "changes": {"annual_rate": "0.2"}}) == (
        "conflict"
    )
    as_provider(principal, p2)
    assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body()}) == "conflict"
    assert len(await bid_rows(core_db, app)) == 1


async def test_a_withdrawn_application_takes_no_more_bids_and_its_bids_expire_at_once(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (p1, p2) = await market(client, principal, country, lenders=2)
    standing = await place(client, principal, app, p1)
    as_borrower(principal, app)
    await call(client, "credit_withdraw_application", {"application": app["id"], "reason": "found a loan"})
    as_provider(principal, p2)
    assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body()}) == "conflict"
    as_borrower(principal, app)
    listed = await call(client, BIDS, {"application": app["id"]})
    assert [(b["status"], b["live"]) for b in listed["items"]] == [("expired", False)]
    told = await events(core_db, app, "bid.expired")
    assert [(e["aggregate_id"], e["payload"]["provider_id"]) for e in told] == [(standing["id"], p1)]
    assert told[0]["payload"]["reason"] == "application withdrawn"
    as_provider(principal, p1)
    for tool, args in (
        (REVISE, {"bid": standing["id"], "changes": {"term_months": 6}}),
        (WITHDRAW, {"bid": standing["id"], "reason": "moot"}),
    ):
        assert await refused(client, tool, args) == "conflict"


async def test_an_expired_application_ends_its_active_bids(
    client: Client, principal: Any, core_db: asyncpg.Connection, clock: MovableClock, country: str
) -> None:
    app, (p1, p2) = await market(client, principal, country, lenders=2)
    await place(client, principal, app, p1)
    await place(client, principal, app, p2)
    clock.move(hours=72, seconds=1)  # past its bidding window
    assert app["reference"] in await expire_stale(client, principal)
    assert [r["status"] for r in await bid_rows(core_db, app)] == ["expired", "expired"]
    assert len(await events(core_db, app, "bid.expired")) == 2


async def test_each_role_is_shown_its_bidding_tools_with_honest_annotations(
    client: Client, principal: Any
) -> None:
    bidding = {PLACE, REVISE, WITHDRAW}
    deciding = {"providers_compare_offers", "providers_accept_offer"}
    seen: dict[str, Any] = {}

    async def shown(subject: str, role: Role, provider_id: str | None = None) -> set[str]:
        principal(subject, role, provider_id)
        tools = {t.name: t for t in await client.list_tools() if t.name.startswith("providers_")}
        seen.update(tools)
        return set(tools)

    names = await shown(uid("lender-user"), Role.PROVIDER, str(uuid.uuid4()))
    assert bidding | {BIDS, INVITATIONS} <= names and not (deciding | {CLOSE}) & names
    names = await shown(uid("b"), Role.BORROWER)
    assert deciding | {BIDS} == names
    names = await shown(uid("op"), Role.OPERATOR)
    assert {CLOSE, BIDS, "providers_compare_offers"} <= names and not (
        bidding | {"providers_accept_offer"}
    ) & names
    hints = {n: (t.annotations.read_only_hint, t.annotations.destructive_hint) for n, t in seen.items()}
    assert hints[BIDS] == hints["providers_compare_offers"] == (True, False)
    assert hints[CLOSE] == hints[WITHDRAW] == hints["providers_accept_offer"] == (False, True)
    assert hints[PLACE] == hints[REVISE] == (False, False)
    for name in bidding | deciding | {BIDS, CLOSE}:
        tool = seen[name]
        assert tool.output_schema is not None and tool.input_schema.get("additionalProperties") is False
        assert tool.description and "Use" in tool.description


async def test_a_revision_does_not_wait_for_the_lenders_other_bids(
    client: Client, principal: Any, runtime: Runtime, country: str
) -> None:
    """A bid of the lender not yet committed shares its row (place_bid, migration 0046): a revision of
    another of its bids shares it too, where it once waited for that bid's COMMIT."""
    app, (p1, _, _) = await market(client, principal, country)
    first = await place(client, principal, app, p1)
    assert runtime.targets is not None
    other = await asyncpg.connect(runtime.targets.direct_core)
    try:
        async with other.transaction():  # as an uncommitted bid of the same lender holds it
            await other.execute("SELECT 1 FROM caas_core.providers WHERE id = $1 FOR SHARE", uuid.UUID(p1))
            revised = await asyncio.wait_for(
                call(client, REVISE, {"bid": first["id"], "changes": {"annual_rate": "0.2"}}), 10
            )
            assert revised["version"] == 2
    finally:
        await other.close()
