"""What approval re-checks, and who may not give it (a probe's finds): affordability at the accepted
offer's amount and term, not the request's; and the borrower, signed in as staff, neither reviews nor
approves their own application."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

import asyncpg
from fastmcp import Client

from tests.helpers.bidding import ACCEPT, as_borrower, invite, lender, open_application, place
from tests.helpers.errors import error_code, error_message
from tests.helpers.payments import key
from tests.helpers.risk import (
    APPROVE,
    APPROVE_BUREAU,
    ASSESSMENT,
    REFER_BUREAU,
    REVIEW,
    SUBMIT,
    TIMELINE,
    accept_offer,
    body,
    call,
    scored,
    submitted,
    uid,
    verify_kyc,
)
from tests.mcp_servers.credit.test_decisions import COMMENT
from tools.platform.principal import Role

UPDATE = "credit_update_application"


async def test_approval_checks_affordability_at_the_accepted_offers_term(
    client: Client, principal: Any, country: str
) -> None:
    # 250,000 asked over 12 months with 150,000 a month owed already: affordable (debt-to-income about
    # 0.39 of 450,000). The offer accepted is for 3 months: about 0.53, past the 0.45 limit.
    provider = await lender(client, principal, country)
    app = await open_application(client, principal, country, monthly_obligations="150000.00")
    await verify_kyc(client, principal, app, "proof_of_income")
    await invite(client, principal, app)
    offer = await place(client, principal, app, provider, term_months=3, annual_rate="0.30")
    as_borrower(principal, app)
    await call(client, ACCEPT, {"application": app["id"], "bid": offer["id"], "idempotency_key": key()})
    principal(uid("op-checker"), Role.OPERATOR)
    result = await call(client, APPROVE, {"application": app["id"], "comment": COMMENT})
    assert (result["approved"], result["status"]) == (False, "declined"), result
    recheck = await call(client, ASSESSMENT, {"application": app["id"]})
    assert (recheck["stage"], recheck["inputs"]["term_months"]) == ("approval", 3)


async def test_approval_measures_debt_to_income_at_the_offers_own_installment(
    client: Client, principal: Any, country: str
) -> None:
    # A weekly flat offer at 30% on 250,000 over 12 months: 52 installments of 250,000 * 1.3 / 52 =
    # 6,250.00, so 27,083.33 a month (6,250 * 52 / 12) against 24,372.33 estimated at the 30% annuity
    # reference rate. Debt-to-income is what the borrower will really pay.
    provider = await lender(client, principal, country)
    app = await open_application(client, principal, country)
    await verify_kyc(client, principal, app, "proof_of_income")
    await invite(client, principal, app)
    weekly = {"repayment_frequency": "weekly", "schedule_method": "flat", "annual_rate": "0.30"}
    offer = await place(client, principal, app, provider, **weekly)
    as_borrower(principal, app)
    await call(client, ACCEPT, {"application": app["id"], "bid": offer["id"], "idempotency_key": key()})
    principal(uid("op-checker"), Role.OPERATOR)
    assert (await call(client, APPROVE, {"application": app["id"], "comment": COMMENT}))["approved"]
    recheck = await call(client, ASSESSMENT, {"application": app["id"]})
    assert recheck["stage"] == "approval"
    assert Decimal(recheck["installment_estimate"]) == Decimal("27083.33")
    assert Decimal(recheck["inputs"]["offered_installment"]) == Decimal("27083.33")
    income, owed = (
        Decimal(recheck["inputs"]["monthly_income"]),
        Decimal(recheck["inputs"]["monthly_obligations"]),
    )
    assert Decimal(recheck["dti_after"]) == ((owed + Decimal("27083.33")) / income).quantize(
        Decimal("0.0001"), rounding=ROUND_CEILING
    )


async def test_the_borrower_signed_in_as_staff_neither_reviews_nor_approves_their_own_application(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    # Filed, submitted and accepted by others: the borrower made no step but being the borrower.
    app = await submitted(client, principal, filer=uid("op-filer"))
    await verify_kyc(client, principal, app, "national_id", "proof_of_income")
    await scored(client, principal, app, APPROVE_BUREAU, uid("op-score"))
    await accept_offer(core_db, app, uid("op-accept"), "operator")
    principal(app["borrower_id"], Role.OPERATOR)
    seen = (await call(client, TIMELINE, {"application": app["id"]}))["maker_checker"]
    assert (seen["you_made"], seen["you_may_approve"]) == ("applied for", False)
    result = await client.call_tool(
        APPROVE, {"application": app["id"], "comment": COMMENT}, raise_on_error=False
    )
    assert error_code(result) == "permission_denied" and "you applied for" in error_message(result)
    referred = await submitted(client, principal, filer=uid("op-filer"))
    await verify_kyc(client, principal, referred, "national_id")
    await scored(client, principal, referred, REFER_BUREAU, uid("op-score"))
    principal(referred["borrower_id"], Role.OPERATOR)
    args = {"application": referred["id"], "decision": "open_for_bids", "comment": COMMENT}
    result = await client.call_tool(REVIEW, args, raise_on_error=False)
    assert error_code(result) == "permission_denied" and "you applied for" in error_message(result)


async def test_whoever_edited_the_draft_cannot_approve_it_after_others_moved_it_on(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    """A probe's find: an operator who raised a draft's income from 450,000 to 900,000 approved it
    later: the maker-checker rule knew only who changed it last, and later moves overwrote that."""
    borrower, editor = uid("b"), uid("op-editor")
    principal(borrower, Role.BORROWER)
    draft = await call(client, "credit_draft_application", {"application": body(40)})
    principal(editor, Role.OPERATOR)
    await call(client, UPDATE, {"application": draft["id"], "changes": {"monthly_income": "900000.00"}})
    principal(borrower, Role.BORROWER)
    app = await call(client, SUBMIT, {"draft": draft["id"]})
    await verify_kyc(client, principal, app, "national_id", "proof_of_income")
    await scored(client, principal, app, APPROVE_BUREAU, uid("op-score"))
    await accept_offer(core_db, app, borrower)
    principal(editor, Role.OPERATOR)
    seen = (await call(client, TIMELINE, {"application": app["id"]}))["maker_checker"]
    assert {"subject": editor, "step": "edited"} in [
        {k: m[k] for k in ("subject", "step")} for m in seen["makers"]
    ]
    result = await client.call_tool(
        APPROVE, {"application": app["id"], "comment": COMMENT}, raise_on_error=False
    )
    assert error_code(result) == "permission_denied" and "you edited" in error_message(result)


async def test_an_application_without_a_bank_account_is_not_approved(
    client: Client, principal: Any, country: str
) -> None:
    # A probe's find: approved and originated, its loan could never be paid out, and the refusal at
    # disbursement pointed to an action no tool offers.
    provider = await lender(client, principal, country)
    applicant = {k: v for k, v in body()["applicant"].items() if k != "bank_account"}
    app = await open_application(client, principal, country, applicant=applicant)
    await verify_kyc(client, principal, app, "proof_of_income")
    await invite(client, principal, app)
    offer = await place(client, principal, app, provider)
    as_borrower(principal, app)
    await call(client, ACCEPT, {"application": app["id"], "bid": offer["id"], "idempotency_key": key()})
    principal(uid("op-checker"), Role.OPERATOR)
    result = await client.call_tool(
        APPROVE, {"application": app["id"], "comment": COMMENT}, raise_on_error=False
    )
    assert error_code(result) == "conflict"
    assert "no bank account" in error_message(result) and "withdraw_application" in error_message(result)
    timeline = await call(client, TIMELINE, {"application": app["id"]})
    assert timeline["status"] == "offer_accepted", timeline["status"]
