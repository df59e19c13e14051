"""post_journal, the call every money-moving use case makes: it refuses an unbalanced draft before the
database would, and a posted journal commits with its audit row and outbox event."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from mcp_servers.runtime import Runtime
from tests.helpers.ledger import SERVICE_CALL, capital, deposit, new_provider, post, reserve
from tools.ledger.domain.ledger import JournalDraft, JournalKind, credit, debit
from tools.ledger.ledger import JournalAlreadyPosted, post_journal
from tools.ledger.reversals import reverse_journal
from tools.platform.errors import Conflict, InvalidArgument
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role


async def test_a_posted_journal_commits_with_its_audit_row_and_event(runtime: Runtime, core_db) -> None:
    provider = new_provider()
    [journal_id] = await post(runtime, deposit(provider, 5_000, source=f"deposit-{provider}"))
    audit = await core_db.fetchrow(
        "SELECT tool, principal_id, object_type FROM caas_audit.audit_log WHERE object_id = $1",
        str(journal_id),
    )
    assert tuple(audit) == ("tests.post_journal", "svc-ledger-tests", "journal")
    event = await core_db.fetchrow(
        "SELECT event_type, payload FROM caas_core.outbox WHERE aggregate_id = $1", str(journal_id)
    )
    assert event["event_type"] == "ledger.journal_posted"
    assert event["payload"]["source_id"] == f"deposit-{provider}"
    assert sorted((p["account"], p["amount_minor"]) for p in event["payload"]["postings"]) == [
        (capital(provider, "capital_available").code, 5_000),
        (capital(provider, "capital_contributed").code, -5_000),
    ]


async def counts(db: asyncpg.Connection) -> tuple[int, int]:
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM caas_ledger.journals), (SELECT count(*) FROM caas_audit.audit_log)"
    )
    return tuple(row)  # type: ignore[return-value]


async def test_an_unbalanced_draft_is_invalid_argument_and_nothing_is_written(
    runtime: Runtime, core_db
) -> None:
    provider = new_provider()
    lopsided = JournalDraft(
        JournalKind.FEE,
        f"fee-{provider}",
        "origination fee",
        (
            debit(capital(provider, "capital_available"), 100),
            credit(capital(provider, "capital_reserved"), 90),
        ),
    )
    before = await counts(core_db)
    with pytest.raises(InvalidArgument, match="debits exceed credits by 10"):
        async with runtime.deps.ledger.uow() as uow:
            await post_journal(uow, SERVICE_CALL, lopsided)
    assert await counts(core_db) == before


async def test_a_movement_posted_twice_is_a_conflict_naming_the_first_journal(
    runtime: Runtime, core_db
) -> None:
    provider = new_provider()
    _, first = await post(
        runtime, deposit(provider, 9_000), reserve(provider, 700, source=f"offer-{provider}")
    )
    before = await counts(core_db)
    with pytest.raises(JournalAlreadyPosted) as again:
        await post(runtime, reserve(provider, 700, source=f"offer-{provider}"))
    assert again.value.journal_id == first and again.value.code == "conflict"
    assert await counts(core_db) == before


async def test_two_admins_reversing_at_once_post_exactly_one_reversal(runtime: Runtime, core_db) -> None:
    provider = new_provider()
    (deposited,) = await post(runtime, deposit(provider, 9_000))
    call = Invocation(Principal("admin-1", Role.ADMIN), "admin.reverse_journal", "1" * 64)
    outcomes = await asyncio.gather(
        *(reverse_journal(runtime.deps.ledger, call, deposited, "deposit recorded twice") for _ in range(2)),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "JournalView"]
    assert (
        await core_db.fetchval(
            "SELECT count(*) FROM caas_ledger.journals WHERE reverses_journal_id = $1", deposited
        )
        == 1
    )


async def test_a_journal_that_an_offer_or_loan_holds_is_not_reversed_alone(runtime: Runtime, core_db) -> None:
    """A probe reversed an accepted offer's reservation: the lender's reserved capital went to zero,
    then -250,000 once the loan paid out, and the capital could be committed twice."""
    provider = new_provider()
    _, reservation = await post(runtime, deposit(provider, 9_000), reserve(provider, 700))
    before = await counts(core_db)
    call = Invocation(Principal("admin-1", Role.ADMIN), "admin.reverse_journal", "2" * 64)
    with pytest.raises(Conflict, match="Only a capital deposit or withdrawal, or a commission, posted"):
        await reverse_journal(runtime.deps.ledger, call, reservation, "reserved in error")
    assert await counts(core_db) == before


@pytest.mark.parametrize("journal_exists", [True, False])
async def test_a_blank_reason_is_invalid_argument_whatever_the_journal(
    runtime: Runtime, core_db, journal_exists: bool
) -> None:
    """reversal_of's LedgerError for a blank reason escaped the use case: an internal error."""
    (deposited,) = await post(runtime, deposit(new_provider(), 9_000))
    before = await counts(core_db)
    call = Invocation(Principal("admin-1", Role.ADMIN), "admin.reverse_journal", "3" * 64)
    journal = deposited if journal_exists else uuid.uuid4()
    with pytest.raises(InvalidArgument, match="reason"):
        await reverse_journal(runtime.deps.ledger, call, journal, " \t\n\u3000 ")
    assert await counts(core_db) == before
