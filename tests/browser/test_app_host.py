"""The MCP Apps in a host: the real ``ui://`` page in a sandboxed iframe of a stand-in host
(tests/browser/mcp_host.py), in Chromium. The page initializes with the extension's handshake, renders
the result the host hands it in the host's time zone, and calls its tool back through the host."""

from __future__ import annotations

from typing import Any

from fastmcp import Client
from playwright.async_api import Browser, expect

from mcp_servers.apps import OFFERS_APP
from tests.browser.conftest import screenshot
from tests.browser.mcp_host import HOST_ZONE, render_app
from tests.helpers.bidding import COMPARE, as_borrower
from tests.mcp_servers.marketplace.test_offers import three_offers


async def test_the_offers_app_renders_the_comparison_and_refreshes_through_the_host(
    browser: Browser, client: Client, principal: Any, country: str
) -> None:
    app, _, bids = await three_offers(client, principal, country)
    as_borrower(principal, app)
    context = await browser.new_context(locale="en-US", timezone_id="UTC")
    try:
        page = await context.new_page()
        frame = await render_app(page, client, OFFERS_APP, COMPARE, {"application": app["id"]})
        table = frame.get_by_role("table")
        await expect(table.get_by_role("row")).to_have_count(1 + len(bids))
        await expect(frame.get_by_role("heading", level=1)).to_have_text("Offers on " + app["reference"])
        # GHS has two digits and groups thousands: the amount exactly as the currency writes it.
        await expect(frame.locator("#summary")).to_contain_text("GHS")
        await expect(frame.locator("#summary")).to_contain_text("250,000.00")
        first = await table.get_by_role("row").nth(1).inner_text()
        assert "(best)" in first
        # An instant in the host's zone (the host context's), not the browser's (UTC here).
        compared = await page.evaluate(
            "new Intl.DateTimeFormat('en-US', {dateStyle: 'medium', timeStyle: 'short', timeZone: ZONE})"
            ".format(new Date(window.toolResult.structuredContent.compared_at))".replace(
                "ZONE", repr(HOST_ZONE)
            )
        )
        await expect(frame.locator("#summary")).to_contain_text(compared)
        init = await page.evaluate("window.appInit")
        assert init["protocolVersion"] and init["appInfo"]["name"]
        await frame.get_by_role("button", name="Refresh").click()
        await expect(table.get_by_role("row")).to_have_count(1 + len(bids))
        log = await page.evaluate("window.hostLog")
        assert log[:2] == ["ui/initialize", "ui/notifications/initialized"]
        assert "tools/call" in log, log
        await screenshot(page, "mcp-app-offers")
    finally:
        await context.close()
