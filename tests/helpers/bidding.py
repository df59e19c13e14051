"""Helpers for the bidding and offer tests: a market of the test's own, an application brought to
open_for_bids through the tools (submit, verify identity, score with approving inputs), invited
lenders, and bids.

The market lends GHS in a country of the test's own (the ``country`` fixture, tests/helpers/markets.py):
its lenders serve only that country and its applications come from it, so matching invites exactly the
providers the test made. The application is the default test application in GHS: 250000.00 over 12
months, scored 790 (grade A) and approved.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from fastmcp import Client

from tests.helpers.common import error_code
from tests.helpers.providers import ONBOARD, provider_body
from tests.helpers.risk import APPROVE_BUREAU, SUBMIT, body, scored, verify_kyc
from tools.platform.principal import Role

PLACE = "providers_place_bid"
REVISE = "providers_revise_bid"
WITHDRAW = "providers_withdraw_bid"
BIDS = "providers_list_bids"
CLOSE = "providers_close_bidding"
COMPARE = "providers_compare_offers"
ACCEPT = "providers_accept_offer"
MATCH = "providers_match_providers"
INVITE = "providers_invite_providers"
INVITATIONS = "providers_list_invitations"
TIMELINE = "credit_get_application_timeline"
EXPIRE = "credit_expire_stale_applications"
BALANCE = "admin_get_account_balance"

CURRENCY = "GHS"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def call(client: Client, tool: str, args: dict[str, Any]) -> Any:
    return (await client.call_tool(tool, args)).structured_content


async def refused(client: Client, tool: str, args: dict[str, Any]) -> str | None:
    return error_code(await client.call_tool(tool, args, raise_on_error=False))


async def lender(client: Client, principal: Any, country: str, **overrides: Any) -> str:
    """Onboard a GHS lender serving ``country`` (rates 18%-30%, 500.00 to 5000000.00, 3 to 36 months); its
    id."""
    principal(uid("op"), Role.OPERATOR)
    terms = {"currency": CURRENCY, "countries": [country], "min_amount": "500.00", **overrides}
    done = await call(client, ONBOARD, {"provider": provider_body(**terms)})
    return str(done["provider"]["id"])


async def open_application(
    client: Client, principal: Any, country: str, agent: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """Submit from ``country`` (a fresh borrower, or ``agent`` for one), verify the identity document and
    score to open_for_bids."""
    if agent is None:
        principal(uid("b"), Role.BORROWER)
    else:
        principal(agent, Role.AGENT)
        overrides["borrower_id"] = uid("b")
    payload = body(40, currency=CURRENCY, **overrides)
    payload["applicant"] = {**payload["applicant"], "country": country}
    app = await call(client, SUBMIT, {"application": payload})
    await verify_kyc(client, principal, app, "national_id")
    view = await scored(client, principal, app, APPROVE_BUREAU, uid("op-score"))
    assert view["application_status"] == "open_for_bids", view
    return dict(app)


async def invite(client: Client, principal: Any, app: dict[str, Any]) -> dict[str, Any]:
    principal(uid("op-match"), Role.OPERATOR)
    return dict(await call(client, INVITE, {"application": app["id"]}))


async def market(
    client: Client, principal: Any, country: str, lenders: int = 3, agent: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """An open application from ``country`` and ``lenders`` new lenders there, the only ones matching
    finds, all of them invited to bid on it."""
    providers = [await lender(client, principal, country) for _ in range(lenders)]
    app = await open_application(client, principal, country, agent)
    report = await invite(client, principal, app)
    assert sorted(r["provider_id"] for r in report["ranking"]) == sorted(providers)
    return app, providers


async def expire_stale(client: Client, principal: Any) -> list[str]:
    """Run expiry as an operator until nothing more expires (one run takes at most 500); the references
    it expired. After a clock move, that is every application of the test database open past its window."""
    principal(uid("op-expire"), Role.OPERATOR)
    expired: list[str] = []
    while refs := (await call(client, EXPIRE, {}))["expired"]:
        expired += refs
    return expired


def as_provider(principal: Any, provider_id: str) -> None:
    principal(uid("lender-user"), Role.PROVIDER, provider_id)


def as_borrower(principal: Any, app: dict[str, Any]) -> None:
    principal(app["borrower_id"], Role.BORROWER)


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def bid_body(**overrides: Any) -> dict[str, Any]:
    """250000.00 GHS at 24% over 12 monthly annuity installments, valid for a week."""
    bid: dict[str, Any] = {
        "currency": CURRENCY,
        "amount": "250000.00",
        "annual_rate": "0.24",
        "term_months": 12,
        "valid_until": later(days=7),
    }
    bid.update(overrides)
    return bid


async def place(
    client: Client, principal: Any, app: dict[str, Any], provider_id: str, **overrides: Any
) -> dict[str, Any]:
    as_provider(principal, provider_id)
    return dict(await call(client, PLACE, {"application": app["id"], "bid": bid_body(**overrides)}))


async def bid_rows(db: asyncpg.Connection, app: dict[str, Any]) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM caas_core.bids WHERE application_id = $1 ORDER BY created_at, id", uuid.UUID(app["id"])
    )


async def events(db: asyncpg.Connection, app: dict[str, Any], prefix: str) -> list[asyncpg.Record]:
    """Outbox events about the application's bids (or the application), oldest first."""
    return await db.fetch(
        "SELECT event_type, aggregate_id, payload FROM caas_core.outbox "
        "WHERE payload ->> 'application_id' = $1 AND event_type LIKE $2 ORDER BY id",
        app["id"],
        f"{prefix}%",
    )


async def capital(db: asyncpg.Connection, provider_id: str) -> int:
    return int(
        await db.fetchval(
            "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1", uuid.UUID(provider_id)
        )
    )


async def invitation(db: asyncpg.Connection, app: dict[str, Any], provider_id: str) -> str:
    """Where the lender's invitation to bid on ``app`` stands (invited, bid_submitted, declined, expired)."""
    return str(
        await db.fetchval(
            "SELECT status FROM caas_core.provider_invitations "
            "WHERE application_id = $1 AND provider_id = $2",
            uuid.UUID(app["id"]),
            uuid.UUID(provider_id),
        )
    )
