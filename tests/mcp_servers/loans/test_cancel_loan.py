"""cancel_loan through the MCP client: a loan never paid out ends as cancelled with its application,
the lender's reservation released in the row and the ledger at once; a payout that may still succeed,
a loan paid out, a second call and a borrower's own withdrawal are refused and change nothing."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.loans import (
    GET_APPLICATION,
    GET_LOAN,
    REPAY,
    SCHEDULE,
    active_loan,
    balance,
    call,
    refused,
)
from tests.helpers.notifications import inbox, settle
from tests.helpers.payments import DISBURSE, disburse, key, pending_loan, send
from tests.helpers.risk import uid
from tools.payments.domain.payments import GatewayEvent
from tools.payments.vendor_events import receive_gateway_event
from tools.platform.principal import Role

CANCEL = "credit_cancel_loan"
WITHDRAW = "credit_withdraw_application"
REASON = "the borrower found the money elsewhere"


async def lender_capital(db: asyncpg.Connection, provider: dict[str, Any]) -> tuple[int, int, int]:
    """The provider row's available capital, and the ledger's available and reserved."""
    row = await db.fetchval(
        "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1", uuid.UUID(provider["id"])
    )
    available = await balance(db, "provider", "capital_available", provider["id"], provider["currency"])
    reserved = await balance(db, "provider", "capital_reserved", provider["id"], provider["currency"])
    return row, available, reserved


async def test_a_loan_never_paid_out_is_cancelled_and_its_lenders_capital_released(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await pending_loan(client, principal, runtime, core_db)
    principal_minor = round(Decimal(loan["principal"]["amount"]) * 100)
    row, available, reserved = await lender_capital(core_db, provider)
    assert reserved == principal_minor and row == available

    cancelled = await call(client, CANCEL, {"loan": loan["id"], "reason": REASON})
    assert cancelled["status"] == "cancelled" and cancelled["timeline"][-1]["to_status"] == "cancelled"
    assert REASON in cancelled["timeline"][-1]["reason"]
    app = await call(client, GET_APPLICATION, {"application": loan["application_id"]})
    assert app["status"] == "withdrawn"
    assert await lender_capital(core_db, provider) == (row + principal_minor, available + principal_minor, 0)
    events = await core_db.fetch(
        "SELECT event_type FROM caas_core.outbox WHERE aggregate_id = ANY($1::text[]) ORDER BY id",
        [loan["id"], loan["application_id"], loan["bid_id"]],
    )
    assert {"loan.cancelled", "application.withdrawn", "offer.released"} <= {e["event_type"] for e in events}

    # Once: again is a conflict that writes nothing; a cancelled loan is repaid by nobody.
    journals = await core_db.fetchval("SELECT count(*) FROM caas_ledger.journals")
    assert await refused(client, CANCEL, {"loan": loan["id"], "reason": REASON}) == "conflict"
    payment = {"loan": loan["id"], "amount": "10.00", "paid_at": cancelled["created_at"], "reference": "r-1"}
    assert await refused(client, REPAY, payment) == "conflict"
    assert await core_db.fetchval("SELECT count(*) FROM caas_ledger.journals") == journals
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["status"] == "cancelled"
    # The borrower is told: nothing was paid to them and they owe nothing.
    await settle(runtime)
    told = await inbox(client, principal, loan["borrower_id"])
    assert any(n["title"] == "Loan cancelled" and "you owe nothing" in n["body"] for n in told)


async def test_a_payout_that_may_still_succeed_holds_the_loan_until_it_failed(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await pending_loan(client, principal, runtime, core_db)
    payout = await disburse(client, loan, simulate="rejected")
    before = await lender_capital(core_db, provider)
    args = {"loan": loan["id"], "reason": "the account number is wrong", "application_ends": "declined"}
    refusal = await client.call_tool(CANCEL, args, raise_on_error=False)
    assert refusal.is_error and f"payout {payout['id']} (requested)" in refusal.content[0].text
    assert await lender_capital(core_db, provider) == before

    await send(runtime.deps.payments, payout["id"])  # the vendor refuses it: the payout failed
    cancelled = await call(client, CANCEL, args)
    assert cancelled["status"] == "cancelled"
    app = await call(client, GET_APPLICATION, {"application": loan["application_id"]})
    assert app["status"] == "declined"
    notice = await call(client, "credit_get_adverse_action_notice", {"application": app["id"]})
    assert [r["message"] for r in notice["reasons"]] == ["the account number is wrong"]
    assert (await lender_capital(core_db, provider))[2] == 0
    # That reason is the borrower's adverse-action notice: the lender reads it in no event and no view
    # (a probe found "account 0123987456 not held by ..." in the loan.cancelled webhook).
    told = await core_db.fetchval(
        "SELECT payload->>'reason' FROM caas_core.outbox WHERE event_type = 'loan.cancelled' "
        "AND aggregate_id = $1",
        loan["id"],
    )
    assert told == "cancelled before its disbursement"
    principal(uid("lender"), Role.PROVIDER, provider["id"])
    seen = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert seen["status"] == "cancelled" and "account number" not in str(seen["timeline"])
    principal(uid("op"), Role.OPERATOR)

    # Nothing pays it out any more, and what was never lent is no part of the lender's book.
    again = await client.call_tool(
        DISBURSE, {"loan": loan["id"], "idempotency_key": key()}, raise_on_error=False
    )
    assert again.is_error and "cancelled before any payout" in again.content[0].text
    book = await runtime.deps.loans.reader.book(uuid.UUID(provider["id"]))
    assert (book.loans, book.defaulted) == (0, 0)
    # Should the vendor pay the failed payout after all, the money is recorded, not applied, and named.
    amount = await core_db.fetchval("SELECT amount_minor FROM caas_core.payments WHERE id = $1", payout["id"])
    late = GatewayEvent(uuid.uuid4().hex, "transfer.success", payout["reference"], amount, "NGN", None)
    said = await receive_gateway_event(runtime.deps.payments, "paystack", late, "0" * 64)
    assert said.outcome == "rejected" and "cancelled before this payout was confirmed" in said.detail
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["status"] == "cancelled"


async def test_who_may_cancel_and_what_is_no_longer_cancelled(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    app = await call(client, GET_APPLICATION, {"application": loan["application_id"]})
    mine = {"loan": loan["id"], "reason": REASON}
    for role, subject in ((Role.AGENT, "agent-x"), (Role.PROVIDER, "prov-x"), (Role.SERVICE, "svc-x")):
        principal(subject, role)
        assert await refused(client, CANCEL, mine) == "permission_denied"
    principal("b-stranger", Role.BORROWER)
    assert await refused(client, CANCEL, mine) == "not_found"  # another's loan reads as missing
    principal(app["borrower_id"], Role.BORROWER)
    # Withdrawing the approved application alone would leave its loan holding the lender's capital.
    withdrawal = await client.call_tool(
        WITHDRAW, {"application": app["id"], "reason": "changed my mind"}, raise_on_error=False
    )
    assert withdrawal.is_error and "cancel_loan" in withdrawal.content[0].text
    # Declining is the platform's to say; the borrower withdraws, before the money leaves.
    assert await refused(client, CANCEL, {**mine, "application_ends": "declined"}) == "invalid_argument"
    assert (await call(client, CANCEL, mine))["status"] == "cancelled"
    principal("op-1", Role.OPERATOR)
    assert (await call(client, GET_APPLICATION, {"application": app["id"]}))["status"] == "withdrawn"

    paid, _ = await active_loan(client, principal, runtime, core_db)
    principal("op-1", Role.OPERATOR)
    assert await refused(client, CANCEL, {"loan": paid["id"], "reason": REASON}) == "conflict"


async def test_a_cancelled_loan_shows_nothing_owed_in_any_view(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    """Nothing was lent, so nothing is owed: a probe saw the cancelled loan's schedule still list every
    installment as upcoming with its amount outstanding."""
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    before = await call(client, SCHEDULE, {"loan": loan["id"]})
    assert {line["status"] for line in before["lines"]} == {"upcoming"}
    await call(client, CANCEL, {"loan": loan["id"], "reason": REASON})
    zero = {"amount": "0.00", "currency": loan["currency"]}
    schedule = await call(client, SCHEDULE, {"loan": loan["id"]})
    assert {line["status"] for line in schedule["lines"]} == {"cancelled"}
    assert {line["outstanding"]["total"]["amount"] for line in schedule["lines"]} == {"0.00"}
    assert schedule["outstanding"]["total"] == zero and schedule["written_off"]["total"] == zero
    # The contract stays as it was offered: its totals still add up.
    contract = ("principal", "total_interest", "total_of_payments")
    assert [schedule[k] for k in contract] == [before[k] for k in contract]
    view = await call(client, GET_LOAN, {"loan": loan["id"]})
    assert (view["outstanding"]["total"], view["overdue"], view["next_due"]) == (zero, zero, None)
    listed = await call(client, "credit_list_loans", {"status": ["cancelled"]})
    [row] = [x for x in listed["items"] if x["id"] == loan["id"]]
    assert (row["outstanding"], row["next_due"], row["written_off"]) == (zero, None, zero)
