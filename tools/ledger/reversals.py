"""Reversing a journal: what an admin may reverse, and what the rows it touches must allow."""

from __future__ import annotations

import re
from uuid import UUID

from tools.ledger.domain.chart import OwnerType, account
from tools.ledger.domain.ledger import Journal, JournalDraft, JournalKind, LedgerError, reversal_of
from tools.ledger.ledger import JournalAlreadyPosted, journal_not_found, journal_view, post_journal
from tools.ledger.models import JournalView
from tools.ledger.ports import LedgerDeps, LedgerUnitOfWork
from tools.platform.errors import Conflict, InvalidArgument
from tools.platform.models import Money
from tools.platform.ports import Invocation

__all__ = ["REVERSIBLE", "reverse_journal"]

# What an admin may reverse: capital a lender put in or took out, and the platform's commission, recorded
# in error (the ledger alone holds them), money held in suspense once it was refunded to its payer
# (held for a payment its loan refused, which stays succeeded), and a payout no loan took once its money
# is back (a duplicate payout, booked for recovery), and such a payout's write-off once it came back
# after all (which restores its booking). Every other kind is the ledger's side of
# a state change elsewhere (an offer's reservation, a loan's repayment, a payout), which the offer, the
# schedule or the payment still holds.
# A capital journal's source id: the provider, the version the change left it at, the currency.
_CAPITAL_SOURCE = re.compile(r"[0-9a-f-]{36}:v([0-9]{1,18}):[A-Z]{3}")
REVERSIBLE = frozenset(
    {
        JournalKind.CAPITAL_DEPOSIT,
        JournalKind.CAPITAL_WITHDRAWAL,
        JournalKind.COMMISSION,
        JournalKind.SUSPENSE,
        JournalKind.PAYOUT_RECOVERY,
        JournalKind.PAYOUT_LOSS,
    }
)


async def reverse_journal(deps: LedgerDeps, call: Invocation, journal_id: UUID, reason: str) -> JournalView:
    """Post the journal that undoes ``journal_id``; a journal is reversed at most once."""
    # The argument first, whatever the journal: a blank reason was reversal_of's LedgerError, an
    # internal error.
    if not reason.strip():
        raise InvalidArgument("reason: say why the journal was wrong; blank text is not a reason")
    async with deps.uow() as uow:
        original = await uow.ledger.journal(journal_id)
        if original is None:
            raise journal_not_found(journal_id)
        if original.reversed_by is not None:
            raise Conflict(f"journal {journal_id} is already reversed by journal {original.reversed_by}")
        if original.kind not in REVERSIBLE:
            raise Conflict(
                f"journal {journal_id} is a {original.kind} journal, posted with the offer, loan or payment "
                "it belongs to: reversed alone it would leave the ledger disagreeing with them (a reversed "
                "reservation let a lender commit the same capital twice). Only a capital deposit or "
                "withdrawal, or a commission, posted in error, money held in suspense once refunded, or a "
                "payout booked for recovery (or its write-off) once its money is back, is reversed here; "
                "correct the others through the offer, loan or payment's own tools"
            )
        await _check_settlement(uow, original)
        try:
            draft = reversal_of(original, reason)
        except LedgerError as exc:  # the domain's refusal is the caller's to fix, never an internal error
            raise InvalidArgument(f"reason: {exc}") from None
        moves = _capital_moves(draft)
        for provider_id, currency, delta in moves:
            await _check_capital(uow, original, provider_id, currency, delta)
        try:
            reversal_id = await post_journal(uow, call, draft)
        except JournalAlreadyPosted as exc:  # another reversal committed meanwhile
            raise Conflict(f"journal {journal_id} is already reversed by journal {exc.journal_id}") from None
        for provider_id, _, delta in moves:
            await uow.ledger.add_provider_capital(provider_id, delta)
        if original.kind is JournalKind.COMMISSION:
            await _take_commission(uow, original)
        reversal = await uow.ledger.journal(reversal_id)
    assert reversal is not None
    return journal_view(reversal)


async def _check_settlement(uow: LedgerUnitOfWork, original: Journal) -> None:
    """A payout's booking is settled once: recovered (reversed) or written off (payments_write_off_payout),
    one transaction at a time; a written-off booking is reversed only once its write-off is."""
    if original.kind is JournalKind.PAYOUT_LOSS:
        await uow.ledger.hold_journal(UUID(original.source_id))
        return
    if original.kind is not JournalKind.PAYOUT_RECOVERY:
        return
    await uow.ledger.hold_journal(original.id)
    loss = await uow.ledger.journal_of(JournalKind.PAYOUT_LOSS, str(original.id))
    if loss is not None and loss.reversed_by is None:
        raise Conflict(
            f"journal {original.id} was written off as lost by journal {loss.id}: should the money have come "
            "back after all, reverse that write-off first, then this booking"
        )


def _capital_moves(draft: JournalDraft) -> list[tuple[UUID, str, int]]:
    """What ``draft`` moves on lenders' ``capital_available`` accounts, which their provider rows mirror
    for matching and bidding: (provider, currency, amount; a debit adds)."""
    moves = []
    for p in draft.postings:
        a = p.account
        if a.owner_type is not OwnerType.PROVIDER or a.owner_id is None:
            continue
        if a.code != account(OwnerType.PROVIDER, "capital_available", a.currency, a.owner_id).code:
            continue
        try:
            moves.append((UUID(a.owner_id), a.currency, p.amount_minor))
        except ValueError:  # not a provider of ours: nothing mirrors it
            continue
    return moves


async def _check_capital(
    uow: LedgerUnitOfWork, original: Journal, provider_id: UUID, currency: str, delta: int
) -> None:
    """Refuse a reversal that the provider row could not follow: capital taken back that is already
    reserved or lent, or capital moved before the provider last changed currency (all of it was
    withdrawn then, so it would be taken out twice, even after a change back)."""
    journal_id = original.id
    row = await uow.ledger.lock_provider_capital(provider_id)
    if row is None:
        raise Conflict(f"journal {journal_id} moved capital of provider {provider_id}, which does not exist")
    lends_in, available, currency_version = row
    # The provider version the journal was posted at (<id>:v<version>:<cur>): ordered by the provider
    # row's lock, unlike the journals' times, which are when their transactions began.
    posted_at = _CAPITAL_SOURCE.fullmatch(original.source_id)
    if lends_in != currency or posted_at is None or int(posted_at[1]) < currency_version:
        raise Conflict(
            f"journal {journal_id} moved {currency} capital before provider {provider_id} changed its "
            f"currency (it lends in {lends_in} since its version {currency_version}): that capital was "
            "withdrawn when the currency changed. Correct the capital with update_provider instead"
        )
    if available + delta < 0:
        raise Conflict(
            f"reversing journal {journal_id} takes {Money.from_minor(-delta, currency).amount} {currency} "
            f"from provider {provider_id}, which has only {Money.from_minor(available, currency).amount} "
            f"{currency} available; the rest is reserved by accepted offers or lent. Reverse it once that "
            "much is available again, or withdraw what is available with update_provider"
        )


async def _take_commission(uow: LedgerUnitOfWork, original: Journal) -> None:
    """A disbursement's commission (posted with the loan's id as its source) is also on the loan row,
    which shows it as earned and caps the interest shares still to come by it: it goes from there too."""
    amount = sum(p.amount_minor for p in original.postings if p.amount_minor > 0)
    try:
        loan_id = UUID(original.source_id)
    except ValueError:
        loan_id = None
    if loan_id is None or not await uow.ledger.take_loan_commission(loan_id, amount):
        raise Conflict(
            f"journal {original.id} is a commission that loan {original.source_id} no longer holds in "
            "full; it cannot be reversed alone"
        )
