"""Helpers for the provider and matching tests: a valid onboarding, an application open for bids with
a chosen assessment (arranged in SQL: scoring owns that step), and the tool names.

A matching test lends in MUR and in a country of its own (the ``country`` fixture, tests/helpers/
markets.py): its lenders serve only that country and its applications come from it, so a ranking holds
exactly the providers the test made."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from database.marketplace.decision_tallies import fold_batch
from tests.helpers.common import application, error_code
from tools.platform.principal import Role

ONBOARD = "admin_onboard_provider"
UPDATE = "admin_update_provider"
SUSPEND = "admin_suspend_provider"
REACTIVATE = "admin_reactivate_provider"
ROTATE = "admin_rotate_provider_secret"
GET = "admin_get_provider"
LIST = "admin_list_providers"
MATCH = "providers_match_providers"
INVITE = "providers_invite_providers"
INVITATIONS = "providers_list_invitations"
SUBMIT = "credit_submit_application"

MARKET_CURRENCY = "MUR"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def provider_body(**overrides: Any) -> dict[str, Any]:
    """A valid onboard_provider payload (a Nigerian bank); keyword arguments replace fields."""
    body: dict[str, Any] = {
        "name": uid("Test Bank"),
        "provider_type": "bank",
        "currency": "NGN",
        "countries": ["NG"],
        "min_amount": "50000.00",
        "max_amount": "5000000.00",
        "capital_available": "100000000.00",
        "min_term_months": 3,
        "max_term_months": 36,
        "accepted_grades": ["A", "B", "C"],
        "min_score": 550,
        "max_dti": "0.45",
        "min_annual_rate": "0.18",
        "max_annual_rate": "0.30",
        "webhook_url": "https://lender.example.com/caas/webhook",
    }
    body.update(overrides)
    return body


def market_body(country: str, **overrides: Any) -> dict[str, Any]:
    """A provider of the test's market (MUR, ``country``) that accepts the default market application."""
    return provider_body(**{"currency": MARKET_CURRENCY, "countries": [country], **overrides})


async def call(client: Client, tool: str, args: dict[str, Any]) -> Any:
    return (await client.call_tool(tool, args)).structured_content


async def refused(client: Client, tool: str, args: dict[str, Any]) -> str | None:
    return error_code(await client.call_tool(tool, args, raise_on_error=False))


async def onboard(client: Client, principal: Any, **overrides: Any) -> dict[str, Any]:
    """Onboard as an operator; returns the onboarding result (provider and its one-time secret)."""
    principal(uid("op"), Role.OPERATOR)
    return await call(client, ONBOARD, {"provider": provider_body(**overrides)})


async def open_application(
    client: Client,
    principal: Any,
    db: asyncpg.Connection,
    country: str,
    *,
    score: int = 700,
    grade: str = "B",
    dti: str = "0.3500",
    band: tuple[str, str] = ("0.18", "0.24"),
    status: str = "open_for_bids",
    **overrides: Any,
) -> dict[str, Any]:
    """An application of the test's market (250000.00 MUR over 12 months, from ``country``) with a stored
    assessment, open for bids."""
    principal(uid("b"), Role.BORROWER)
    body = application(**{"currency": MARKET_CURRENCY, **overrides})
    body["applicant"] = {**body["applicant"], "country": country}
    app = await call(client, SUBMIT, {"application": body})
    result = {
        "score": score,
        "grade": grade,
        "dti_after": dti,
        "suggested_rate_band": {"min_annual_rate": band[0], "max_annual_rate": band[1]},
    }
    await db.execute(
        "INSERT INTO caas_core.risk_assessments (application_id, model_version, stage, inputs, score, pd, "
        "grade, recommendation, result, assessed_by) "
        "VALUES ($1, 'test', 'scoring', '{}', $2, 0.05, $3, 'approve', $4::text::jsonb, 'tests')",
        uuid.UUID(app["id"]),
        score,
        grade,
        json.dumps(result),
    )
    await db.execute(
        "UPDATE caas_core.applications SET status = $2, status_changed_at = now() WHERE id = $1",
        uuid.UUID(app["id"]),
        status,
    )
    return app


async def decisions(db: asyncpg.Connection, provider_id: str | uuid.UUID) -> tuple[int, int]:
    """A lender's (decided, approved) counts once the workers' fold has run: decisions are tallied apart
    and folded into the provider row every minute (migration 0046)."""
    while True:  # a worker's fold may hold the turn: then this waits for it to commit and folds the rest
        async with db.transaction():
            ours, *_ = await fold_batch(db)
        if ours:
            break
        await asyncio.sleep(0.01)
    row = await db.fetchrow(
        "SELECT decided_count, approved_count FROM caas_core.providers WHERE id = $1",
        uuid.UUID(str(provider_id)),
    )
    assert row is not None
    return int(row["decided_count"]), int(row["approved_count"])
