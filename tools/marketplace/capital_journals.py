"""The ledger side of a provider's capital changes: a deposit for capital added, a withdrawal for capital
taken out, so that its ``capital_available`` account always equals its row."""

from __future__ import annotations

from tools.credit.ports import CreditUnitOfWork
from tools.ledger.domain.chart import account
from tools.ledger.domain.ledger import JournalDraft, JournalKind, credit, debit
from tools.ledger.ledger import post_journal
from tools.marketplace.domain.providers import ProviderRecord
from tools.platform.ports import Invocation

__all__ = ["book_capital"]


async def book_capital(
    uow: CreditUnitOfWork, call: Invocation, before: ProviderRecord | None, after: ProviderRecord
) -> None:
    """Keep the ledger's capital equal to the provider row: a deposit for capital added, a withdrawal
    for capital taken out (in the old currency when the currency changes)."""
    moves: list[tuple[JournalKind, str, int]] = []
    if before is not None and before.currency != after.currency:
        moves.append((JournalKind.CAPITAL_WITHDRAWAL, before.currency, before.capital_available_minor))
        moves.append((JournalKind.CAPITAL_DEPOSIT, after.currency, after.capital_available_minor))
    else:
        delta = after.capital_available_minor - (before.capital_available_minor if before else 0)
        kind = JournalKind.CAPITAL_DEPOSIT if delta > 0 else JournalKind.CAPITAL_WITHDRAWAL
        moves.append((kind, after.currency, abs(delta)))
    owner = str(after.id)
    for kind, currency, amount in moves:
        if amount == 0:
            continue
        available = account("provider", "capital_available", currency, owner)
        contributed = account("provider", "capital_contributed", currency, owner)
        legs = (debit(available, amount), credit(contributed, amount))
        if kind is JournalKind.CAPITAL_WITHDRAWAL:
            legs = (debit(contributed, amount), credit(available, amount))
        memo = f"{after.name}: capital {'added' if kind is JournalKind.CAPITAL_DEPOSIT else 'withdrawn'}"
        await post_journal(
            uow, call, JournalDraft(kind, f"{after.id}:v{after.version}:{currency}", memo, legs)
        )
