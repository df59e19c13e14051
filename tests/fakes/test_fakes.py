"""The fakes keep the promises of the PostgreSQL unit of work the fast tests rely on: commit on a clean
exit, nothing on an exception, idempotency keys as ``database/unit_of_work.py``, the ledger's movement
key and balance check, the payment trigger, savepoints, and one transaction at a time."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from tests.fakes.builders import provider
from tests.fakes.deps import ledger_deps, marketplace_deps
from tests.fakes.payments import FakePaymentWriter
from tests.fakes.store import CheckViolation, FakeStore
from tests.fakes.unit_of_work import fake_unit_of_work
from tools.ledger.domain.chart import account
from tools.ledger.domain.ledger import JournalDraft, JournalKind, Posting, credit, debit
from tools.ledger.ledger import JournalAlreadyPosted, post_journal
from tools.payments.ports import NewPayment
from tools.platform.errors import Conflict
from tools.platform.idempotency import claim_or_replay
from tools.platform.ports import AuditRecord, IdempotencyClaim, Invocation, OutboxEvent
from tools.platform.principal import Principal, Role

CALL = Invocation(Principal("svc-tests", Role.SERVICE), "tests.fakes", "0" * 64)


def reservation(provider_id: UUID, amount: int, source: str = "bid-1") -> JournalDraft:
    owner = str(provider_id)
    return JournalDraft(
        JournalKind.RESERVATION,
        source,
        "offer accepted",
        (
            debit(account("provider", "capital_reserved", "NGN", owner), amount),
            credit(account("provider", "capital_available", "NGN", owner), amount),
        ),
    )


async def test_a_change_is_seen_by_readers_only_once_its_unit_of_work_exits() -> None:
    store = FakeStore()
    lender = provider(store)
    bids = marketplace_deps(store)
    async with bids.uow() as uow:
        assert await uow.bids.reserve_capital(lender.id, 1_000) == 9_999_999_000
        assert await bids.providers.get(lender.id) == lender
    committed = await bids.providers.get(lender.id)
    assert committed is not None and committed.capital_available_minor == 9_999_999_000
    assert store.commits == 1


async def test_an_exception_discards_every_change_and_the_next_unit_of_work_runs() -> None:
    store = FakeStore()
    lender = provider(store)
    uow_factory = fake_unit_of_work(store)
    with pytest.raises(RuntimeError, match="boom"):
        async with uow_factory() as uow:
            await uow.bids.reserve_capital(lender.id, 1_000)
            await uow.record(AuditRecord(CALL, "provider", str(lender.id)), [OutboxEvent("p", "1", "x")])
            raise RuntimeError("boom")
    assert store.tables.providers[lender.id] == lender
    assert (store.audit, store.outbox, store.commits) == ([], [], 0)
    async with uow_factory() as uow:
        await uow.record(AuditRecord(CALL, "provider", str(lender.id)), [OutboxEvent("p", "1", "x")])
    assert (len(store.audit), store.event_types()) == (1, ["x"])


async def test_an_idempotency_key_replays_its_result_refuses_other_arguments_and_lapses_after_a_day() -> None:
    store = FakeStore()
    uow_factory = fake_unit_of_work(store)
    first = IdempotencyClaim("alice", "op", "k-1", "sha-a")
    async with uow_factory() as uow:
        assert await claim_or_replay(uow, first) is None
        await uow.complete_idempotency_key(first, "resource-1")
    async with uow_factory() as uow:
        assert await claim_or_replay(uow, first) == "resource-1"
        with pytest.raises(Conflict):
            await claim_or_replay(uow, IdempotencyClaim("alice", "op", "k-1", "sha-b"))
    async with uow_factory() as uow:  # another caller or operation: another key
        assert await claim_or_replay(uow, IdempotencyClaim("bob", "op", "k-1", "sha-b")) is None
    with pytest.raises(RuntimeError):
        async with uow_factory() as uow:  # a claim rolled back leaves no key behind
            assert await claim_or_replay(uow, IdempotencyClaim("carol", "op", "k-1", "sha-c")) is None
            raise RuntimeError
    assert ("carol", "op", "k-1") not in store.tables.idempotency_keys
    store.clock.move(hours=24)
    async with uow_factory() as uow:
        assert await claim_or_replay(uow, IdempotencyClaim("alice", "op", "k-1", "sha-b")) is None


async def test_a_movement_posts_once_and_the_transaction_stays_usable() -> None:
    store = FakeStore()
    lender = provider(store)
    deps = ledger_deps(store)
    async with deps.uow() as uow:
        first = await post_journal(uow, CALL, reservation(lender.id, 700))
        with pytest.raises(JournalAlreadyPosted) as again:
            await post_journal(uow, CALL, reservation(lender.id, 700))
        assert again.value.journal_id == first and again.value.code == "conflict"
    assert [j.id for j in store.journals_of(JournalKind.RESERVATION)] == [first]
    balance = await deps.reader.balance(account("provider", "capital_reserved", "NGN", str(lender.id)).code)
    assert balance is not None and balance.normal_balance_minor == 700
    assert store.event_types() == ["ledger.journal_posted"]


@pytest.mark.parametrize("postings", ["lopsided", "single"])
async def test_a_journal_that_does_not_balance_fails_the_commit_and_nothing_is_stored(postings: str) -> None:
    store = FakeStore()
    lender = provider(store)
    available = account("provider", "capital_available", "NGN", str(lender.id))
    lines: tuple[Posting, ...] = (debit(available, 100),)
    if postings == "lopsided":
        lines += (Posting(account("provider", "capital_reserved", "NGN", str(lender.id)), -90),)
    draft = JournalDraft(JournalKind.FEE, "fee-1", "a fee", lines)
    with pytest.raises(CheckViolation):
        async with ledger_deps(store).uow() as uow:
            await uow.ledger.post(draft, CALL, {})  # past post_journal's own check, as a bug would
    assert store.tables.journals == {}


async def test_a_payment_never_moves_backwards_and_a_savepoint_rolls_back_alone() -> None:
    store = FakeStore()
    async with fake_unit_of_work(store)() as uow:
        new = NewPayment(
            kind="collection",
            loan_id=UUID(int=1),
            amount_minor=100,
            currency="NGN",
            simulated=True,
            simulate_outcome=None,
            requested_by="tests",
        )
        event = OutboxEvent("payment", "1", "payment.succeeded")
        paid = await uow.payments.settle((await uow.payments.insert(new)).id, "succeeded", None, CALL, event)
        with pytest.raises(CheckViolation):
            await uow.payments.settle(paid.id, "failed", None, CALL, event)
        assert isinstance(uow.payments, FakePaymentWriter)
        with pytest.raises(RuntimeError):
            async with uow.payments.savepoint():
                await uow.payments.note_error(paid.id, "inside the savepoint")
                raise RuntimeError
        await uow.payments.note_error(paid.id, "after it")
    stored = store.tables.payments[paid.id]
    assert (stored.status, stored.last_error, stored.reference) == (
        "succeeded",
        "after it",
        f"caas-collection-{paid.id}",
    )


async def test_units_of_work_run_one_at_a_time_and_never_nest() -> None:
    store = FakeStore()
    uow_factory = fake_unit_of_work(store)
    order: list[str] = []

    async def work(name: str) -> None:
        async with uow_factory():
            order.append(f"{name} in")
            await asyncio.sleep(0)
            order.append(f"{name} out")

    await asyncio.gather(work("a"), work("b"))
    assert order == ["a in", "a out", "b in", "b out"]
    async with uow_factory():
        with pytest.raises(RuntimeError, match="already open"):
            async with uow_factory():
                pass
