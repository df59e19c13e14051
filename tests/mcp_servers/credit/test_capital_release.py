"""An accepted offer that will not become a loan gives the provider's reserved capital back."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from tests.helpers.bidding import ACCEPT, CURRENCY, as_borrower, call, capital, market, place, uid
from tests.helpers.risk import verify_kyc
from tools.ledger.domain.chart import account
from tools.platform.principal import Role


async def test_a_declined_approval_releases_the_reservation_in_the_row_and_the_ledger(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, providers = await market(client, principal, country, lenders=1)
    bid = await place(client, principal, app, providers[0])
    before = await capital(core_db, providers[0])
    as_borrower(principal, app)
    key = f"accept-{uuid.uuid4()}"
    await call(client, ACCEPT, {"application": app["id"], "bid": bid["id"], "idempotency_key": key})
    assert await capital(core_db, providers[0]) == before - 25_000_000
    await verify_kyc(client, principal, app, "proof_of_income")
    # Arrange only: obligations as large as the income make the approval re-check fail on DTI.
    await core_db.execute(
        "UPDATE caas_core.applications SET monthly_obligations_minor = monthly_income_minor WHERE id = $1",
        uuid.UUID(app["id"]),
    )
    principal(uid("op-approve"), Role.OPERATOR)
    result = await call(
        client,
        "credit_approve_application",
        {"application": app["id"], "comment": "policy re-check at accepted terms"},
    )
    assert (result["approved"], result["status"]) == (False, "declined")
    assert await capital(core_db, providers[0]) == before
    kinds = await core_db.fetch(
        "SELECT kind FROM caas_ledger.journals WHERE source_id = $1 ORDER BY created_at", bid["id"]
    )
    assert [r["kind"] for r in kinds] == ["reservation", "reservation_release"]
    reserved = account("provider", "capital_reserved", CURRENCY, providers[0]).code
    total = await core_db.fetchval(
        "SELECT coalesce(sum(p.amount_minor), 0) FROM caas_ledger.postings p "
        "JOIN caas_ledger.accounts a ON a.id = p.account_id WHERE a.code = $1",
        reserved,
    )
    assert total == 0
