"""The operator console's failed payouts in real Chromium: a loan whose payout failed and will not be
paid out is cancelled from its row, with a reason, and its lender's reserved capital is released."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
from fastmcp import Client
from playwright.async_api import expect

from mcp_servers.runtime import Runtime
from tests.browser.conftest import OpenPage
from tests.helpers.common import make_jwt
from tests.helpers.loans import GET_APPLICATION, call
from tests.helpers.payments import disburse, pending_loan, send


async def test_a_loan_whose_payout_failed_is_cancelled_from_the_console(
    open_page: OpenPage, client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await pending_loan(client, principal, runtime, core_db)
    failed = await disburse(client, loan, simulate="rejected")
    await send(runtime.deps.payments, failed["id"])

    page = await open_page("/admin/", make_jwt(f"op-{uuid.uuid4().hex[:8]}", role="operator"))
    row = page.get_by_role("table", name=re.compile("Failed payouts")).get_by_role("row")
    row = row.filter(has_text=failed["reference"])
    await row.get_by_role("button", name="Cancel loan…").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("the lender's reserved capital is released")
    await dialog.get_by_role("textbox").fill("the borrower's bank closed the account")
    await dialog.get_by_role("button", name="Yes, cancel the loan").click()
    section = page.get_by_role("region", name="Payouts and failed jobs")
    await expect(section).to_contain_text(f"Loan {loan['id']} is cancelled")
    await expect(row).to_contain_text("Loan cancelled")
    await expect(row.get_by_role("button", name="Retry payout")).to_have_count(0)

    app = await call(client, GET_APPLICATION, {"application": loan["application_id"]})
    assert app["status"] == "withdrawn"
    reserved = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.bids WHERE id = $1 AND status = 'accepted'", uuid.UUID(loan["bid_id"])
    )
    assert reserved == 1  # the bid stays the accepted one; its capital is back with the lender
    row_capital = await core_db.fetchval(
        "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1", uuid.UUID(provider["id"])
    )
    assert row_capital == 100_000_000_00  # the lender's whole capital (tests/helpers/providers.py)
