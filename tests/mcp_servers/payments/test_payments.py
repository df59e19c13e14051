"""The payments tools through the MCP client, against the in-process sandbox gateway: idempotent
disbursements, the payments worker, verification, collections, who sees which payment, and exactly one
transfer whatever happens between the gateway and the database."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client

from adapters.payments.onasis_gateway import OnasisGateway
from mcp_servers.runtime import Runtime
from tests.helpers.common import TEST_ACCOUNT_NUMBER, application
from tests.helpers.errors import error_of
from tests.helpers.loans import (
    GET_LOAN,
    ORIGINATE,
    RECONCILE,
    accept_bid,
    active_loan,
    approved_application,
    call,
    lender,
    refused,
)
from tests.helpers.payments import (
    COLLECT,
    DISBURSE,
    GET_PAYMENT,
    LIST_PAYMENTS,
    VERIFY,
    disburse,
    key,
    loan_status,
    payment_deps,
    pending_loan,
    private_router,
    row,
    send,
    transfers,
)
from tests.helpers.risk import uid
from tools.payments import charges, payments
from tools.platform.errors import InvalidArgument
from tools.platform.jobs import RetryLater
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role


async def test_disburse_loan_records_a_requested_payment_of_the_net_disbursement_marked_simulated(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan)
    assert (payment["kind"], payment["status"], payment["simulated"]) == ("disbursement", "requested", True)
    assert payment["amount"] == loan["net_disbursement"]
    assert payment["reference"] == f"caas-disbursement-{payment['id']}"
    assert payment["replayed"] is False
    event = await core_db.fetchrow(
        "SELECT event_type, payload FROM caas_core.outbox WHERE aggregate_id = $1", payment["id"]
    )
    assert event is not None and event["event_type"] == "payment.requested"
    assert TEST_ACCOUNT_NUMBER not in str(event["payload"])  # personal data stays in the vault


async def test_disburse_loan_with_the_same_key_and_arguments_replays_and_with_other_arguments_conflicts(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    args = {"loan": loan["id"], "idempotency_key": key()}
    first = await call(client, DISBURSE, args)
    again = await call(
        client, DISBURSE, {**args, "loan": loan["application_id"]}
    )  # the same loan, named otherwise
    assert (again["id"], again["replayed"]) == (first["id"], True)
    assert await refused(client, DISBURSE, {**args, "simulate": "failure"}) == "conflict"
    # A new key is a new request: refused while the first disbursement is in flight.
    assert await refused(client, DISBURSE, {**args, "idempotency_key": key()}) == "conflict"
    count = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.payments WHERE loan_id = $1", uuid.UUID(loan["id"])
    )
    assert count == 1


async def test_ten_concurrent_disbursements_with_one_key_make_one_payment(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    args = {"loan": loan["id"], "idempotency_key": key()}
    results = await asyncio.gather(*(client.call_tool(DISBURSE, args) for _ in range(10)))
    ids = {r.structured_content["id"] for r in results}
    assert len(ids) == 1
    assert sorted(r.structured_content["replayed"] for r in results) == [False] + [True] * 9
    count = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.payments WHERE loan_id = $1", uuid.UUID(loan["id"])
    )
    assert count == 1


async def test_disburse_loan_is_refused_for_borrowers_unknown_loans_and_loans_already_paid_out(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    active, _ = await active_loan(client, principal, runtime, core_db)
    principal(uid("op"), Role.OPERATOR)
    assert await refused(client, DISBURSE, {"loan": active["id"], "idempotency_key": key()}) == "conflict"
    assert (
        await refused(client, DISBURSE, {"loan": str(uuid.uuid4()), "idempotency_key": key()}) == "not_found"
    )
    assert (
        await refused(client, DISBURSE, {"loan": active["id"], "idempotency_key": "short"})
        == "invalid_argument"
    )
    principal(active["borrower_id"], Role.BORROWER)
    assert (
        await refused(client, DISBURSE, {"loan": active["id"], "idempotency_key": key()})
        == "permission_denied"
    )


async def test_a_loan_whose_application_has_no_bank_account_says_what_can_be_done(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    # A probe's find: the refusal said "the borrower adds it to the application first", which no tool
    # does once an application is submitted.
    provider = await lender(client, principal)
    applicant = {k: v for k, v in application()["applicant"].items() if k != "bank_account"}
    app = await approved_application(client, principal, core_db, applicant=applicant)
    await accept_bid(runtime, core_db, app, provider)
    principal(uid("op"), Role.OPERATOR)
    loan = await call(client, ORIGINATE, {"application": app["id"]})
    result = await client.call_tool(
        DISBURSE, {"loan": loan["id"], "idempotency_key": key()}, raise_on_error=False
    )
    error = error_of(result)
    assert error is not None and error["code"] == "conflict", error
    assert "none can be added once an application is submitted" in error["message"]
    assert "cancel_loan" in error["message"] and "adds it to the application" not in error["message"]
    assert await loan_status(core_db, loan["id"]) == "pending_disbursement"


async def test_the_worker_sends_the_transfer_and_verification_activates_the_loan_with_a_reconciled_ledger(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan)
    await send(runtime.deps.payments, payment["id"])
    sent = await call(client, GET_PAYMENT, {"payment": payment["id"]})
    assert (sent["status"], sent["vendor"], sent["attempts"]) == ("sent", "paystack", 1)
    [transfer] = await transfers(runtime, payment["reference"])
    assert transfer["recipient"]["account_number"] == TEST_ACCOUNT_NUMBER
    assert transfer["request"]["idempotency_key"] == payment["reference"]
    # No webhook target in this runtime: the operator asks the gateway instead.
    verified = await call(client, VERIFY, {"payment": payment["id"]})
    assert verified["status"] == "succeeded"
    assert (verified["verification"]["found"], verified["verification"]["outcome"]) == (True, "applied")
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["status"] == "active"
    again = await call(client, VERIFY, {"payment": payment["id"]})
    assert (again["status"], again["verification"]["outcome"]) == ("succeeded", "ignored")
    await send(runtime.deps.payments, payment["id"])  # a redelivered job does nothing
    assert len(await transfers(runtime, payment["reference"])) == 1
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_a_refused_transfer_fails_the_payment_and_the_loan_can_be_disbursed_again(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan, simulate="rejected")
    await send(runtime.deps.payments, payment["id"])
    failed = await call(client, GET_PAYMENT, {"payment": payment["id"]})
    assert failed["status"] == "failed" and "refused" in failed["last_error"]
    assert await loan_status(core_db, loan["id"]) == "pending_disbursement"
    second = await disburse(client, loan)
    assert second["id"] != payment["id"] and second["status"] == "requested"


async def test_a_worker_killed_between_the_gateway_answer_and_the_commit_still_makes_one_transfer(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    class Killed(BaseException):
        """The process dies: nothing after the gateway's answer runs."""

    class DiesAfterTransfer:
        simulated = True

        def __init__(self, real: Any) -> None:
            self.real = real

        async def transfer(self, **kwargs: Any) -> Any:
            await self.real.transfer(**kwargs)
            raise Killed

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan)
    with pytest.raises(Killed):
        await send(payment_deps(runtime, gateway=DiesAfterTransfer(runtime.gateway)), payment["id"])
    stored = await row(core_db, payment["id"])
    assert (stored["status"], stored["attempts"]) == ("requested", 1)  # the answer was never committed
    await send(runtime.deps.payments, payment["id"])  # the job comes back: verify, do not re-send
    assert len(await transfers(runtime, payment["reference"])) == 1
    assert (await row(core_db, payment["id"]))["status"] == "succeeded"
    assert await loan_status(core_db, loan["id"]) == "active"


async def test_a_timeout_after_the_vendor_made_the_transfer_is_verified_not_resent(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.sandbox is not None
    impatient = OnasisGateway(runtime.sandbox.gateway_url, timeout_seconds=0.3, simulated=True)
    try:
        loan, _ = await pending_loan(client, principal, runtime, core_db)
        payment = await disburse(client, loan, simulate="timeout_after_success")
        deps = payment_deps(runtime, gateway=impatient, router=private_router(runtime, failures=5))
        with pytest.raises(RetryLater):
            await send(deps, payment["id"])
        stored = await row(core_db, payment["id"])
        assert (stored["status"], stored["attempts"]) == ("requested", 1)
        assert "did not answer in time" in stored["last_error"]
        await send(deps, payment["id"])
    finally:
        await impatient.aclose()
    assert len(await transfers(runtime, payment["reference"])) == 1
    assert (await row(core_db, payment["id"]))["status"] == "succeeded"
    assert await loan_status(core_db, loan["id"]) == "active"


async def test_collect_repayment_returns_the_payers_url_and_replays_the_same_charge(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    principal(loan["borrower_id"], Role.BORROWER)
    args = {"loan": loan["id"], "amount": "23639.90", "idempotency_key": key()}
    charge = await call(client, COLLECT, args)
    assert (charge["kind"], charge["status"], charge["vendor"]) == ("collection", "sent", "paystack")
    assert charge["authorization_url"].startswith(runtime.sandbox.gateway_url if runtime.sandbox else "")
    again = await call(client, COLLECT, args)
    assert (again["id"], again["replayed"], again["authorization_url"]) == (
        charge["id"],
        True,
        charge["authorization_url"],
    )
    assert await refused(client, COLLECT, {**args, "amount": "100.00"}) == "conflict"
    assert (
        await refused(client, COLLECT, {**args, "amount": "1.001", "idempotency_key": key()})
        == "invalid_argument"
    )


async def test_collect_repayment_falls_back_when_the_primary_vendor_is_down(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.sandbox is not None
    loan, _ = await active_loan(client, principal, runtime, core_db)
    deps = payment_deps(runtime, router=private_router(runtime, failures=5))
    runtime.sandbox.vendor_down("paystack")
    call_as = Invocation(Principal(loan["borrower_id"], Role.BORROWER), "tests.collect", "0" * 64)
    try:
        charge = await charges.collect_repayment(deps, call_as, loan["id"], Decimal("500"), key())
    finally:
        runtime.sandbox.vendor_down("paystack", down=False)
    assert (charge.vendor, charge.status.value) == ("flutterwave", "sent")


async def test_collect_repayment_is_refused_before_the_loan_is_paid_out(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    args = {"loan": loan["id"], "amount": "100.00", "idempotency_key": key()}
    assert await refused(client, COLLECT, args) == "conflict"
    principal(uid("stranger"), Role.BORROWER)
    assert await refused(client, COLLECT, {**args, "idempotency_key": key()}) == "not_found"


async def test_borrowers_and_providers_see_only_their_own_payments(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    mine, provider = await pending_loan(client, principal, runtime, core_db)
    theirs, _ = await pending_loan(client, principal, runtime, core_db)
    own = await disburse(client, mine)
    other = await disburse(client, theirs)
    principal(mine["borrower_id"], Role.BORROWER)
    listed = await call(client, LIST_PAYMENTS, {})
    assert [p["id"] for p in listed["items"]] == [own["id"]]
    assert (await call(client, GET_PAYMENT, {"payment": own["id"]}))["id"] == own["id"]
    assert await refused(client, GET_PAYMENT, {"payment": other["id"]}) == "not_found"
    assert await refused(client, LIST_PAYMENTS, {"loan": theirs["id"]}) == "not_found"
    principal(uid("p"), Role.PROVIDER, provider["id"])
    assert [p["id"] for p in (await call(client, LIST_PAYMENTS, {"kind": "disbursement"}))["items"]] == [
        own["id"]
    ]
    principal(uid("op"), Role.OPERATOR)
    page = await call(client, LIST_PAYMENTS, {"limit": 1, "status": ["requested"]})
    assert len(page["items"]) == 1 and page["next_cursor"] is not None
    following = await call(
        client, LIST_PAYMENTS, {"limit": 1, "status": ["requested"], "cursor": page["next_cursor"]}
    )
    assert following["items"][0]["id"] != page["items"][0]["id"]


async def test_payment_tools_carry_honest_annotations(client: Client) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    hints = {
        name: (
            tools[name].annotations.read_only_hint,
            tools[name].annotations.destructive_hint,
            tools[name].annotations.open_world_hint,
        )
        for name in (DISBURSE, COLLECT, GET_PAYMENT, LIST_PAYMENTS, VERIFY)
    }
    # Paying out cannot be called back (destructive); the gateway is outside (open world).
    assert hints == {
        DISBURSE: (False, True, True),
        COLLECT: (False, False, True),
        GET_PAYMENT: (True, False, False),
        LIST_PAYMENTS: (True, False, False),
        VERIFY: (False, False, True),
    }
    assert all(tools[name].description for name in hints)


async def test_a_simulated_outcome_is_refused_when_the_gateway_is_real(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    class RealGateway:
        simulated = False

    loan, _ = await pending_loan(client, principal, runtime, core_db)
    deps = payment_deps(runtime, gateway=RealGateway())
    operator = Invocation(Principal(uid("op"), Role.OPERATOR), "tests.disburse", "0" * 64)
    with pytest.raises(InvalidArgument):
        await payments.disburse_loan(deps, operator, loan["id"], key(), "success")
    real = await payments.disburse_loan(deps, operator, loan["id"], key())
    assert real.simulated is False


async def test_a_borrowers_collection_carries_the_prepay_choice_to_its_repayment(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    principal(loan["borrower_id"], Role.BORROWER)
    args = {"loan": loan["id"], "amount": "50000.00", "idempotency_key": key(), "prepay": "reduce_term"}
    charge = await call(client, COLLECT, args)
    assert (await row(core_db, charge["id"]))["prepay"] == "reduce_term"
    assert await refused(client, COLLECT, {**args, "prepay": None}) == "conflict"  # same key, other choice
    async with httpx.AsyncClient() as http:
        paid = await http.post(charge["authorization_url"], params={"outcome": "success"})
    assert paid.status_code == 200
    principal(uid("op"), Role.OPERATOR)
    verified = await call(client, VERIFY, {"payment": charge["id"]})
    assert (verified["status"], verified["verification"]["outcome"]) == ("succeeded", "applied")
    repayment = await core_db.fetchrow(
        "SELECT prepay, prepaid_principal_minor, paid_ahead_minor FROM caas_core.loan_repayments "
        "WHERE loan_id = $1",
        uuid.UUID(loan["id"]),
    )
    assert dict(repayment) == {
        "prepay": "reduce_term",
        "prepaid_principal_minor": 5_000_000,
        "paid_ahead_minor": 0,
    }
    assert (await call(client, RECONCILE, {}))["consistent"] is True


@pytest.mark.parametrize("tool", [GET_PAYMENT, VERIFY])
async def test_the_old_payment_id_spelling_is_refused_naming_the_new_one(
    client: Client, principal: Any, tool: str
) -> None:
    """Issue 11, item 3: a payment is named ``payment`` like an application or a loan; the old
    ``payment_id`` is refused with what to send instead, not as an unknown field."""
    principal(uid("op"), Role.OPERATOR)
    result = await client.call_tool(tool, {"payment_id": str(uuid.uuid4())}, raise_on_error=False)
    error = error_of(result)
    assert error is not None
    assert error["code"] == "invalid_argument" and "as payment" in error["message"], error
