"""accept_offer when a lender invited to the application never bid: its invitation expires (a declining
decision) and the accepted lender's capital is reserved, through a real MCP client on real PostgreSQL.
An application that expires or is withdrawn ends its unanswered invitations too."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from tests.helpers.bidding import (
    ACCEPT,
    as_borrower,
    call,
    capital,
    expire_stale,
    invitation,
    later,
    market,
    place,
)
from tests.helpers.errors import error_code
from tests.helpers.providers import decisions

AMOUNT_MINOR = 25_000_000


def key() -> str:
    return f"accept-{uuid.uuid4()}"


async def test_an_invited_lender_that_never_bid_is_expired_before_the_reservation(
    client: Client, principal: Any, country: str, core_db: asyncpg.Connection
) -> None:
    # The reservation's statement finds c still invited, so it reserves nothing; the use case then
    # locks every lender's row in id order, expires c's invitation and reserves.
    app, (a, b, c) = await market(client, principal, country)
    offer = await place(client, principal, app, a)
    await place(client, principal, app, b)
    before = {p: await capital(core_db, p) for p in (a, b, c)}
    as_borrower(principal, app)
    args = {"application": app["id"], "bid": offer["id"], "idempotency_key": key()}
    done = await call(client, ACCEPT, args)
    assert done["application_status"] == "offer_accepted"
    after = {p: await capital(core_db, p) for p in (a, b, c)}
    assert after == {a: before[a] - AMOUNT_MINOR, b: before[b], c: before[c]}
    assert (await invitation(core_db, app, c), await decisions(core_db, c)) == ("expired", (1, 0))


async def test_no_offer_is_accepted_after_the_bidding_window_even_before_the_expiry_job_runs(
    client: Client, principal: Any, country: str, core_db: asyncpg.Connection, clock: Any
) -> None:
    """A probe's find: 100 hours after opening (the window is 72), acceptance still worked until the
    expiry job happened to run."""
    app, (a,) = await market(client, principal, country, lenders=1)
    offer = await place(client, principal, app, a, valid_until=later(days=30))
    before = await capital(core_db, a)
    clock.move(hours=100)
    as_borrower(principal, app)
    args = {"application": app["id"], "bid": offer["id"], "idempotency_key": key()}
    result = await client.call_tool(ACCEPT, args, raise_on_error=False)
    assert error_code(result) == "conflict" and "bidding window" in result.content[0].text
    assert await capital(core_db, a) == before  # nothing reserved


async def test_an_invitation_ignored_until_the_application_expired_is_the_lenders_decision(
    client: Client, principal: Any, country: str, core_db: asyncpg.Connection, clock: Any
) -> None:
    """A probe's find: it stayed invited on a dead application and was never counted, so a lender that
    ignores every invitation kept the approval rate of one that bids on all (matching, commission)."""
    app, (silent, bidder) = await market(client, principal, country, lenders=2)
    await place(client, principal, app, bidder)
    clock.move(hours=73)
    assert app["reference"] in await expire_stale(client, principal)
    assert await invitation(core_db, app, silent) == "expired"
    assert await decisions(core_db, silent) == (1, 0)
    assert await decisions(core_db, bidder) == (1, 1)  # its bid, counted once


async def test_a_withdrawn_application_ends_its_invitations_without_counting_them(
    client: Client, principal: Any, country: str, core_db: asyncpg.Connection
) -> None:
    # The borrower ended it, not the lender: no decision of the lender's, but nothing left to answer.
    app, (lender,) = await market(client, principal, country, lenders=1)
    as_borrower(principal, app)
    await call(client, "credit_withdraw_application", {"application": app["id"]})
    assert await invitation(core_db, app, lender) == "expired"
    assert await decisions(core_db, lender) == (0, 0)
