"""The schedule MCP App (``ui://caas/schedule.html``) of a written-off loan, in a stand-in host in
Chromium: no installment reads as overdue or still owed, and what was written off has its own column and
total beside what was paid."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
from fastmcp import Client
from playwright.async_api import Browser, expect

from mcp_servers.apps import SCHEDULE_APP
from mcp_servers.runtime import Runtime
from tests.browser.conftest import screenshot
from tests.browser.mcp_host import render_app
from tests.helpers.clock import MovableClock
from tests.helpers.loans import SCHEDULE, call
from tests.mcp_servers.loans.test_write_off_views import written_off_loan


def grouped(amount: dict[str, str]) -> str:
    """The amount's digits as the page writes them in en-US (NGN: two decimals, grouped thousands)."""
    return f"{Decimal(amount['amount']):,}"


async def test_the_schedule_app_shows_a_written_off_loan_as_written_off_not_owed(
    browser: Browser,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
) -> None:
    loan, _ = await written_off_loan(client, principal, runtime, core_db, clock)
    schedule = await call(client, SCHEDULE, {"loan": loan["id"]})
    context = await browser.new_context(locale="en-US", timezone_id="UTC")
    try:
        page = await context.new_page()
        frame = await render_app(page, client, SCHEDULE_APP, SCHEDULE, {"loan": loan["id"]})
        table = frame.get_by_role("table")
        await expect(table.get_by_role("columnheader", name="Written off")).to_be_visible()
        rows = table.locator("tbody tr")
        await expect(rows).to_have_count(12)
        await expect(rows.first).to_contain_text("paid")
        for n in range(1, 12):
            await expect(rows.nth(n)).to_contain_text("written off")
            await expect(rows.nth(n)).not_to_contain_text("overdue")
            cells = rows.nth(n).locator("td")
            await expect(cells.nth(-2)).to_contain_text("0.00")  # still owed
            line = schedule["lines"][n]["written_off"]["total"]
            await expect(cells.nth(-1)).to_contain_text(grouped(line))
        foot = table.locator("tfoot td")
        await expect(foot.nth(-1)).to_contain_text(grouped(schedule["written_off"]["total"]))
        await expect(foot.nth(-2)).to_contain_text("0.00")
        terms = frame.locator("#terms")
        await expect(terms).to_contain_text("Written off")
        await expect(terms).to_contain_text(grouped(schedule["written_off"]["total"]))
        await screenshot(page, "mcp-app-schedule-written-off")
    finally:
        await context.close()
