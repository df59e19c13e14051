"""A provider declining its invitation to bid, through a real MCP client on real
PostgreSQL: the invitation becomes declined once (one event, one declining decision in the provider's
performance), the provider can no longer bid on it, and only an invited provider that has not bid can
decline, while the application is open for bids.

Every test lends in its own market (tests/helpers/bidding.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from tests.helpers.bidding import (
    CLOSE,
    INVITATIONS,
    PLACE,
    WITHDRAW,
    as_borrower,
    as_provider,
    bid_body,
    call,
    events,
    invitation,
    lender,
    market,
    place,
    refused,
    uid,
)
from tests.helpers.providers import decisions
from tools.platform.principal import Role

DECLINE = "providers_decline_invitation"


async def performance(db: asyncpg.Connection, provider_id: str) -> tuple[int, int]:
    return await decisions(db, provider_id)


async def test_a_provider_declines_its_invitation_once_and_can_then_not_bid_on_it(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (p1, p2) = await market(client, principal, country, lenders=2)
    assert await performance(core_db, p1) == (0, 0)
    as_provider(principal, p1)
    declined = await call(
        client, DECLINE, {"application": app["reference"], "reason": " outside our appetite "}
    )
    assert declined == {
        "application_id": app["id"],
        "reference": app["reference"],
        "provider_id": p1,
        "status": "declined",
        "already_declined": False,
    }
    mine = await call(client, INVITATIONS, {"application": app["id"]})
    assert [i["status"] for i in mine["items"]] == ["declined"]
    only_declined = await call(client, INVITATIONS, {"status": ["declined"]})
    assert [i["application_id"] for i in only_declined["items"]] == [app["id"]]

    again = await call(client, DECLINE, {"application": app["id"], "reason": "still not interested"})
    assert (again["status"], again["already_declined"]) == ("declined", True)
    assert await performance(core_db, p1) == (1, 0)  # one declining decision, however often it declines
    told = await events(core_db, app, "provider.invitation_declined")
    assert [(e["aggregate_id"], e["payload"]) for e in told] == [
        (
            p1,
            {
                "application_id": app["id"],
                "reference": app["reference"],
                "provider_id": p1,
                "reason": "outside our appetite",
            },
        )
    ]
    audited = await core_db.fetch(
        "SELECT principal_role, provider_id, tool, object_type FROM caas_audit.audit_log "
        "WHERE tool = 'providers.decline_invitation' AND provider_id = $1",
        p1,
    )
    assert [tuple(a) for a in audited] == [
        ("provider", p1, "providers.decline_invitation", "provider_invitation")
    ]

    # Declined is final: the provider cannot change its mind by bidding; the other lender still can.
    assert await refused(client, PLACE, {"application": app["id"], "bid": bid_body()}) == "conflict"
    assert await performance(core_db, p1) == (1, 0)
    assert (await place(client, principal, app, p2))["status"] == "active"
    assert await invitation(core_db, app, p2) == "bid_submitted"


async def test_only_the_invited_provider_itself_declines_its_invitation(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (p1,) = await market(client, principal, country, lenders=1)
    outsider = await lender(client, principal, country)  # onboarded after matching: never invited
    args = {"application": app["id"], "reason": "not for us"}

    as_provider(principal, outsider)
    assert await refused(client, DECLINE, args) == "not_found"  # exactly like a missing application
    assert await refused(client, DECLINE, {**args, "application": "CAAS-2000-000001"}) == "not_found"
    principal(uid("lender-user"), Role.PROVIDER)  # a provider token without its provider_id
    assert await refused(client, DECLINE, args) == "permission_denied"
    as_borrower(principal, app)
    assert await refused(client, DECLINE, args) == "permission_denied"
    for role in (Role.OPERATOR, Role.ADMIN):
        principal(uid("staff"), role)
        assert await refused(client, DECLINE, args) == "permission_denied"

    assert await invitation(core_db, app, p1) == "invited"
    assert await performance(core_db, outsider) == (0, 0)
    assert await events(core_db, app, "provider.invitation_declined") == []


async def test_a_provider_that_bid_withdraws_its_bid_instead_of_declining(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (p1,) = await market(client, principal, country, lenders=1)
    bid = await place(client, principal, app, p1)
    args = {"application": app["id"], "reason": "changed our mind"}
    assert await refused(client, DECLINE, args) == "conflict"
    await call(client, WITHDRAW, {"bid": bid["id"], "reason": "changed our mind"})
    assert await refused(client, DECLINE, args) == "conflict"  # bidding was its decision
    assert await invitation(core_db, app, p1) == "bid_submitted"
    assert await performance(core_db, p1) == (1, 1)
    assert await events(core_db, app, "provider.invitation_declined") == []


async def test_declining_needs_a_reason_and_an_application_open_for_bids(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (p1, p2) = await market(client, principal, country, lenders=2)
    as_provider(principal, p1)
    for bad in (
        {"application": app["id"]},
        {"application": app["id"], "reason": "   "},
        {"application": app["id"], "reason": "x" * 501},
        {"application": app["id"], "reason": "not for us", "comment": "unknown field"},
    ):
        assert await refused(client, DECLINE, bad) == "invalid_argument", bad

    as_borrower(principal, app)
    await call(client, "credit_withdraw_application", {"application": app["id"], "reason": "found a loan"})
    as_provider(principal, p2)
    assert await refused(client, DECLINE, {"application": app["id"], "reason": "too late"}) == "conflict"
    # The withdrawal ended the invitations, and counts no decision of either lender's.
    assert (await invitation(core_db, app, p1), await invitation(core_db, app, p2)) == ("expired", "expired")
    assert (await performance(core_db, p1), await performance(core_db, p2)) == ((0, 0), (0, 0))
    assert await events(core_db, app, "provider.invitation_declined") == []


async def test_an_invitation_that_expired_when_bidding_closed_is_not_declined(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (p1,) = await market(client, principal, country, lenders=1)
    principal(uid("op"), Role.OPERATOR)
    await call(client, CLOSE, {"application": app["id"], "reason": "enough offers"})
    as_provider(principal, p1)
    assert await refused(client, DECLINE, {"application": app["id"], "reason": "too late"}) == "conflict"
    assert await invitation(core_db, app, p1) == "expired"
    assert await performance(core_db, p1) == (1, 0)  # counted once, when it expired


async def test_the_decline_tool_is_listed_to_providers_with_honest_annotations(
    client: Client, principal: Any
) -> None:
    principal(uid("op"), Role.OPERATOR)
    assert DECLINE not in {t.name for t in await client.list_tools()}  # listed to the roles it serves
    as_provider(principal, str(uuid.uuid4()))
    tool = next(t for t in await client.list_tools() if t.name == DECLINE)
    hints = tool.annotations
    assert (hints.read_only_hint, hints.idempotent_hint, hints.destructive_hint) == (False, True, False)
    assert tool.input_schema.get("additionalProperties") is False
    assert set(tool.input_schema["required"]) == {"application", "reason"}
    assert tool.output_schema is not None and tool.description and "Use when" in tool.description
