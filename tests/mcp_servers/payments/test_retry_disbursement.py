"""retry_disbursement through the MCP client: a new payout for a loan whose payout failed, idempotent,
refused for the wrong role and for a payout that has not failed, and a ledger that balances after the
retried payout succeeds."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.common import error_code
from tests.helpers.confirm import confirmed
from tests.helpers.loans import RECONCILE, call, refused
from tests.helpers.payments import (
    GET_PAYMENT,
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
from tools.payments.domain.payments import GatewayEvent
from tools.payments.vendor_events import receive_gateway_event
from tools.platform.jobs import RetryLater
from tools.platform.principal import Role

RETRY = "payments_retry_disbursement"


async def _failed_payout(client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection) -> Any:
    loan, _ = await pending_loan(client, principal, runtime, db)
    payment = await disburse(client, loan, simulate="rejected")
    await send(runtime.deps.payments, payment["id"])
    failed = await call(client, GET_PAYMENT, {"payment": payment["id"]})
    assert failed["status"] == "failed" and "retry_disbursement" in failed["next_step"]
    return loan, payment


async def test_a_retried_payout_succeeds_and_the_ledger_balances(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.sandbox is not None
    loan, failed = await _failed_payout(client, principal, runtime, core_db)
    args = {"payment": failed["reference"], "idempotency_key": key()}
    retried = await call(client, RETRY, args)
    assert (retried["kind"], retried["status"], retried["replayed"]) == ("disbursement", "requested", False)
    assert retried["id"] != failed["id"] and retried["amount"] == failed["amount"]
    audit = await core_db.fetchval(
        "SELECT count(*) FROM caas_audit.audit_log WHERE tool = 'payments.retry_disbursement' "
        "AND object_id = $1",
        retried["id"],
    )
    event = await core_db.fetchval(
        "SELECT event_type FROM caas_core.outbox WHERE aggregate_id = $1", retried["id"]
    )
    assert (audit, event) == (1, "payment.requested")
    # The primary vendor is down: the retried payout goes to the currency's fallback and succeeds.
    runtime.sandbox.vendor_down("paystack")
    try:
        await send(payment_deps(runtime, router=private_router(runtime, failures=5)), retried["id"])
    finally:
        runtime.sandbox.vendor_down("paystack", down=False)
    # The fallback answers "pending"; asking the gateway settles it as its webhook would.
    done = await call(client, VERIFY, {"payment": retried["id"]})
    assert (done["status"], done["vendor"]) == ("succeeded", "flutterwave")
    assert await loan_status(core_db, loan["id"]) == "active"
    assert len(await transfers(runtime, retried["reference"])) == 1
    assert (await call(client, RECONCILE, {}))["consistent"] is True
    # Paid out: the failed payout is not retried a second time.
    assert await refused(client, RETRY, {**args, "idempotency_key": key()}) == "conflict"


async def test_the_same_key_replays_and_other_arguments_conflict(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    _, failed = await _failed_payout(client, principal, runtime, core_db)
    args = {"payment": failed["id"], "idempotency_key": key()}
    first = await call(client, RETRY, args)
    again = await call(client, RETRY, {**args, "payment": failed["reference"]})  # the same payout
    assert (again["id"], again["replayed"]) == (first["id"], True)
    assert await refused(client, RETRY, {**args, "simulate": "failure"}) == "conflict"
    # A new key while the retried payout is in flight: one payout at a time.
    assert await refused(client, RETRY, {**args, "idempotency_key": key()}) == "conflict"
    count = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.payments WHERE loan_id = $1", uuid.UUID(failed["loan_id"])
    )
    assert count == 2


async def test_a_payout_that_has_not_failed_is_not_retried(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.sandbox is not None
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan)
    deps = payment_deps(runtime, router=private_router(runtime, failures=5))
    runtime.sandbox.vendor_down("paystack")
    runtime.sandbox.vendor_down("flutterwave")
    try:
        with pytest.raises(RetryLater):  # every vendor down: the payout waits, it has not failed
            await send(deps, payment["id"])
    finally:
        runtime.sandbox.vendor_down("paystack", down=False)
        runtime.sandbox.vendor_down("flutterwave", down=False)
    result = await client.call_tool(
        RETRY, {"payment": payment["id"], "idempotency_key": key()}, raise_on_error=False
    )
    assert result.is_error and "is requested, not failed" in str(result.content[0])
    assert (
        await refused(client, RETRY, {"payment": str(uuid.uuid4()), "idempotency_key": key()}) == "not_found"
    )
    assert await refused(client, RETRY, {"payment": "not-a-payment", "idempotency_key": key()}) == (
        "invalid_argument"
    )


async def test_only_staff_retry_a_payout(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, failed = await _failed_payout(client, principal, runtime, core_db)
    args = {"payment": failed["id"], "idempotency_key": key()}
    for role in (Role.BORROWER, Role.AGENT, Role.PROVIDER):
        principal(loan["borrower_id"], role)
        assert await refused(client, RETRY, args) == "permission_denied"
    assert (
        await core_db.fetchval(
            "SELECT count(*) FROM caas_core.payments WHERE loan_id = $1", uuid.UUID(loan["id"])
        )
        == 1
    )
    principal("svc-payouts", Role.SERVICE)  # a service's payout waits for a person's confirmation
    retried = await confirmed(client, principal, RETRY, args, by=("op-payouts", Role.OPERATOR))
    assert retried["status"] == "requested"


async def test_concurrent_retries_with_different_keys_make_one_payout(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, failed = await _failed_payout(client, principal, runtime, core_db)
    results = await asyncio.gather(
        *(
            client.call_tool(RETRY, {"payment": failed["id"], "idempotency_key": key()}, raise_on_error=False)
            for _ in range(6)
        )
    )
    assert sorted(error_code(r) or "ok" for r in results) == ["conflict"] * 5 + ["ok"]
    statuses = await core_db.fetch(
        "SELECT status FROM caas_core.payments WHERE loan_id = $1 ORDER BY created_at", uuid.UUID(loan["id"])
    )
    assert [s["status"] for s in statuses] == ["failed", "requested"]


@pytest.mark.parametrize("retry_paid_first", [False, True], ids=["retry-in-flight", "retry-paid"])
async def test_a_payout_the_vendor_pays_after_it_failed_and_was_retried_is_recorded_not_applied(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, retry_paid_first: bool
) -> None:
    """A probe had the vendor report the failed payout paid after its retry was requested: storing that
    broke the one-payout index, so the webhook and verify_payment failed for good and the borrower's
    second payout showed nowhere."""
    loan, failed = await _failed_payout(client, principal, runtime, core_db)
    retried = await call(client, RETRY, {"payment": failed["id"], "idempotency_key": key()})
    deps = payment_deps(runtime)
    await send(deps, retried["id"])
    amount = (await row(core_db, failed["id"]))["amount_minor"]

    async def vendor_says_paid(payment: dict[str, Any]) -> Any:
        event = GatewayEvent(uuid.uuid4().hex, "transfer.success", payment["reference"], amount, "NGN", None)
        return await receive_gateway_event(deps, "paystack", event, "0" * 64)

    if retry_paid_first:
        assert (await vendor_says_paid(retried)).outcome == "applied"
    late = await vendor_says_paid(failed)
    assert late.outcome == "rejected" and "may have been paid twice" in late.detail
    first = await row(core_db, failed["id"])
    assert first["status"] == "succeeded" and "recover the duplicate" in first["last_error"]
    if not retry_paid_first:
        assert await loan_status(core_db, loan["id"]) == "pending_disbursement"  # the retry decides
        assert (await vendor_says_paid(retried)).outcome == "applied"
    assert await loan_status(core_db, loan["id"]) == "active"
    assert (await vendor_says_paid(failed)).outcome == "ignored"  # redelivered: no failure, no effect
    principal(uuid.uuid4().hex, Role.OPERATOR)
    assert (await call(client, VERIFY, {"payment": failed["id"]}))["status"] == "succeeded"
    disbursements = await core_db.fetchval(
        "SELECT count(*) FROM caas_ledger.journals WHERE kind = 'disbursement' AND source_id = $1", loan["id"]
    )
    assert disbursements == 1
    health = (await client.call_tool("admin_platform_health", {})).structured_content
    assert any("may have been paid twice" in line for line in health["attention"])
