"""The provider dashboard as an MCP App pages on with the host's own filters: a keyset cursor is bound
to the filters it was issued under (tools/platform/cursor.py), so "More invitations" must send the
host's call arguments (its status filter here) with the cursor, or the next page is refused."""

from __future__ import annotations

from typing import Any

from fastmcp import Client
from playwright.async_api import Browser, expect

from mcp_servers.apps import INVITATIONS_APP
from tests.browser.conftest import screenshot
from tests.browser.mcp_host import render_app
from tests.helpers.bidding import INVITATIONS, as_provider, call, invite, lender, open_application

SHOWN = 3  # invitations the lender has, one a page in the host's call


async def test_more_invitations_in_a_host_asks_the_next_page_with_the_hosts_filters(
    browser: Browser, client: Client, principal: Any, country: str
) -> None:
    mine = await lender(client, principal, country)
    references = []
    for _ in range(SHOWN):
        app = await open_application(client, principal, country)
        await invite(client, principal, app)
        references.append(app["reference"])
    as_provider(principal, mine)
    filters = {"status": ["invited"]}
    everything = await call(client, INVITATIONS, {**filters, "limit": 50})
    assert sorted(i["reference"] for i in everything["items"]) == sorted(references)

    context = await browser.new_context(locale="en-US", timezone_id="UTC")
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        frame = await render_app(page, client, INVITATIONS_APP, INVITATIONS, {**filters, "limit": 1})
        rows = frame.locator("#invitations tbody tr")
        more = frame.get_by_role("button", name="More invitations")
        await expect(rows).to_have_count(1)
        await expect(more).to_be_visible()
        await expect(frame.locator("#capital")).to_contain_text("Available")  # the host's other calls ran
        await expect(frame.locator("#status")).to_have_text("")

        await more.click()
        # The next page, asked with the host's status filter: the rest of the invitations, no refusal.
        await expect(rows).to_have_count(SHOWN)
        await expect(frame.locator("#status")).to_have_text("")
        await expect(frame.get_by_role("alert")).to_have_count(0)
        await expect(more).to_be_hidden()
        for reference in references:
            await expect(rows.filter(has_text=reference)).to_have_count(1)
        await screenshot(page, "provider-app-more-invitations")
    finally:
        await context.close()
    assert not errors, errors
