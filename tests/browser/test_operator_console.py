"""The operator console (/admin/, issue 13 part 2) in real Chromium, against the composed server on real
PostgreSQL: maker-checker enforced and shown (a reviewer cannot give the final approval, another operator
can), a pending money move confirmed with its exact amount, a lender onboarded and suspended. The rest of
the market is set up through the MCP client, as in every other test; the console sees it as it happens."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fastmcp import Client, FastMCP
from playwright.async_api import Page, expect

from mcp_servers.apps import QUEUE_APP
from mcp_servers.runtime import Runtime
from tests.browser.conftest import OpenPage, screenshot
from tests.helpers.bidding import ACCEPT, CURRENCY, call, invite, lender, place
from tests.helpers.common import make_jwt
from tests.helpers.confirm import pending_id
from tests.helpers.documents import registered, scan
from tests.helpers.errors import error_of
from tests.helpers.payments import DISBURSE, GET_PAYMENT, disburse, key, pending_loan, send
from tests.helpers.risk import QUEUE, REFER_BUREAU, SUBMIT, body, scored, uid, verify_kyc
from tools.platform.principal import Role

COMMENT = "Payslips and the bank statement agree with the declared income."
CHECK = "Checked the accepted terms against the payslips: fine."


@pytest.fixture
async def bare(server: FastMCP) -> AsyncIterator[Client]:
    """A client that cannot elicit, so a service's money move waits for a person."""
    async with Client(server) as c:
        yield c


async def referred(client: Client, principal: Any, country: str) -> dict[str, Any]:
    """A borrower of ``country`` applies in GHS; identity and income verified; scored 595 (grade D): the
    scorecard refers it to a person."""
    principal(uid("b"), Role.BORROWER)
    payload = body(40, currency=CURRENCY)
    payload["applicant"] = {**payload["applicant"], "country": country}
    app = await call(client, SUBMIT, {"application": payload})
    await verify_kyc(client, principal, app, "national_id", "proof_of_income")
    view = await scored(client, principal, app, REFER_BUREAU, uid("op-score"))
    assert view["application_status"] == "under_review", view
    return dict(app)


async def status(db: asyncpg.Connection, app: dict[str, Any]) -> str:
    found = await db.fetchval("SELECT status FROM caas_core.applications WHERE id = $1", uuid.UUID(app["id"]))
    return str(found)


def detail(page: Page, app: dict[str, Any]) -> Any:
    return page.get_by_role("region", name=f"Application {app['reference']}")


async def test_the_reviewer_cannot_give_the_final_approval_and_another_operator_can(
    open_page: OpenPage, client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    grades = {"accepted_grades": ["A", "B", "C", "D"], "min_score": 500}
    lender_id = await lender(client, principal, country, **grades)
    app = await referred(client, principal, country)
    maker, checker = uid("op-maker"), uid("op-checker")

    page = await open_page("/admin/", make_jwt(maker, role="operator"))
    await expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    queued = page.get_by_role("row").filter(has_text=app["reference"])
    await queued.get_by_role("button", name="Open").click()
    region = detail(page, app)
    await expect(region.get_by_role("region", name="Maker-checker")).to_contain_text("under review")
    await region.get_by_label("Review comment").fill(COMMENT)
    await region.get_by_role("button", name="Approve", exact=True).click()
    await page.get_by_role("dialog").get_by_role("button", name="Yes, approve it").click()
    await expect(region).to_contain_text(f"{app['reference']} is now open for bids")
    assert await status(core_db, app) == "open_for_bids"
    await expect(page.get_by_role("row").filter(has_text=app["reference"])).to_have_count(0)

    # The market goes on through the tools; the console hears of it live, without a reload.
    await invite(client, principal, app)
    bid = await place(client, principal, app, lender_id)
    principal(app["borrower_id"], Role.BORROWER)
    await call(client, ACCEPT, {"application": app["id"], "bid": bid["id"], "idempotency_key": key()})
    makers = region.get_by_role("region", name="Maker-checker")
    await expect(makers).to_contain_text("You may not approve it. You reviewed it")
    await expect(makers.get_by_role("row").filter(has_text=maker)).to_contain_text("reviewed")

    await region.get_by_label("Review comment").fill(CHECK)
    await region.get_by_role("button", name="Final approval").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("GHS 250,000.00 over 12 months")
    await dialog.get_by_role("button", name="Yes, approve it").click()
    refusal = region.get_by_role("alert")
    await expect(refusal).to_contain_text(
        f"maker-checker: you reviewed {app['reference']}, so you cannot approve it"
    )
    await screenshot(page, "operator-console-maker-checker")
    assert await status(core_db, app) == "offer_accepted"
    approvals = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.risk_assessments WHERE application_id = $1 AND stage = 'approval'",
        uuid.UUID(app["id"]),
    )
    assert approvals == 0

    other = await open_page("/admin/", make_jwt(checker, role="operator"))
    waiting = other.get_by_role("table", name=re.compile("Offers accepted")).get_by_role("row")
    await waiting.filter(has_text=app["reference"]).get_by_role("button", name="Open").click()
    region = detail(other, app)
    await expect(region.get_by_role("region", name="Maker-checker")).to_contain_text(
        "You may give the final approval"
    )
    await region.get_by_label("Review comment").fill(CHECK)
    await region.get_by_role("button", name="Final approval").click()
    await other.get_by_role("dialog").get_by_role("button", name="Yes, approve it").click()
    await expect(region).to_contain_text(f"{app['reference']} is approved.")
    await expect(region.get_by_role("definition").first).to_have_text("approved")
    await screenshot(other, "operator-console")
    assert await status(core_db, app) == "approved"


async def test_a_reviewer_verifies_a_document_and_a_decline_needs_a_comment_and_a_yes(
    open_page: OpenPage, client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    principal(uid("b"), Role.BORROWER)
    payload = body(40, currency=CURRENCY)
    payload["applicant"] = {**payload["applicant"], "country": country}
    app = await call(client, SUBMIT, {"application": payload})
    await registered(client, app, scan(), document_type="national_id", file_name="passport-scan.pdf")
    view = await scored(client, principal, app, REFER_BUREAU, uid("op-score"))
    assert view["application_status"] == "under_review", view

    reviewer = uid("op-review")
    page = await open_page("/admin/", make_jwt(reviewer, role="operator"))
    await page.get_by_role("row").filter(has_text=app["reference"]).get_by_role("button", name="Open").click()
    region = detail(page, app)
    document = region.get_by_role("row").filter(has_text="passport-scan.pdf")
    await expect(document).to_contain_text("pending")
    await document.get_by_role("button", name="Verify").click()
    await expect(document).to_contain_text(f"verified by {reviewer}")
    await expect(region).to_contain_text("Identity verified; income not verified.")

    await region.get_by_role("button", name="Decline").click()  # no comment yet
    await expect(region.get_by_role("alert")).to_contain_text("Write a review comment first")
    await expect(page.get_by_role("dialog")).to_have_count(0)
    await region.get_by_label("Review comment").fill("The declared income is not supported by any document.")
    await region.get_by_role("button", name="Decline").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("adverse-action notice")
    await dialog.get_by_role("button", name="Cancel").click()
    assert await status(core_db, app) == "under_review"
    await region.get_by_role("button", name="Decline").click()
    await dialog.get_by_role("button", name="Yes, decline it").click()
    await expect(region).to_contain_text(f"{app['reference']} is now declined.")
    await expect(region).to_contain_text("No decision is open: it is declined.")
    assert await status(core_db, app) == "declined"


async def payout_asked(
    client: Client,
    bare: Client,
    principal: Any,
    runtime: Runtime,
    db: asyncpg.Connection,
    loan: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], str, str]:
    """A loan (else a new one) whose payout a service asked for: (loan, pending action id, exact summary)."""
    if loan is None:
        loan, _ = await pending_loan(client, principal, runtime, db)
    principal(uid("svc-payouts"), Role.SERVICE)
    args = {"loan": loan["id"], "idempotency_key": key()}
    error = error_of(await bare.call_tool(DISBURSE, args, raise_on_error=False))
    assert error is not None and error["code"] == "confirmation_required", error
    action = pending_id(error["message"])
    summary = await db.fetchval("SELECT summary FROM caas_core.pending_actions WHERE id = $1", action)
    assert loan["net_disbursement"]["amount"] in summary
    return loan, action, str(summary)


async def payouts(db: asyncpg.Connection, loan: dict[str, Any]) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM caas_core.payments WHERE loan_id = $1 AND kind = 'disbursement'", loan["id"]
        )
    )


async def test_pending_payouts_are_shown_with_their_exact_amounts_confirmed_or_refused_with_a_reason(
    open_page: OpenPage,
    client: Client,
    bare: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
) -> None:
    loan, action, summary = await payout_asked(client, bare, principal, runtime, core_db)
    second, _ = await pending_loan(client, principal, runtime, core_db)
    page = await open_page("/admin/", make_jwt(uid("op-money"), role="operator"))
    moves = page.get_by_role("table", name=re.compile("Pending confirmations"))
    row = moves.get_by_role("row").filter(has_text=summary)
    await expect(row).to_have_count(1)
    # A move asked while the console is open appears without a reload: its pending_action.requested is
    # the only event (the loan was made before the page opened).
    await page.evaluate("window.caasSamePage = 'yes'")
    asked = await payout_asked(client, bare, principal, runtime, core_db, second)
    refused_loan, refused, refused_summary = asked
    await expect(moves.get_by_role("row").filter(has_text=refused_summary)).to_have_count(1)
    assert await page.evaluate("window.caasSamePage") == "yes"
    await screenshot(page, "operator-console-money")
    await row.get_by_role("button", name="Confirm…").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(summary)
    await dialog.get_by_role("button", name="Yes, confirm it").click()
    await expect(page.get_by_text(f"Confirmed: {summary}")).to_be_visible()
    await expect(row).to_have_count(0)
    settled = await core_db.fetchrow(
        "SELECT status, confirmed_by, confirmed_role FROM caas_core.pending_actions WHERE id = $1", action
    )
    assert (settled["status"], settled["confirmed_role"]) == ("confirmed", "operator")
    assert settled["confirmed_by"].startswith("op-money")
    assert await payouts(core_db, loan) == 1

    other = moves.get_by_role("row").filter(has_text=refused_summary)
    await other.get_by_role("button", name="Refuse…").click()
    await expect(dialog).to_contain_text(refused_summary)
    await dialog.get_by_role("button", name="Yes, refuse it").click()  # no reason yet: the form refuses
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Why you refuse it").fill("the bank account was changed yesterday")
    await dialog.get_by_role("button", name="Yes, refuse it").click()
    await expect(page.get_by_text(f"Refused: {refused_summary}")).to_be_visible()
    await expect(other).to_have_count(0)
    declined = await core_db.fetchrow(
        "SELECT status, decline_reason FROM caas_core.pending_actions WHERE id = $1", refused
    )
    assert tuple(declined) == ("declined", "the bank account was changed yesterday")
    assert await payouts(core_db, refused_loan) == 0


async def test_a_failed_payout_is_retried_from_the_console_once_a_second_person_confirms_it(
    open_page: OpenPage, client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    failed = await disburse(client, loan, simulate="rejected")
    await send(runtime.deps.payments, failed["id"])
    assert (await call(client, GET_PAYMENT, {"payment": failed["id"]}))["status"] == "failed"

    page = await open_page("/admin/", make_jwt(uid("op-retry"), role="operator"))
    row = page.get_by_role("table", name=re.compile("Failed payouts")).get_by_role("row")
    row = row.filter(has_text=failed["reference"])
    await row.get_by_role("button", name="Retry payout").click()
    dialog = page.get_by_role("dialog")
    amount = failed["amount"]  # in the viewer's locale (en-US), with the currency's digits
    await expect(dialog).to_contain_text(
        f"A new payout of {amount['currency']} {Decimal(amount['amount']):,}"
    )
    await dialog.get_by_role("button", name="Yes, pay it out again").click()
    # A browser cannot be asked through elicitation: the move waits for a person other than the caller.
    section = page.get_by_role("region", name="Payouts and failed jobs")
    await expect(section.get_by_role("alert")).to_contain_text("confirmation_required")
    moves = page.get_by_role("table", name=re.compile("Pending confirmations")).get_by_role("row")
    asked = moves.filter(has_text=f"again for loan {loan['id']}")
    await expect(asked).to_contain_text("operator:op-retry")
    await screenshot(page, "operator-console-payouts")

    other = await open_page("/admin/", make_jwt(uid("op-second"), role="operator"))
    mine = other.get_by_role("table", name=re.compile("Pending confirmations")).get_by_role("row")
    await mine.filter(has_text=f"again for loan {loan['id']}").get_by_role("button", name="Confirm…").click()
    await other.get_by_role("dialog").get_by_role("button", name="Yes, confirm it").click()
    await expect(
        other.get_by_text(re.compile(f"Confirmed: Pay out .* again for loan {loan['id']}"))
    ).to_be_visible()
    retried = other.get_by_role("row").filter(has_text=failed["reference"])
    await expect(retried).to_contain_text("Retried: ")
    await expect(retried.get_by_role("button", name="Retry payout")).to_have_count(0)
    payouts_now = await core_db.fetch(
        "SELECT status FROM caas_core.payments WHERE loan_id = $1 AND kind = 'disbursement' "
        "ORDER BY created_at",
        loan["id"],
    )
    assert len(payouts_now) == 2 and payouts_now[0]["status"] == "failed"


async def test_an_operator_onboards_a_lender_and_suspends_it_after_confirming(
    open_page: OpenPage, core_db: asyncpg.Connection
) -> None:
    name = uid("Console Bank")
    page = await open_page("/admin/", make_jwt(uid("op-lenders"), role="operator"))
    form = page.get_by_role("form", name="Onboard a lender")
    fields = {
        "Lender name": name,
        "Currency (ISO 4217, e.g. NGN)": "NGN",
        "Countries (ISO codes, comma separated)": "NG, GH",
        "Smallest loan": "50000.00",
        "Largest loan": "5000000.00",
        "Capital available": "100000000.00",
        "Lowest annual rate (0.18 = 18%)": "0.18",
        "Highest annual rate (0.30 = 30%)": "0.30",
        "Webhook URL (https)": "https://lender.example.com/caas/webhook",
    }
    for label, value in fields.items():
        await form.get_by_label(label, exact=True).fill(value)
    await form.get_by_label("Type").select_option("microfinance")
    await form.get_by_role("button", name="Onboard lender").click()
    await expect(form).to_contain_text(f"{name} is onboarded and active")
    row = (
        page.get_by_role("table", name=re.compile("Credit providers"))
        .get_by_role("row")
        .filter(has_text=name)
    )
    await expect(row).to_contain_text("NGN 100,000,000.00")
    await row.get_by_role("button", name="Suspend…").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(f"Suspend {name}?")
    await dialog.get_by_label("Why you suspend it").fill("licence under review by the regulator")
    await dialog.get_by_role("button", name="Yes, suspend it").click()
    await expect(row).to_contain_text("suspended: licence under review by the regulator")
    await expect(row.get_by_role("button", name="Reactivate")).to_be_visible()
    await screenshot(page, "operator-console-lenders")
    stored = await core_db.fetchrow(
        "SELECT status, suspended_reason FROM caas_core.providers WHERE name = $1", name
    )
    assert (stored["status"], stored["suspended_reason"]) == (
        "suspended",
        "licence under review by the regulator",
    )


# A stand-in MCP host: it renders the app in an iframe, answers ui/initialize after passing the tool's
# result, and forwards each tools/call to the real MCP client (window.callTool, exposed by the test).
HOST = """<!doctype html><html lang="en"><head><title>Host</title></head><body>
<iframe id="app" title="Operator console app" width="1200" height="2400"></iframe>
<script>
const frame = document.getElementById("app");
const send = (message) => frame.contentWindow.postMessage({ jsonrpc: "2.0", ...message }, "*");
window.addEventListener("message", async (event) => {
  const msg = event.data || {};
  if (msg.method === "ui/initialize") {
    send({ method: "ui/notifications/tool-result", params: window.passed });
    send({ id: msg.id, result: { protocolVersion: "2026-01-26", hostContext: { locale: "en-US" } } });
  } else if (msg.method === "tools/call") {
    send({ id: msg.id, result: await window.callTool(msg.params.name, msg.params.arguments) });
  }
});
</script></body></html>"""


def as_host_sends(result: Any) -> dict[str, Any]:
    """A CallToolResult as a host passes it to an app (MCP's JSON shape)."""
    return {
        "content": [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in result.content],
        "structuredContent": result.structured_content,
        "isError": result.is_error,
        "_meta": result.meta,
    }


async def test_in_an_mcp_host_the_console_shows_the_queue_it_was_passed_and_refresh_reads_it_again(
    browser: Any, client: Client, principal: Any, country: str
) -> None:
    first = await referred(client, principal, country)
    principal(uid("op-host"), Role.OPERATOR)
    passed = as_host_sends(await client.call_tool(QUEUE, {"limit": 100}))
    later = await referred(client, principal, country)  # not in what the host passed
    principal(uid("op-host"), Role.OPERATOR)
    (resource,) = await client.read_resource(QUEUE_APP)

    async def call_tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return as_host_sends(await client.call_tool(name, arguments, raise_on_error=False))

    context = await browser.new_context(locale="en-US", timezone_id="America/New_York")
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.expose_function("callTool", call_tool)
        await page.set_content(HOST)
        await page.evaluate(
            "([html, passed]) => { window.passed = passed; document.getElementById('app').srcdoc = html; }",
            [resource.text, passed],
        )
        app = page.frame_locator("#app")
        queue = app.get_by_role("table", name=re.compile("Applications referred"))
        await expect(queue.get_by_role("row").filter(has_text=first["reference"])).to_have_count(1)
        await expect(app.get_by_text("Press Refresh to see changes")).to_be_visible()
        await expect(app.get_by_role("button", name="Sign out")).to_be_hidden()
        # The other sections load through the host as the same operator.
        health = app.get_by_role("region", name="Platform health")
        await expect(health.get_by_role("definition").first).to_have_text(re.compile("^(yes|no)$"))
        assert await queue.get_by_role("row").filter(has_text=later["reference"]).count() == 0
        await app.get_by_role("button", name="Refresh", exact=True).click()
        await expect(queue.get_by_role("row").filter(has_text=later["reference"])).to_have_count(1)
        await screenshot(page, "operator-console-app")
    finally:
        await context.close()
    assert not errors, errors
