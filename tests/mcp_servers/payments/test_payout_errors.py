"""A payment the loan took carries no error: ``last_error`` on a succeeded payment means "not applied"
(platform_health names it, the one-payout index leaves it out). A probe found applied payouts still
carrying an earlier attempt's refusal or timeout; and a payout the vendor reversed, unlike one it
refused, left a loan with a late-paid earlier payout waiting for good."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from fastmcp import Client

from database.payments.payments import UNAPPLIED_RECEIPTS
from mcp_servers.runtime import Runtime
from tests.helpers.loans import RECONCILE, call
from tests.helpers.payments import (
    disburse,
    failed_payout,
    key,
    loan_status,
    payment_deps,
    pending_loan,
    send,
    vendor_says,
)
from tools.payments.ports import GatewayTimeout
from tools.platform.jobs import RetryLater
from tools.platform.principal import Role

RETRY = "payments_retry_disbursement"
MIGRATIONS = Path(__file__).parents[3] / "database" / "migrations" / "core"


async def _amount(db: asyncpg.Connection, payment_id: str) -> int:
    return int(await db.fetchval("SELECT amount_minor FROM caas_core.payments WHERE id = $1", payment_id))


async def _error(db: asyncpg.Connection, payment_id: str) -> Any:
    return await db.fetchval("SELECT last_error FROM caas_core.payments WHERE id = $1", uuid.UUID(payment_id))


async def test_a_refused_payout_paid_after_all_is_applied_without_its_refusal(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, payout, amount = await failed_payout(client, principal, runtime, core_db)
    assert await _error(core_db, payout["id"])  # the vendor's refusal, while it stands
    held = await core_db.fetchval(UNAPPLIED_RECEIPTS)
    said = await vendor_says(runtime, payout["reference"], "transfer.success", amount)
    assert said.outcome == "applied" and await loan_status(core_db, loan["id"]) == "active"
    assert await _error(core_db, payout["id"]) is None
    assert await core_db.fetchval(UNAPPLIED_RECEIPTS) == held


class _AnswerLost:
    """The gateway takes the transfer but its answer never comes (a read timeout); ``during`` runs in
    between, as the vendor's webhook may."""

    def __init__(self, inner: Any, during: Any = None) -> None:
        self._inner, self._during = inner, during
        self.simulated = inner.simulated

    async def transfer(self, **kw: Any) -> Any:
        await self._inner.transfer(**kw)
        if self._during is not None:
            await self._during(kw["reference"])
        raise GatewayTimeout("read timeout")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_a_timeout_noted_around_the_success_webhook_leaves_the_payout_applied(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    for webhook_first in (False, True):
        loan, _ = await pending_loan(client, principal, runtime, core_db)
        payout = await disburse(client, loan)
        amount = await _amount(core_db, payout["id"])
        held = await core_db.fetchval(UNAPPLIED_RECEIPTS)

        async def paid(reference: str, amount: int = amount) -> None:
            await vendor_says(runtime, reference, "transfer.success", amount)

        gateway = _AnswerLost(runtime.deps.payments.gateway, paid if webhook_first else None)
        with contextlib.suppress(RetryLater):  # the answer was lost: the worker would verify later
            await send(payment_deps(runtime, gateway=gateway), payout["id"])
        if not webhook_first:
            await paid(payout["reference"])
        assert await loan_status(core_db, loan["id"]) == "active"
        assert await _error(core_db, payout["id"]) is None, webhook_first
        assert await core_db.fetchval(UNAPPLIED_RECEIPTS) == held


async def test_a_reversed_retry_makes_the_late_paid_payout_the_loans_and_is_retried_like_a_failed_one(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, first, amount = await failed_payout(client, principal, runtime, core_db)
    retried = await call(client, RETRY, {"payment": first["id"], "idempotency_key": key()})
    await send(payment_deps(runtime), retried["id"])
    late = await vendor_says(runtime, first["reference"], "transfer.success", amount)
    assert "booked for recovery" in late.detail
    said = await vendor_says(runtime, retried["reference"], "transfer.reversed", amount)
    assert f"payout {first['id']} applied to loan" in said.detail
    assert await loan_status(core_db, loan["id"]) == "active"
    principal(uuid.uuid4().hex, Role.OPERATOR)
    assert (await call(client, RECONCILE, {}))["consistent"] is True

    # A reversed payout with nothing paid late is retried as a failed one is.
    other, _ = await pending_loan(client, principal, runtime, core_db)
    sent = await disburse(client, other)
    await send(payment_deps(runtime), sent["id"])
    await vendor_says(runtime, sent["reference"], "transfer.reversed", await _amount(core_db, sent["id"]))
    again = await call(client, RETRY, {"payment": sent["id"], "idempotency_key": key()})
    assert (again["status"], again["kind"]) == ("requested", "disbursement")


async def test_migration_0040_clears_the_error_of_payments_their_loan_took_only(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    """Rows written before the fix: an applied payout still carrying its refusal is cleared; a payout its
    loan never took (booked for recovery) keeps why."""
    _, first, amount = await failed_payout(client, principal, runtime, core_db)
    retried = await call(client, RETRY, {"payment": first["id"], "idempotency_key": key()})
    await send(payment_deps(runtime), retried["id"])
    await vendor_says(runtime, retried["reference"], "transfer.success", amount)  # the loan's payout
    await vendor_says(runtime, first["reference"], "transfer.success", amount)  # a duplicate, booked
    stale = "attempt 1 at paystack: read timeout"
    await core_db.execute("UPDATE caas_core.payments SET last_error = $2 WHERE id = $1", retried["id"], stale)
    why = await _error(core_db, first["id"])
    assert why and await _error(core_db, retried["id"]) == stale
    migration = MIGRATIONS / "0040_payments_applied_without_error.sql"
    await core_db.execute(migration.read_text())
    assert (await _error(core_db, retried["id"]), await _error(core_db, first["id"])) == (None, why)
