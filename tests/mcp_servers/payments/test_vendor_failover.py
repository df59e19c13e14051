"""Vendor failover of a payout, against the in-process sandbox gateway: a transfer the chosen vendor
never accepted goes to the next vendor of the currency's route at once; one the vendor may have accepted
stays with it under its reference until it says what happened. Afterwards the payment row, the loan and
the ledger tell the same story."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from adapters.payments.onasis_gateway import OnasisGateway
from mcp_servers.runtime import Runtime
from tests.helpers.loans import RECONCILE, call
from tests.helpers.payments import (
    VERIFY,
    disburse,
    loan_status,
    payment_deps,
    pending_loan,
    private_router,
    row,
    send,
    transfers,
)
from tools.payments.domain.routing import VendorRouter
from tools.payments.ports import GatewayTimeout, GatewayUnavailable
from tools.platform.jobs import RetryLater


async def _ledger_agrees(client: Client, db: asyncpg.Connection, payment_id: str, paid: bool) -> None:
    """The payment row, the loan and the ledger agree: one disbursement journal naming the payment's
    reference exactly when the payment succeeded, and the ledger reconciles."""
    p = await row(db, payment_id)
    loan = await db.fetchrow(
        "SELECT status, disbursement_reference, principal_minor FROM caas_core.loans WHERE id = $1",
        p["loan_id"],
    )
    assert loan is not None
    journals = await db.fetch(
        "SELECT j.memo, sum(po.amount_minor) FILTER (WHERE po.amount_minor > 0) AS debits "
        "FROM caas_ledger.journals j JOIN caas_ledger.postings po ON po.journal_id = j.id "
        "WHERE j.kind = 'disbursement' AND j.source_id = $1 GROUP BY j.id",
        str(p["loan_id"]),
    )
    if paid:
        assert p["status"] == "succeeded"
        assert (loan["status"], loan["disbursement_reference"]) == ("active", p["reference"])
        [journal] = journals
        assert p["reference"] in journal["memo"] and journal["debits"] == loan["principal_minor"]
    else:
        assert p["status"] in ("requested", "sent")
        assert (loan["status"], loan["disbursement_reference"], journals) == (
            "pending_disbursement",
            None,
            [],
        )
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_a_vendor_down_before_the_call_sends_the_transfer_to_the_next_vendor_at_once(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.sandbox is not None
    deps = payment_deps(runtime, router=private_router(runtime, failures=5))
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan)
    runtime.sandbox.vendor_down("paystack")
    try:
        await send(deps, payment["id"])  # paystack answers 503: nothing made there, flutterwave next
    finally:
        runtime.sandbox.vendor_down("paystack", down=False)
    sent = await row(core_db, payment["id"])
    assert (sent["vendor"], sent["status"], sent["attempts"]) == ("flutterwave", "sent", 2)
    assert [t["vendor"] for t in await transfers(runtime, payment["reference"])] == ["flutterwave"]
    await _ledger_agrees(client, core_db, payment["id"], paid=False)
    verified = await call(client, VERIFY, {"payment": payment["id"]})
    assert (verified["status"], verified["vendor"]) == ("succeeded", "flutterwave")
    await _ledger_agrees(client, core_db, payment["id"], paid=True)


async def test_a_primary_whose_breaker_is_open_is_skipped_for_the_next_vendor(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    router = private_router(runtime, failures=1)
    router.record_failure("paystack")  # its circuit is open: the call is refused before it is made
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan)
    await send(payment_deps(runtime, router=router), payment["id"])
    sent = await row(core_db, payment["id"])
    assert (sent["vendor"], sent["status"], sent["attempts"]) == ("flutterwave", "sent", 1)
    assert [t["vendor"] for t in await transfers(runtime, payment["reference"])] == ["flutterwave"]


async def test_when_no_vendor_accepts_the_payment_waits_free_and_starts_at_the_primary_again(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.sandbox is not None
    deps = payment_deps(runtime, router=private_router(runtime, failures=5))
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan)
    for vendor in ("paystack", "flutterwave"):
        runtime.sandbox.vendor_down(vendor)
    try:
        with pytest.raises(RetryLater):
            await send(deps, payment["id"])
    finally:
        for vendor in ("paystack", "flutterwave"):
            runtime.sandbox.vendor_down(vendor, down=False)
    waiting = await row(core_db, payment["id"])
    # Neither vendor holds it, so no vendor is named and verify_payment has nothing to ask.
    assert (waiting["vendor"], waiting["status"], waiting["attempts"]) == (None, "requested", 2)
    assert "not accepted" in waiting["last_error"] and await transfers(runtime, payment["reference"]) == []
    asked = (await call(client, VERIFY, {"payment": payment["id"]}))["verification"]
    assert (asked["found"], asked["outcome"]) == (False, "ignored") and "no vendor has accepted" in asked[
        "detail"
    ]
    await send(deps, payment["id"])
    sent = await row(core_db, payment["id"])
    assert (sent["vendor"], sent["status"], sent["attempts"]) == ("paystack", "sent", 3)
    assert [t["vendor"] for t in await transfers(runtime, payment["reference"])] == ["paystack"]


async def test_a_vendor_that_accepts_then_goes_dark_keeps_the_transfer_until_it_answers(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.sandbox is not None
    impatient = OnasisGateway(runtime.sandbox.gateway_url, timeout_seconds=0.3, simulated=True)
    deps = payment_deps(runtime, gateway=impatient, router=private_router(runtime, failures=1))
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan, simulate="timeout_after_success")
    try:
        with pytest.raises(RetryLater):
            await send(deps, payment["id"])  # paystack made the transfer; its answer never came
        runtime.sandbox.vendor_down("paystack")  # ...and then it goes dark
        try:
            for _ in range(2):  # its refusals to verify never send the payout elsewhere
                with pytest.raises(RetryLater):
                    await send(deps, payment["id"])
                held = await row(core_db, payment["id"])
                assert (held["vendor"], held["status"], held["attempts"]) == ("paystack", "requested", 1)
                await _ledger_agrees(client, core_db, payment["id"], paid=False)
        finally:
            runtime.sandbox.vendor_down("paystack", down=False)
        await send(deps, payment["id"])  # it answers the verification: the transfer it made succeeded
    finally:
        await impatient.aclose()
    assert [t["vendor"] for t in await transfers(runtime, payment["reference"])] == ["paystack"]
    assert await loan_status(core_db, loan["id"]) == "active"
    await _ledger_agrees(client, core_db, payment["id"], paid=True)


@pytest.mark.parametrize(
    ("made", "error"),
    [
        (False, GatewayTimeout("the gateway did not answer in time; the outcome is unknown")),
        (True, GatewayTimeout("the gateway did not answer in time; the outcome is unknown")),
        (True, GatewayUnavailable("the gateway answered 500")),  # a 500 may follow the transfer
        (True, GatewayUnavailable("the gateway's transfer answer has no transfer status")),  # odd 2xx
    ],
)
async def test_a_transfer_once_tried_at_a_vendor_is_only_ever_sent_again_to_that_vendor(
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    made: bool,
    error: Exception,
) -> None:
    """After an answer that leaves the outcome unknown (whether or not the vendor made the transfer),
    the routes change (a restart with flutterwave first): the transfer still goes only to paystack,
    verified there first, since a first request reaching it late is refused there as a duplicate
    reference and would not be at flutterwave."""

    class UnknownOutcome:
        simulated = True

        def __init__(self, real: Any) -> None:
            self.real = real

        async def transfer(self, **kwargs: Any) -> Any:
            if made:
                await self.real.transfer(**kwargs)
            raise error

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan)
    unknown = payment_deps(runtime, gateway=UnknownOutcome(runtime.gateway), router=private_router(runtime))
    with pytest.raises(RetryLater):
        await send(unknown, payment["id"])
    assert (await row(core_db, payment["id"]))["vendor"] == "paystack"
    await _ledger_agrees(client, core_db, payment["id"], paid=False)
    rerouted = VendorRouter.from_text("NGN:flutterwave,paystack", failures=5, reset_seconds=600)
    await send(payment_deps(runtime, router=rerouted), payment["id"])
    assert [t["vendor"] for t in await transfers(runtime, payment["reference"])] == ["paystack"]
    settled = await row(core_db, payment["id"])
    # Made: the verification applied the vendor's answer; not made: it was sent again, to paystack.
    assert (settled["vendor"], settled["status"]) == ("paystack", "succeeded" if made else "sent")
    await _ledger_agrees(client, core_db, payment["id"], paid=made)
