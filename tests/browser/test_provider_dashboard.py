"""The provider dashboard in real Chromium: a lender signs in with its provider token, sees its
invitations, types terms and watches the APR preview change (compare_offers' own figures), places a bid
after confirming its exact terms, revises it, withdraws it (confirmed), declines another invitation with
a reason; a second lender's page never shows the first one's bid, and shows its own as it is placed
(live, without reload)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import asyncpg
from fastmcp import Client
from playwright.async_api import Browser, Locator, Page, expect

from mcp_servers.apps import INVITATIONS_APP
from mcp_servers.runtime import Runtime
from tests.browser.conftest import OpenPage, screenshot
from tests.helpers.bidding import (
    BIDS,
    INVITATIONS,
    as_provider,
    call,
    invite,
    market,
    open_application,
    place,
)
from tests.helpers.common import make_jwt
from tests.helpers.loans import active_loan
from tests.helpers.providers import uid
from tests.helpers.webhooks import receiving

LIVE = 20_000  # ms: an event goes through the outbox and the live feed before the page reads again


def invitation(page: Page, reference: str) -> Locator:
    return (
        page.get_by_role("table", name=re.compile("Invitations to bid"))
        .get_by_role("row")
        .filter(has_text=reference)
    )


def bids(page: Page) -> Locator:
    return page.get_by_role("table", name=re.compile("bids on its invitations"))


async def confirm(page: Page, yes: str, *shown: str | re.Pattern[str]) -> None:
    dialog = page.get_by_role("dialog")
    for text in shown:
        await expect(dialog).to_contain_text(text)
    await dialog.get_by_role("button", name=yes).click()
    await expect(dialog).to_have_count(0)


async def place_revise_and_withdraw(
    page: Page, client: Client, principal: Any, app: dict[str, Any], mine: str
) -> None:
    await page.get_by_role("button", name="Place bid").click()
    terms = re.compile(r"GHS\s250,000\.00 at 22% a year over 12 months: 12 monthly annuity installments")
    await confirm(page, "Yes, place it", terms, "APR 25.95%")
    placed = bids(page).get_by_role("row").filter(has_text=app["reference"])
    await expect(placed).to_contain_text("active")
    await expect(placed).to_contain_text("22%")
    await screenshot(page, "provider-dashboard")

    await placed.get_by_role("button", name="Revise…").click()
    await expect(page.get_by_label("Annual rate (%)")).to_have_value("22")
    await expect(page.get_by_label("Fee")).to_have_value("5000.00")
    await page.get_by_label("Annual rate (%)").fill("21.5")
    await page.get_by_role("button", name="Revise bid").click()
    await confirm(page, "Yes, revise it", "21.5% a year")
    await expect(placed).to_contain_text("21.5%")
    as_provider(principal, mine)
    [current, first] = (await call(client, BIDS, {"application": app["id"]}))["items"]
    assert (current["version"], current["status"]) == (2, "active")
    assert Decimal(current["annual_rate"]) == Decimal("0.215")
    assert first["status"] == "superseded" and current["origination_fee"]["amount"] == "5000.00"

    await placed.get_by_role("button", name="Withdraw…").click()
    await page.get_by_label("Reason for withdrawing").fill("repriced the book")
    await page.get_by_role("button", name="Withdraw bid").click()
    await confirm(page, "Yes, withdraw it", "version 2")
    await expect(placed).to_contain_text("withdrawn")
    await expect(placed.get_by_role("button")).to_have_count(0)


async def test_a_lender_bids_with_a_live_preview_revises_withdraws_and_declines(
    open_page: OpenPage, client: Client, principal: Any, country: str
) -> None:
    app, (mine, theirs) = await market(client, principal, country, lenders=2)
    other = await open_application(client, principal, country)
    await invite(client, principal, other)
    page = await open_page("/provider/", make_jwt("lender-web", role="provider", provider_id=mine))
    await expect(page.get_by_role("heading", name="Invitations")).to_be_visible()
    row = invitation(page, app["reference"])
    await expect(row).to_contain_text("open for bids")
    await row.get_by_role("button", name="Bid…").click()

    # The preview follows the terms as they are typed: the figures of compare_offers (test_offers.py).
    await expect(page.get_by_label("Amount")).to_have_value("250000.00")
    preview = page.locator("#preview")
    await page.get_by_label("Annual rate (%)").fill("24")
    await expect(preview).to_contain_text("24.00%")
    await expect(preview).to_contain_text(re.compile(r"12 \u00d7 GHS\s23,639\.90"))  # the viewer's en-US
    await page.get_by_label("Fee").fill("5000")
    await page.get_by_label("Annual rate (%)").fill("22")
    await expect(preview).to_contain_text("25.95%")
    await page.get_by_label("Amount").fill("300000")
    await expect(preview).to_contain_text("more than the 250000.00 GHS requested")
    await page.get_by_label("Amount").fill("250000.00")
    await expect(preview).to_contain_text("These terms fit")
    await screenshot(page, "provider-dashboard-preview")

    await place_revise_and_withdraw(page, client, principal, app, mine)

    declined = invitation(page, other["reference"])
    await declined.get_by_role("button", name="Decline…").click()
    await page.get_by_label("Reason for declining").fill("outside our appetite this month")
    await page.get_by_role("button", name="Decline invitation").click()
    await confirm(page, "Yes, decline it", other["reference"], "outside our appetite")
    await expect(declined).to_contain_text("declined")
    await expect(declined.get_by_role("button")).to_have_count(0)
    await screenshot(page, "provider-dashboard-after")

    # The other lender: the same invitation, none of the first lender's bids; its own bid appears live.
    second = await open_page("/provider/", make_jwt("lender-web-2", role="provider", provider_id=theirs))
    await expect(invitation(second, app["reference"])).to_be_visible()
    await expect(second.get_by_text("No bid yet.")).to_be_visible()
    await expect(second.locator("#live-state")).to_contain_text("Live", timeout=LIVE)
    own = await place(client, principal, app, theirs, annual_rate="0.25")
    theirs_shown = bids(second).get_by_role("row").filter(has_text=app["reference"])
    await expect(theirs_shown).to_contain_text("25%", timeout=LIVE)
    await expect(bids(second).locator("tbody tr")).to_have_count(1)
    await expect(second.get_by_text("21.5%")).to_have_count(0)
    await screenshot(second, "provider-dashboard-second-provider")
    # And the first lender's page never shows the second one's bid.
    await page.get_by_role("button", name="Refresh").click()
    await expect(bids(page).locator("tbody tr")).to_have_count(1)
    await expect(page.get_by_text("25%", exact=True)).to_have_count(0)
    assert own["provider_id"] == theirs


async def test_a_lender_sees_its_loan_capital_commission_and_retries_a_failed_webhook(
    open_page: OpenPage, client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    async with receiving() as receiver:
        name = uid("lender-hooks")
        receiver.answer(name, 410, 410, 410, 410, 410, 410)  # refused for good: failed, not retried
        loan, provider = await active_loan(
            client, principal, runtime, core_db, provider={"webhook_url": receiver.url(name)}
        )
        await runtime.workers.drain()
        page = await open_page(
            "/provider/", make_jwt("lender-books", role="provider", provider_id=provider["id"])
        )
        row = (
            page.get_by_role("table", name="Loans your provider made, newest first")
            .get_by_role("row")
            .filter(has_text=loan["application_reference"])
        )
        await expect(row).to_contain_text("active")
        await row.get_by_role("button", name="Schedule…").click()
        summary = page.locator("#loan-summary")
        await expect(summary).to_contain_text("DPD bucket")
        await expect(summary).to_contain_text("current")
        await expect(page.get_by_role("table", name="Repayment schedule").locator("tbody tr")).to_have_count(
            12
        )
        capital = page.locator("#capital")
        await expect(capital).to_contain_text(re.compile(r"Lent\s*NGN\s250,000\.00"))
        await expect(capital).to_contain_text(re.compile(r"Reserved\s*NGN\s0\.00"))
        # The commission charged at disbursement (8.5% of the principal), this month.
        await expect(page.locator("#commission-totals")).to_contain_text(re.compile(r"NGN\s21,250\.00"))

        deliveries = page.get_by_role("table", name=re.compile("Signed webhooks"))
        failed = deliveries.get_by_role("row").filter(has_text="failed").first
        await expect(failed).to_be_visible()
        await screenshot(page, "provider-dashboard-loans")
        await failed.get_by_role("button", name="Retry…").click()
        await confirm(page, "Yes, send it again", "fresh set of attempts")
        await expect(page.locator("#status")).to_contain_text("queued again")
        await expect(deliveries.get_by_role("row").filter(has_text="pending")).to_have_count(1)


# A stand-in MCP host at the site's origin: it renders the app in an iframe, answers ui/initialize, hands
# over the tool result it was given, and performs the app's tool calls (tools/call) as the provider.
HOST = """<!doctype html><html><body><iframe title="app" width="1200" height="1600"></iframe><script>
const [html, result, token] = [window.APP_HTML, window.APP_RESULT, window.APP_TOKEN];
window.calls = [];
const frame = document.querySelector("iframe");
const reply = (id, res) => frame.contentWindow.postMessage({ jsonrpc: "2.0", id, result: res }, "*");
const tell = (method, params) => frame.contentWindow.postMessage({ jsonrpc: "2.0", method, params }, "*");
window.addEventListener("message", async (event) => {
  const m = event.data || {};
  if (m.method === "ui/initialize") reply(m.id, { hostContext: { locale: "en-US", timeZone: "UTC" } });
  if (m.method === "ui/notifications/initialized") { tell("ui/notifications/tool-input", { arguments: {} });
    tell("ui/notifications/tool-result", result); }
  if (m.method === "tools/call") {
    window.calls.push(m.params.name);
    const answer = await fetch("/mcp", { method: "POST", headers: { "Content-Type": "application/json",
      Accept: "application/json, text/event-stream", Authorization: "Bearer " + token,
      "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": m.params.name,
      "X-CaaS-Toolsets": "default,platform" },
      body: JSON.stringify({ jsonrpc: "2.0", id: m.id, method: "tools/call", params: { ...m.params, _meta: {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { name: "test-host", version: "1" },
        "io.modelcontextprotocol/clientCapabilities": {} } } }) });
    reply(m.id, (await answer.json()).result);
  }
});
frame.srcdoc = html;
</script></body></html>"""


async def test_in_a_host_the_app_shows_the_invitations_it_was_given_and_refreshes_through_the_host(
    browser: Browser, site: str, client: Client, principal: Any, country: str
) -> None:
    app, (mine, _) = await market(client, principal, country, lenders=2)
    as_provider(principal, mine)
    given = await client.call_tool(INVITATIONS, {})
    result = {"content": [], "structuredContent": given.structured_content, "isError": False}
    (resource,) = await client.read_resource(INVITATIONS_APP)
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.route(site + "/host/", lambda route: route.fulfill(content_type="text/html", body=HOST))
    token = make_jwt("lender-in-host", role="provider", provider_id=mine)
    await page.add_init_script(
        f"window.APP_HTML = {json.dumps(resource.text)}; window.APP_RESULT = {json.dumps(result)}; "
        f"window.APP_TOKEN = {json.dumps(token)};"
    )
    await page.goto(site + "/host/")
    dashboard = page.frame_locator("iframe")
    row = dashboard.get_by_role("row").filter(has_text=app["reference"])
    await expect(row.get_by_role("button", name="Bid…")).to_be_visible()
    await expect(dashboard.locator("#capital")).to_contain_text("Available")  # read through the host
    await expect(dashboard.get_by_role("button", name="Sign out")).to_be_hidden()
    called = await page.evaluate("window.calls")
    assert INVITATIONS not in called and "admin_get_provider_capital" in called  # shown as given
    await dashboard.get_by_role("button", name="Refresh").click()
    await page.wait_for_function("window.calls.includes('providers_list_invitations')")
    await expect(row).to_contain_text("invited")
    await screenshot(page, "provider-dashboard-in-a-host")
    await context.close()
    assert not errors, errors
