"""An accepted offer that never becomes a loan gives its lender's capital back: the borrower withdraws
before the loan exists (after accepting, or after approval), or the offer's own validity passes before
approval (the application expires; approving it after that is refused). Through a real MCP client on
real PostgreSQL: the provider row, the ledger's reservation-release journal and the lender's
``offer.released`` event, each exactly once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.bidding import (
    ACCEPT,
    TIMELINE,
    as_borrower,
    call,
    capital,
    events,
    expire_stale,
    market,
    place,
    uid,
)
from tests.helpers.clock import MovableClock
from tests.helpers.common import error_code
from tests.helpers.errors import error_message
from tests.helpers.loans import ORIGINATE, balance
from tests.helpers.notifications import inbox, settle
from tests.helpers.risk import verify_kyc
from tools.platform.principal import Role

APPROVE = "credit_approve_application"
WITHDRAW_APPLICATION = "credit_withdraw_application"
AMOUNT_MINOR = 25_000_000


async def accepted(
    client: Client, principal: Any, country: str, agent: str | None = None, **bid: Any
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """An application (filed by ``agent`` when given) whose borrower accepted the one lender's bid; the
    provider's capital is reserved."""
    app, (provider,) = await market(client, principal, country, lenders=1, agent=agent)
    offer = await place(client, principal, app, provider, **bid)
    as_borrower(principal, app)
    done = await call(
        client, ACCEPT, {"application": app["id"], "bid": offer["id"], "idempotency_key": uid("k")}
    )
    assert done["application_status"] == "offer_accepted"
    return app, provider, offer


async def released_once(
    db: asyncpg.Connection, app: dict[str, Any], offer: dict[str, Any], status: str
) -> None:
    journals = await db.fetch(
        "SELECT kind, memo FROM caas_ledger.journals WHERE source_id = $1 ORDER BY created_at", offer["id"]
    )
    assert [j["kind"] for j in journals] == ["reservation", "reservation_release"]
    assert journals[1]["memo"].endswith(f"ended as {status}")
    told = await events(db, app, "offer.released")
    assert [(e["payload"]["bid_id"], e["payload"]["reason"]) for e in told] == [
        (offer["id"], f"application {status}")
    ]
    assert await balance(db, "provider", "capital_reserved", offer["provider_id"], "GHS") == 0


async def test_a_borrower_withdraws_after_accepting_and_the_lender_gets_its_capital_back(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, provider, offer = await accepted(client, principal, country)
    before = await capital(core_db, provider)
    as_borrower(principal, app)
    done = await call(client, WITHDRAW_APPLICATION, {"application": app["id"], "reason": "found cheaper"})
    assert done["status"] == "withdrawn"
    assert await capital(core_db, provider) == before + AMOUNT_MINOR
    await released_once(core_db, app, offer, "withdrawn")
    # Nothing more to give back: a second withdrawal is a conflict and changes nothing.
    again = await client.call_tool(WITHDRAW_APPLICATION, {"application": app["id"]}, raise_on_error=False)
    assert error_code(again) == "conflict"
    assert await capital(core_db, provider) == before + AMOUNT_MINOR


async def test_an_approved_application_without_a_loan_is_withdrawn_and_releases_its_capital(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, provider, offer = await accepted(client, principal, country)
    await verify_kyc(client, principal, app, "proof_of_income")
    principal(uid("op-approve"), Role.OPERATOR)
    approved = await call(client, APPROVE, {"application": app["id"], "comment": "documents verified"})
    assert approved["status"] == "approved"
    before = await capital(core_db, provider)
    as_borrower(principal, app)
    done = await call(client, WITHDRAW_APPLICATION, {"application": app["id"]})
    assert done["status"] == "withdrawn"
    assert await capital(core_db, provider) == before + AMOUNT_MINOR
    await released_once(core_db, app, offer, "withdrawn")


async def test_an_offer_whose_validity_passes_before_approval_lapses_and_frees_the_capital(
    client: Client,
    principal: Any,
    core_db: asyncpg.Connection,
    country: str,
    clock: MovableClock,
    runtime: Runtime,
) -> None:
    app, provider, offer = await accepted(
        client, principal, country, valid_until=(clock.now() + timedelta(hours=1)).isoformat()
    )
    await verify_kyc(client, principal, app, "proof_of_income")
    before = await capital(core_db, provider)
    assert app["reference"] not in await expire_stale(client, principal)  # still valid: nothing lapses

    clock.move(hours=2, seconds=1)
    principal(uid("op-approve"), Role.OPERATOR)
    refused = await client.call_tool(
        APPROVE, {"application": app["id"], "comment": "documents verified"}, raise_on_error=False
    )
    assert error_code(refused) == "conflict"
    assert "lapsed before approval" in error_message(refused) and offer["valid_until"][:10] in error_message(
        refused
    )
    assert await capital(core_db, provider) == before  # the refusal changed nothing

    assert app["reference"] in await expire_stale(client, principal)
    status = await core_db.fetchval(
        "SELECT status FROM caas_core.applications WHERE id = $1", uuid.UUID(app["id"])
    )
    assert status == "expired"
    assert await capital(core_db, provider) == before + AMOUNT_MINOR
    await released_once(core_db, app, offer, "expired")
    assert app["reference"] not in await expire_stale(client, principal)  # once
    # Nobody acted, so the borrower is told.
    await settle(runtime)
    told = await inbox(client, principal, app["borrower_id"])
    assert [n["kind"] for n in told if n["application_id"] == app["id"]][-1] == "application_expired"


async def test_an_approved_application_whose_offer_lapses_without_a_loan_expires_and_frees_the_capital(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str, clock: MovableClock
) -> None:
    app, provider, offer = await accepted(
        client, principal, country, valid_until=(clock.now() + timedelta(hours=1)).isoformat()
    )
    await verify_kyc(client, principal, app, "proof_of_income")
    checker = uid("op-approve")
    principal(checker, Role.OPERATOR)
    view = (await call(client, TIMELINE, {"application": app["id"]}))["maker_checker"]
    assert view["you_may_approve"] is True and view["offer_valid_until"][:16] == offer["valid_until"][:16]
    await call(client, APPROVE, {"application": app["id"], "comment": "documents verified"})
    before = await capital(core_db, provider)

    clock.move(hours=1, seconds=1)
    principal(uid("op-loans"), Role.OPERATOR)
    late = await client.call_tool(ORIGINATE, {"application": app["id"]}, raise_on_error=False)
    assert error_code(late) == "conflict" and "lapsed before a loan was made" in error_message(late)
    assert app["reference"] in await expire_stale(client, principal)
    assert await capital(core_db, provider) == before + AMOUNT_MINOR
    await released_once(core_db, app, offer, "expired")
    principal(uid("op-loans"), Role.OPERATOR)
    ended = await client.call_tool(ORIGINATE, {"application": app["id"]}, raise_on_error=False)
    assert error_code(ended) == "conflict" and "final" in error_message(ended)


async def test_the_maker_checker_view_says_no_approval_once_the_offer_lapsed(
    client: Client, principal: Any, country: str, clock: MovableClock
) -> None:
    app, _, _ = await accepted(
        client, principal, country, valid_until=(clock.now() + timedelta(hours=1)).isoformat()
    )
    clock.move(hours=2)
    principal(uid("op"), Role.OPERATOR)
    view = (await call(client, TIMELINE, {"application": app["id"]}))["maker_checker"]
    assert (view["you_made"], view["you_may_approve"]) == (None, False)


async def test_only_the_borrower_or_staff_who_may_end_it_withdraw_an_accepted_offer(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    agent = uid("agent")
    app, provider, offer = await accepted(client, principal, country, agent=agent)
    before = await capital(core_db, provider)
    for role, subject in ((Role.AGENT, agent), (Role.SERVICE, uid("svc"))):
        principal(subject, role)
        refused = await client.call_tool(
            WITHDRAW_APPLICATION, {"application": app["id"]}, raise_on_error=False
        )
        assert error_code(refused) == "permission_denied", role
        assert "the borrower's own decision" in error_message(refused)
    assert await capital(core_db, provider) == before  # nothing changed
    principal(uid("op"), Role.OPERATOR)
    reason = "the borrower asked by phone"
    done = await call(client, WITHDRAW_APPLICATION, {"application": app["id"], "reason": reason})
    assert done["status"] == "withdrawn"
    await released_once(core_db, app, offer, "withdrawn")
