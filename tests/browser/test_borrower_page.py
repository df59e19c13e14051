"""The borrower's page (/app/) in real Chromium against the composed server: the offers ranked by APR with
money in the currency's digits and each offer's schedule; accepting the best one with its exact terms
confirmed (and the server's own confirmation of the money move); a bid and a notification arriving
without a reload; a document uploaded to the local store end to end; an installment paid through the
gateway's authorization URL, its payment's status changing live."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client, FastMCP
from playwright.async_api import Page, expect

from mcp_servers.runtime import Runtime
from tests.browser.conftest import OpenPage, screenshot
from tests.helpers.bidding import ACCEPT, COMPARE, as_borrower, market, place
from tests.helpers.common import make_jwt
from tests.helpers.loans import active_loan
from tests.helpers.notifications import settle
from tools.platform.principal import Role

DOCUMENTS = "documents_list_documents"
PAYMENTS = "payments_list_payments"
VERIFY = "payments_verify_payment"
SCHEDULE = "credit_get_repayment_schedule"


async def confirmed_on_the_page(page: Page) -> None:
    """The person says yes to the server's own question and the offer is accepted."""
    dialog = page.get_by_role("dialog", name="Confirm this money move?")
    await dialog.get_by_role("button", name="Yes, confirm it").click()
    await expect(page.get_by_label("Application status")).to_have_text("offer accepted")
    await expect(page.locator("#offers-outcome")).to_contain_text("Confirmed")


def offers(page: Page) -> Any:
    return page.get_by_role("table", name=re.compile("APR"))


async def test_a_borrower_accepts_the_best_offer_and_sees_bids_and_notifications_arrive_live(
    open_page: OpenPage, client: Client, principal: Any, runtime: Runtime, country: str
) -> None:
    app, (cheap, dear, late) = await market(client, principal, country, lenders=3)
    await place(client, principal, app, dear, annual_rate="0.30")
    await place(client, principal, app, cheap, annual_rate="0.20", origination_fee="1250.50")
    as_borrower(principal, app)
    compared = (await client.call_tool(COMPARE, {"application": app["id"]})).structured_content
    best, runner_up = compared["offers"]
    assert best["bid"]["provider_id"] == cheap

    page = await open_page("/app/", make_jwt(app["borrower_id"]))
    await expect(page.get_by_label("Application status")).to_have_text("open for bids")
    rows = offers(page).locator("tbody tr")
    await expect(rows).to_have_count(2)
    # Ranked by APR, the lender's disclosed APR shown; money with grouping and the currency's 2 digits.
    await expect(rows.nth(0)).to_contain_text(best["apr_percent"] + "%")
    await expect(rows.nth(1)).to_contain_text(runner_up["apr_percent"] + "%")
    installment = best["installment"]["amount"]
    whole, cents = installment.split(".")
    await expect(rows.nth(0)).to_contain_text(f"{int(whole):,}.{cents}")
    await expect(rows.nth(0).get_by_role("button", name="Accept…")).to_be_visible()

    await page.get_by_role("button", name=re.compile("^Schedule of .* offer")).first.click()
    schedule = page.get_by_role("table", name=re.compile("Schedule of the offer from"))
    await expect(schedule.locator("tbody tr")).to_have_count(len(best["schedule"]))
    await expect(schedule.locator("tbody tr").last).to_contain_text("0.00")  # nothing left after the last

    # While the page is open: a lender bids, and the borrower is told (offer_received) by the queue.
    await expect(page.locator("#unread")).to_have_text("0 unread notifications")  # none delivered yet
    await page.evaluate("window.notReloaded = true")
    await place(client, principal, app, late, annual_rate="0.26")
    await expect(rows).to_have_count(3)
    await settle(runtime)
    await expect(page.locator("#inbox li").first).to_contain_text("New:")
    assert await page.evaluate("window.notReloaded === true")
    await screenshot(page, "borrower-page")

    await rows.nth(0).get_by_role("button", name="Accept…").click()
    terms = page.get_by_role("dialog")
    await expect(terms).to_contain_text(f"{best['apr_percent']}% APR")
    await expect(terms).to_contain_text("1,250.50")  # the origination fee, exactly
    await screenshot(page, "borrower-accept-terms")
    await terms.get_by_role("button", name="Yes, accept it").click()
    # The server asks the person to confirm the money move itself; the page shows its summary.
    await page.get_by_role("button", name="Yes, confirm it").click()
    await expect(page.get_by_label("Application status")).to_have_text("offer accepted")
    await expect(page.locator("#offers-outcome")).to_contain_text("Accepted")
    await screenshot(page, "borrower-accepted")
    assert await page.evaluate("window.notReloaded === true")


async def test_a_pending_money_move_is_shown_with_its_summary_and_refused_or_confirmed_by_the_borrower(
    open_page: OpenPage,
    client: Client,
    principal: Any,
    runtime: Runtime,
    country: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A deployment whose borrowers' clients do not confirm by elicitation: accepting leaves a pending action.
    human = runtime.settings.model_copy(update={"confirm_elicitation_roles": "operator,admin"})
    monkeypatch.setattr(runtime, "settings", human)
    app, (lender,) = await market(client, principal, country, lenders=1)
    await place(client, principal, app, lender)
    page = await open_page("/app/", make_jwt(app["borrower_id"]))
    rows = offers(page).locator("tbody tr")
    await expect(rows).to_have_count(1)
    await rows.nth(0).get_by_role("button", name="Accept…").click()
    await page.get_by_role("button", name="Yes, accept it").click()
    pending = page.get_by_role("dialog", name="Confirm this money move?")
    await expect(pending).to_contain_text("borrow 250000.00 GHS over 12 months")  # the server's summary
    await screenshot(page, "borrower-pending-confirmation")
    await pending.get_by_label("Why you refuse it (only to refuse)").fill("I found a better rate elsewhere")
    await pending.get_by_role("button", name="Refuse it").click()
    await expect(page.locator("#offers-outcome")).to_contain_text("Refused")
    await expect(page.get_by_label("Application status")).to_have_text("open for bids")
    # The refusal is still said after the offers are read again (it used to vanish with the reload it caused).
    await page.get_by_role("button", name="Refresh").click()
    await expect(page.get_by_role("button", name="Refresh")).to_be_enabled()
    await expect(page.locator("#offers-outcome")).to_contain_text("Refused")

    # Where the caller may confirm its own move (CAAS_CONFIRM=self), the borrower confirms it here.
    monkeypatch.setattr(runtime, "settings", human.model_copy(update={"confirm": "self"}))
    await rows.nth(0).get_by_role("button", name="Accept…").click()
    await page.get_by_role("button", name="Yes, accept it").click()
    await confirmed_on_the_page(page)


async def test_a_borrower_uploads_a_document_to_the_local_store_from_the_page(
    open_page: OpenPage, client: Client, principal: Any, country: str
) -> None:
    app, _ = await market(client, principal, country, lenders=1)
    page = await open_page("/app/", make_jwt(app["borrower_id"]))
    await expect(page.get_by_label("Application status")).to_have_text("open for bids")
    pdf = b"%PDF-1.4\n% a payslip for the browser test\n%%EOF\n"
    await page.get_by_label("Document type").select_option("proof_of_income")
    await page.get_by_label("File (PDF, JPEG or PNG)").set_input_files(
        {"name": "payslip march.pdf", "mimeType": "application/pdf", "buffer": pdf}
    )
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator("#upload-state")).to_contain_text("awaits review")
    await expect(page.get_by_role("table", name=re.compile("Documents on this application"))).to_contain_text(
        "proof of income"
    )
    as_borrower(principal, app)
    listed = (await client.call_tool(DOCUMENTS, {"application": app["id"]})).structured_content
    [doc] = [d for d in listed["documents"] if d["document_type"] == "proof_of_income"]
    assert (
        doc["status"] == "pending"
        and doc["size_bytes"] == len(pdf)
        and doc["file_name"] == "payslip-march.pdf"
    )
    await screenshot(page, "borrower-documents")


async def test_a_local_upload_is_refused_to_a_stranger_and_without_a_token(
    site: str, client: Client, principal: Any, country: str
) -> None:
    app, _ = await market(client, principal, country, lenders=1)
    as_borrower(principal, app)
    asked = {
        "application": app["id"],
        "document_type": "bank_statement",
        "file_name": "statement.pdf",
        "media_type": "application/pdf",
        "size_bytes": 4,
    }
    target = (await client.call_tool("documents_request_document_upload", asked)).structured_content
    assert target["storage"] == "local" and target["upload_url"] is None
    url = f"{site}/documents/uploads/{target['upload_id']}"
    pdf = {"Content-Type": "application/pdf"}
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.put(url, content=b"%PDF", headers=pdf)).status_code == 401
        stranger = {**pdf, "Authorization": f"Bearer {make_jwt('b-not-the-owner')}"}
        assert (await http.put(url, content=b"%PDF", headers=stranger)).status_code == 404
        owner = {**pdf, "Authorization": f"Bearer {make_jwt(app['borrower_id'])}"}
        short = await http.put(url, content=b"%PD", headers=owner)
        assert short.status_code == 400 and short.json()["error"] == "invalid_argument"
        # A media type's case does not matter (RFC 9110): a client that writes it capitalised is heard.
        capitalised = {**owner, "Content-Type": "Application/PDF; charset=binary"}
        assert (await http.put(url, content=b"%PDF", headers=capitalised)).status_code == 200


async def test_a_borrower_pays_an_installment_at_the_gateway_and_sees_the_payment_settle_live(
    open_page: OpenPage, client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    borrower = loan["borrower_id"]
    page = await open_page("/app/", make_jwt(borrower))
    lines = page.get_by_role("table", name="Repayment schedule").locator("tbody tr")
    await expect(lines.first).to_be_visible()
    principal(borrower, Role.BORROWER)
    schedule = (
        await client.call_tool("credit_get_repayment_schedule", {"loan": loan["id"]})
    ).structured_content
    loan_line = schedule["lines"][0]
    first = loan_line["outstanding"]["total"]["amount"]
    whole, cents = first.split(".")
    await page.get_by_role("button", name="Pay installment 1…", exact=True).click()
    ask = page.get_by_role("dialog")
    await expect(ask).to_contain_text(f"{int(whole):,}.{cents}")  # the exact amount, grouped
    await ask.get_by_role("button", name="Yes, pay it").click()
    link = page.get_by_role("link", name=re.compile("at the payment gateway"))
    await expect(link).to_be_visible()
    assert runtime.sandbox is not None
    authorization = await link.get_attribute("href")
    assert authorization is not None and authorization.startswith(
        runtime.sandbox.gateway_url + "/sandbox/pay/"
    )
    await expect(page.get_by_role("table", name=re.compile("Payments on this loan"))).to_contain_text(
        "collection"
    )
    await screenshot(page, "borrower-pay")

    # The borrower pays at the gateway; the operator's verify applies it; the page follows, live.
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.post(authorization, params={"outcome": "success"})).status_code == 200
    payments = (
        await client.call_tool(PAYMENTS, {"loan": loan["id"], "kind": "collection"})
    ).structured_content
    [charge] = payments["items"]
    principal("op-verify", Role.OPERATOR)
    await client.call_tool(VERIFY, {"payment": charge["id"]})
    await expect(page.locator(f'[data-payment="{charge["id"]}"]')).to_have_text("succeeded")
    await screenshot(page, "borrower-paid")


async def test_an_acceptance_the_borrowers_agent_asked_for_waits_on_the_page_and_is_confirmed_there(
    open_page: OpenPage, server: FastMCP, client: Client, principal: Any, country: str
) -> None:
    """The agent holds the borrower's token in a client that cannot ask the person: the acceptance waits,
    and the borrower, who may not confirm it from that client, confirms it on the page, which asks."""
    app, (lender,) = await market(client, principal, country, lenders=1)
    offer = await place(client, principal, app, lender)
    as_borrower(principal, app)
    args = {"application": app["id"], "bid": offer["id"], "idempotency_key": uuid.uuid4().hex}
    async with Client(server) as agent:
        waiting = await agent.call_tool(ACCEPT, args, raise_on_error=False)
    assert waiting.is_error and "confirmation_required" in waiting.content[0].text

    page = await open_page("/app/", make_jwt(app["borrower_id"]))
    item = page.get_by_role("list", name="Waiting for your decision").get_by_role("listitem")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("borrow 250000.00 GHS over 12 months")
    await item.get_by_role("button", name="Decide…").click()
    await page.locator("#pending").get_by_role("button", name="Yes, confirm it").click()
    # The server asks the person itself (an elicitation from the page that counts for a borrower).
    await confirmed_on_the_page(page)
