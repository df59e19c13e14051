"""The borrower's way out on their page (/app/) in real Chromium: a loan approved but never paid out is
cancelled by its borrower with a reason (cancel_loan, which the page reaches through its toolsets), the
page then shows it cancelled and the application withdrawn, and a refusal (a payout in flight) is shown
in the server's own words. The server here is served as deployed (no CAAS_TOOLSETS: a borrower's
connection sees only its default toolsets), so the page's own toolset choice is what reaches the tool."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastmcp import Client
from playwright.async_api import Page, expect

from mcp_servers.composition import build_server
from mcp_servers.platform.serving import ShutdownGate, http_app
from mcp_servers.runtime import Runtime
from mcp_servers.toolsets import Selection
from tests.browser.conftest import OpenPage, screenshot
from tests.helpers.common import SERVICE_KEY, make_jwt, serving
from tests.helpers.loans import GET_APPLICATION, GET_LOAN, call
from tests.helpers.payments import disburse, pending_loan
from tools.platform.principal import Principal, Role

REASON = "I found the money elsewhere after all"
AUDIT = (Path(__file__).parent / "a11y_audit.js").read_text(encoding="utf-8")  # test_accessibility.py's
CLEAN = {"unlabelled": [], "unnamed": [], "poor": []}


@pytest.fixture(scope="module")
async def site(runtime: Runtime) -> AsyncIterator[str]:
    """The composed server with each role's default toolsets (the tests' settings show every toolset):
    cancel_loan is in "service", which a borrower's connection sees only when it asks for it."""
    server = build_server(
        runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)}, selection=Selection()
    )
    settings = runtime.settings.model_copy(update={"http_sessions": False, "toolsets": ""})
    async with serving(http_app(server, settings, "127.0.0.1", ShutdownGate())) as url:
        yield url


async def ask_to_cancel(page: Page) -> Any:
    """Opens the loan's Cancel dialog, checks what it says will happen, and returns it."""
    await page.get_by_role("region", name="Your loan").get_by_role("button", name="Cancel this loan…").click()
    dialog = page.get_by_role("dialog", name="Cancel this loan?")
    await expect(dialog).to_contain_text("The offer's capital goes back to the lender")
    await expect(dialog).to_contain_text("ends withdrawn")
    await expect(dialog.get_by_label(re.compile("^Why you cancel it"))).to_be_focused()
    return dialog


async def as_operator(client: Client, principal: Any, tool: str, args: dict[str, Any]) -> Any:
    principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    return await call(client, tool, args)


async def test_a_borrower_cancels_a_loan_never_paid_out_and_sees_it_cancelled(
    open_page: OpenPage, client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await pending_loan(client, principal, runtime, core_db)
    page = await open_page("/app/", make_jwt(loan["borrower_id"]))
    section = page.get_by_role("region", name="Your loan")
    await expect(section.locator("#loan-terms")).to_contain_text("pending disbursement")
    await expect(page.get_by_label("Application status")).to_have_text("approved")

    dialog = await ask_to_cancel(page)
    await expect(dialog).to_contain_text(loan["application_reference"])
    assert await page.evaluate(AUDIT) == CLEAN  # the dialog and the loan's button behind it
    await screenshot(page, "borrower-cancel-loan")
    # By keyboard: the reason, then Tab to the button that cancels, then Enter.
    await page.keyboard.type(REASON)
    await page.keyboard.press("Tab")
    await expect(dialog.get_by_role("button", name="Yes, cancel this loan")).to_be_focused()
    await page.keyboard.press("Enter")

    outcome = page.locator("#loan-outcome")
    await expect(outcome).to_contain_text(
        f"your loan for {loan['application_reference']} is cancelled and application "
        f"{loan['application_reference']} is withdrawn"
    )
    await expect(outcome).to_be_focused()
    await expect(section.get_by_role("button", name="Cancel this loan…")).to_be_hidden()
    await expect(section.locator("#loan-terms")).to_contain_text("cancelled")
    await expect(page.get_by_label("Application status")).to_have_text("withdrawn")
    await expect(page.locator("#status")).to_have_text("")
    await screenshot(page, "borrower-loan-cancelled")

    # What the tools say now: the loan cancelled with the borrower's reason, the application withdrawn,
    # and the lender's reserved capital released.
    ended = await as_operator(client, principal, GET_LOAN, {"loan": loan["id"]})
    assert ended["status"] == "cancelled" and REASON in ended["timeline"][-1]["reason"]
    app = await call(client, GET_APPLICATION, {"application": loan["application_id"]})
    assert app["status"] == "withdrawn"
    capital = await core_db.fetchval(
        "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1", uuid.UUID(provider["id"])
    )
    assert capital == 100_000_000_00  # the lender's whole capital (tests/helpers/providers.py)


async def test_a_refusal_is_shown_in_the_servers_words_and_changes_nothing(
    open_page: OpenPage, client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payout = await disburse(client, loan)  # requested: it may still succeed
    page = await open_page("/app/", make_jwt(loan["borrower_id"]))
    section = page.get_by_role("region", name="Your loan")
    cancel = section.get_by_role("button", name="Cancel this loan…")

    # Changing one's mind in the dialog cancels nothing.
    dialog = await ask_to_cancel(page)
    await dialog.get_by_role("button", name="Keep the loan").click()
    await expect(dialog).to_be_hidden()

    dialog = await ask_to_cancel(page)
    await dialog.get_by_label(re.compile("^Why you cancel it")).fill(REASON)
    await dialog.get_by_role("button", name="Yes, cancel this loan").click()
    outcome = page.locator("#loan-outcome")
    await expect(outcome).to_contain_text("Not cancelled:")
    await expect(outcome).to_contain_text(f"payout {payout['id']} (requested): a payout requested or sent")
    await expect(outcome).to_have_attribute("role", "alert")
    await expect(outcome).to_be_focused()
    await expect(page.locator("#status")).to_have_text("")  # no generic error beside it
    for scheme in ("light", "dark"):  # the refusal is legible in either scheme
        await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        assert await page.evaluate(AUDIT) == CLEAN
    await expect(cancel).to_be_visible()
    await expect(page.get_by_label("Application status")).to_have_text("approved")
    await screenshot(page, "borrower-cancel-refused")

    kept = await as_operator(client, principal, GET_LOAN, {"loan": loan["id"]})
    assert kept["status"] == "pending_disbursement"
    app = await call(client, GET_APPLICATION, {"application": loan["application_id"]})
    assert app["status"] == "approved"
