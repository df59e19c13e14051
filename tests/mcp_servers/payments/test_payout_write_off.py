"""A payout booked for recovery whose recipient will not pay it back is written off by an admin: the
platform's loss, one journal, platform_health stops naming it, and the books stay consistent. Every
refusal changes nothing; a write-off and a recovery of the same booking never both happen."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from database.payments.payments import UNAPPLIED_RECEIPTS
from mcp_servers.runtime import Runtime
from tests.fakes.builders import WORKER
from tests.helpers.common import error_code
from tests.helpers.loans import RECONCILE, call, minor, refused
from tests.helpers.payments import failed_payout, key, loan_status, payment_deps, send, vendor_says
from tools.ledger.ledger import post_journal
from tools.loans.domain.journals import payout_loss_journal
from tools.platform.principal import Role

WRITE_OFF = "payments_write_off_payout"
REVERSE = "admin_reverse_journal"
RETRY = "payments_retry_disbursement"
CANCEL = "credit_cancel_loan"
HEALTH = "admin_platform_health"
NAMED = "payment(s) moved money that their loan refused"
PAID = "transfer.success"
REASON = "the recipient's bank refused the recall twice"


async def _balance(db: asyncpg.Connection, code: str) -> int:
    return int(
        await db.fetchval(
            "SELECT coalesce(sum(p.amount_minor), 0) FROM caas_ledger.postings p "
            "JOIN caas_ledger.accounts a ON a.id = p.account_id WHERE a.code = $1",
            code,
        )
    )


async def _owed(db: asyncpg.Connection, booking: str) -> int:
    """What the booking ``booking`` still says is owed back, after what settled it."""
    return int(
        await db.fetchval(
            "SELECT coalesce(sum(p.amount_minor), 0) FROM caas_ledger.postings p "
            "JOIN caas_ledger.accounts a ON a.id = p.account_id JOIN caas_ledger.journals j "
            "ON j.id = p.journal_id WHERE a.code = 'platform:payout_recovery:NGN' "
            "AND (j.id::text = $1 OR j.source_id = $1 OR j.source_id IN "
            "(SELECT id::text FROM caas_ledger.journals WHERE source_id = $1))",
            booking,
        )
    )


async def _losses(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM caas_ledger.journals WHERE kind = 'payout_loss'"))


async def _booked_for_a_cancelled_loan(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection
) -> tuple[dict[str, Any], str, int]:
    """(payout, its payout_recovery journal, amount): paid by the vendor after its loan was cancelled."""
    loan, failed, amount = await failed_payout(client, principal, runtime, db)
    await call(client, CANCEL, {"loan": loan["id"], "reason": "the borrower found the money elsewhere"})
    assert "booked for recovery" in (await vendor_says(runtime, failed["reference"], PAID, amount)).detail
    journal = await db.fetchval(
        "SELECT id::text FROM caas_ledger.journals WHERE kind = 'payout_recovery' AND source_id = $1",
        failed["id"],
    )
    return failed, str(journal), amount


async def _named(client: Client) -> int:
    """How many payments platform_health names as moved money no loan took (other tests' too)."""
    health = (await client.call_tool(HEALTH, {})).structured_content
    lines = [line for line in health["attention"] if NAMED in line]
    return int(lines[0].split(" ", 1)[0]) if lines else 0


async def test_an_unrecoverable_payout_is_written_off_as_the_platforms_loss(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    payout, journal, amount = await _booked_for_a_cancelled_loan(client, principal, runtime, core_db)
    seen = await call(client, "payments_get_payment", {"payment": payout["id"]})
    assert "booked for recovery" in seen["next_step"] and "write_off_payout" in seen["next_step"]
    held = await core_db.fetchval(UNAPPLIED_RECEIPTS)
    losses_before = await _balance(core_db, "platform:payout_losses:NGN")
    principal("admin-losses", Role.ADMIN)
    named = await _named(client)
    assert named >= 1

    done = await call(client, WRITE_OFF, {"payment": payout["reference"], "reason": REASON})
    assert (minor(done["amount"]), done["amount"]["currency"]) == (amount, "NGN")
    assert done["recovery_journal_id"] == journal and done["reason"] == REASON
    lines = await core_db.fetch(
        "SELECT a.code, p.amount_minor FROM caas_ledger.postings p JOIN caas_ledger.accounts a "
        "ON a.id = p.account_id WHERE p.journal_id = $1 ORDER BY a.code",
        uuid.UUID(done["loss_journal_id"]),
    )
    assert [(r["code"], r["amount_minor"]) for r in lines] == [
        ("platform:payout_losses:NGN", amount),
        ("platform:payout_recovery:NGN", -amount),
    ]
    assert await _balance(core_db, "platform:payout_losses:NGN") == losses_before + amount
    assert await core_db.fetchval(UNAPPLIED_RECEIPTS) == held - 1
    assert await _named(client) == named - 1
    seen = await call(client, "payments_get_payment", {"payment": payout["id"]})
    assert "written off as lost" in seen["next_step"] and "write_off_payout" not in seen["next_step"]
    assert (await call(client, RECONCILE, {}))["consistent"] is True
    audited = await core_db.fetchval(
        "SELECT count(*) FROM caas_audit.audit_log WHERE principal_id = 'admin-losses' AND object_id = $1",
        done["loss_journal_id"],
    )
    assert audited == 1
    losses = await _losses(core_db)

    # Once: a second write-off, and a recovery of the written-off booking, are refused.
    again = await client.call_tool(
        WRITE_OFF, {"payment": payout["id"], "reason": REASON}, raise_on_error=False
    )
    assert error_code(again) == "conflict" and "written off before" in str(again.content)
    back = {"journal": journal, "reason": "the duplicate payout was returned after all"}
    refusal = await client.call_tool(REVERSE, back, raise_on_error=False)
    assert error_code(refusal) == "conflict" and "reverse that write-off first" in str(refusal.content)
    assert await _losses(core_db) == losses


async def test_a_written_off_payout_that_comes_back_is_recovered_through_its_write_off(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    payout, journal, _ = await _booked_for_a_cancelled_loan(client, principal, runtime, core_db)
    principal("admin-losses", Role.ADMIN)
    held = await core_db.fetchval(UNAPPLIED_RECEIPTS)
    done = await call(client, WRITE_OFF, {"payment": payout["id"], "reason": REASON})
    undo = {"journal": done["loss_journal_id"], "reason": "the bank returned the money in the end"}
    assert (await call(client, REVERSE, undo))["kind"] == "reversal"
    assert await core_db.fetchval(UNAPPLIED_RECEIPTS) == held  # owed back again: named again
    back = {"journal": journal, "reason": "the duplicate payout was returned by the bank"}
    assert (await call(client, REVERSE, back))["kind"] == "reversal"
    assert await core_db.fetchval(UNAPPLIED_RECEIPTS) == held - 1
    assert await _owed(core_db, journal) == 0
    seen = await call(client, "payments_get_payment", {"payment": payout["id"]})
    assert "recovered since" in seen["next_step"]
    refusal = await client.call_tool(
        WRITE_OFF, {"payment": payout["id"], "reason": REASON}, raise_on_error=False
    )
    assert error_code(refusal) == "conflict" and "was recovered" in str(refusal.content)
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_only_a_payout_booked_for_recovery_is_written_off_and_a_refusal_changes_nothing(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    _, failed, amount = await failed_payout(client, principal, runtime, core_db)
    retried = await call(client, RETRY, {"payment": failed["id"], "idempotency_key": key()})
    await send(payment_deps(runtime), retried["id"])
    assert "booked for recovery" in (await vendor_says(runtime, failed["reference"], PAID, amount)).detail
    principal("admin-losses", Role.ADMIN)
    losses = await _losses(core_db)
    # The retry is still in flight: should it fail, this payout becomes the loan's.
    in_flight = await client.call_tool(
        WRITE_OFF, {"payment": failed["id"], "reason": REASON}, raise_on_error=False
    )
    assert error_code(in_flight) == "conflict" and "still " in str(in_flight.content)
    assert (await vendor_says(runtime, retried["reference"], PAID, amount)).outcome == "applied"
    # The loan's own payout is applied, not owed back.
    applied = await client.call_tool(
        WRITE_OFF, {"payment": retried["id"], "reason": REASON}, raise_on_error=False
    )
    assert error_code(applied) == "conflict" and "applied to it" in str(applied.content)
    cases = {
        "invalid_argument": [
            {"payment": "not-a-payment", "reason": REASON},
            {"payment": failed["id"], "reason": "   short   "},
            {"payment": failed["id"], "reason": REASON, "amount": "1.00"},
        ],
        "not_found": [{"payment": str(uuid.uuid4()), "reason": REASON}],
    }
    for code, argument_sets in cases.items():
        for args in argument_sets:
            assert await refused(client, WRITE_OFF, args) == code, args
    principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    assert (
        await refused(client, WRITE_OFF, {"payment": failed["id"], "reason": REASON}) == "permission_denied"
    )
    assert await _losses(core_db) == losses
    principal("admin-losses", Role.ADMIN)
    assert (await call(client, WRITE_OFF, {"payment": failed["id"], "reason": REASON}))["amount"]


async def test_a_write_off_and_a_recovery_of_one_booking_never_both_happen(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    for _ in range(3):
        payout, journal, _ = await _booked_for_a_cancelled_loan(client, principal, runtime, core_db)
        principal("admin-losses", Role.ADMIN)
        write_off = client.call_tool(
            WRITE_OFF, {"payment": payout["id"], "reason": REASON}, raise_on_error=False
        )
        back = {"journal": journal, "reason": "the duplicate payout was returned by the bank"}
        recover = client.call_tool(REVERSE, back, raise_on_error=False)
        results = await asyncio.gather(write_off, recover)
        assert sorted(error_code(r) or "ok" for r in results) == ["conflict", "ok"]
        settled = await core_db.fetchval(
            "SELECT count(*) FROM caas_ledger.journals WHERE source_id = $1 AND kind IN ('reversal', "
            "'payout_loss')",
            journal,
        )
        assert settled == 1
        assert await _owed(core_db, journal) == 0
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_a_written_off_payout_that_becomes_the_loans_is_no_loss(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    """A write-off waits for the loan's other payout to settle, so no tool reaches this state; should a
    written-off booking become the loan's payout all the same (the retry failing after it), the borrower
    holds loan money, not a loss: the write-off is reversed with the booking (a probe's find)."""
    loan, failed, amount = await failed_payout(client, principal, runtime, core_db)
    retried = await call(client, RETRY, {"payment": failed["id"], "idempotency_key": key()})
    await send(payment_deps(runtime), retried["id"])
    assert "booked for recovery" in (await vendor_says(runtime, failed["reference"], PAID, amount)).detail
    booking = await core_db.fetchval(
        "SELECT id::text FROM caas_ledger.journals WHERE kind = 'payout_recovery' AND source_id = $1",
        failed["id"],
    )
    stored = await runtime.deps.loans.reader.get(loan["id"])
    assert stored is not None
    async with runtime.deps.payments.uow() as uow:  # written off while the retry was in flight
        await post_journal(uow, WORKER, payout_loss_journal(stored, booking, amount, "forced for the test"))
    said = await vendor_says(runtime, retried["reference"], "transfer.failed", amount)
    assert said.outcome == "applied" and f"payout {failed['id']} applied to loan" in said.detail
    assert await loan_status(core_db, loan["id"]) == "active"
    assert await _owed(core_db, booking) == 0
    lost = await core_db.fetchval(
        "SELECT coalesce(sum(p.amount_minor), 0) FROM caas_ledger.postings p JOIN caas_ledger.accounts a "
        "ON a.id = p.account_id JOIN caas_ledger.journals j ON j.id = p.journal_id "
        "WHERE a.code = 'platform:payout_losses:NGN' AND (j.source_id = $1 OR j.source_id IN "
        "(SELECT id::text FROM caas_ledger.journals WHERE source_id = $1))",
        booking,
    )
    assert lost == 0
    principal("admin-losses", Role.ADMIN)
    assert (await call(client, RECONCILE, {}))["consistent"] is True
