"""An application or a lender in a currency the payment routes cannot pay out is refused where it comes
in, with the currencies that can be paid: before this it went through scoring, bidding, approval and
origination, and failed only at the payout with a lender's capital reserved."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.common import application, error_code
from tests.helpers.providers import ONBOARD, SUBMIT, UPDATE, provider_body
from tests.helpers.risk import uid
from tools.platform.principal import Role

DRAFT = "credit_draft_application"


@pytest.fixture
def only_ngn_and_usd(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment whose CAAS_PAYMENT_ROUTES names NGN and USD only."""
    payable = frozenset({"NGN", "USD"})
    deps = runtime.deps
    monkeypatch.setattr(
        runtime,
        "_deps",
        replace(
            deps,
            credit=replace(deps.credit, payable_currencies=payable),
            marketplace=replace(deps.marketplace, payable_currencies=payable),
        ),
    )


async def counts(db: asyncpg.Connection) -> tuple[int, ...]:
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM caas_core.applications WHERE status <> 'draft'), "
        "(SELECT count(*) FROM caas_core.providers), (SELECT count(*) FROM caas_core.outbox)"
    )
    return tuple(row)


async def test_what_cannot_be_paid_out_is_refused_where_it_comes_in(
    client: Client, principal: Any, core_db: asyncpg.Connection, only_ngn_and_usd: None
) -> None:
    principal(uid("b"), Role.BORROWER)
    # A draft may be kept in any currency; it is submitted only in one the platform pays.
    draft = (await client.call_tool(DRAFT, {"application": application(currency="GHS")})).structured_content
    before = await counts(core_db)
    result = await client.call_tool(
        SUBMIT, {"application": application(currency="GHS")}, raise_on_error=False
    )
    assert error_code(result) == "invalid_argument"
    assert "in GHS, which this platform cannot pay out" in result.content[0].text
    assert "NGN, USD (CAAS_PAYMENT_ROUTES)" in result.content[0].text
    refused = await client.call_tool(SUBMIT, {"draft": draft["id"]}, raise_on_error=False)
    assert error_code(refused) == "invalid_argument" and draft["reference"] in refused.content[0].text

    principal(uid("op"), Role.OPERATOR)
    lender = await client.call_tool(
        ONBOARD, {"provider": provider_body(currency="GHS")}, raise_on_error=False
    )
    assert error_code(lender) == "invalid_argument"
    assert await counts(core_db) == before

    ngn = (await client.call_tool(ONBOARD, {"provider": provider_body()})).structured_content["provider"]
    amounts = {"min_amount": "5000.00", "max_amount": "900000.00", "capital_available": "1000000.00"}
    change = {"provider": ngn["id"], "changes": {"currency": "GHS", **amounts}}
    assert error_code(await client.call_tool(UPDATE, change, raise_on_error=False)) == "invalid_argument"
