"""Journals in the domain: the sign convention, the balance rule per currency, and reversals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.ledger.domain.chart import AccountKind, account
from tools.ledger.domain.ledger import (
    MAX_POSTING_MINOR,
    NORMAL_SIDE,
    Journal,
    JournalDraft,
    JournalKind,
    LedgerError,
    Posting,
    Side,
    check_balanced,
    credit,
    debit,
    in_normal_direction,
    reversal_of,
    sums_by_currency,
)

AVAILABLE = account("provider", "capital_available", "NGN", "p-7")
RESERVED = account("provider", "capital_reserved", "NGN", "p-7")
CONTRIBUTED = account("provider", "capital_contributed", "NGN", "p-7")
USD_AVAILABLE = account("provider", "capital_available", "USD", "p-7")
USD_RESERVED = account("provider", "capital_reserved", "USD", "p-7")


def draft(
    *postings: Posting, kind: JournalKind = JournalKind.RESERVATION, source: str = "offer-1"
) -> JournalDraft:
    return JournalDraft(kind, source, "offer accepted", tuple(postings))


def posted(d: JournalDraft) -> Journal:
    return Journal(uuid.uuid4(), d.kind, d.source_id, d.memo, "svc", datetime.now(UTC), None, d.postings)


def test_debits_are_positive_and_credits_negative() -> None:
    assert debit(RESERVED, 500).amount_minor == 500 and debit(RESERVED, 500).side is Side.DEBIT
    assert credit(AVAILABLE, 500).amount_minor == -500 and credit(AVAILABLE, 500).side is Side.CREDIT
    for make in (debit, credit):
        with pytest.raises(LedgerError, match="positive amount"):
            make(AVAILABLE, -5)


@pytest.mark.parametrize("amount", [0, True, 1.5, MAX_POSTING_MINOR + 1, -MAX_POSTING_MINOR - 1])
def test_a_posting_is_a_non_zero_integer_within_bounds(amount) -> None:
    with pytest.raises(LedgerError):
        Posting(AVAILABLE, amount)


def test_normal_balances_follow_the_account_kind() -> None:
    assert {k: NORMAL_SIDE[k] for k in AccountKind} == {
        AccountKind.ASSET: Side.DEBIT,
        AccountKind.EXPENSE: Side.DEBIT,
        AccountKind.LIABILITY: Side.CREDIT,
        AccountKind.EQUITY: Side.CREDIT,
        AccountKind.INCOME: Side.CREDIT,
    }
    assert in_normal_direction(AccountKind.ASSET, 700) == 700
    assert in_normal_direction(AccountKind.INCOME, -700) == 700
    assert in_normal_direction(AccountKind.LIABILITY, 50) == -50  # a liability on its debit side


def test_a_balanced_journal_passes() -> None:
    check_balanced(draft(debit(RESERVED, 25_000_00), credit(AVAILABLE, 25_000_00)))


def test_an_unbalanced_journal_names_the_currency_and_the_gap() -> None:
    with pytest.raises(LedgerError) as caught:
        check_balanced(draft(debit(RESERVED, 100), credit(AVAILABLE, 99)))
    message = str(caught.value)
    assert "NGN" in message and "debits exceed credits by 1 minor units" in message
    assert "offer-1" in message


def test_every_currency_balances_on_its_own() -> None:
    check_balanced(
        draft(debit(RESERVED, 100), credit(AVAILABLE, 100), debit(USD_RESERVED, 7), credit(USD_AVAILABLE, 7))
    )
    # Zero across currencies is not zero in each: 100 NGN is not 100 USD.
    with pytest.raises(LedgerError) as caught:
        check_balanced(draft(debit(RESERVED, 100), credit(USD_AVAILABLE, 100)))
    assert "in NGN debits exceed credits by 100" in str(caught.value)
    assert "in USD credits exceed debits by 100" in str(caught.value)


SHAPES = {
    "one posting": (draft(debit(RESERVED, 100)), "2 to 100 postings"),
    "no postings": (draft(), "2 to 100 postings"),
    "one account": (draft(debit(RESERVED, 100), credit(RESERVED, 100)), "at least two accounts"),
    "empty source": (draft(debit(RESERVED, 1), credit(AVAILABLE, 1), source=""), "source_id"),
    "padded source": (draft(debit(RESERVED, 1), credit(AVAILABLE, 1), source=" x "), "source_id"),
    "reversal without target": (
        draft(debit(RESERVED, 1), credit(AVAILABLE, 1), kind=JournalKind.REVERSAL),
        "names the journal it reverses",
    ),
}


@pytest.mark.parametrize(("bad", "says"), SHAPES.values(), ids=SHAPES.keys())
def test_malformed_journals_are_refused_before_the_database_sees_them(bad: JournalDraft, says: str) -> None:
    with pytest.raises(LedgerError, match=says):
        check_balanced(bad)


def test_a_blank_memo_or_a_mismatched_reversal_source_is_refused() -> None:
    lines = (debit(RESERVED, 1), credit(AVAILABLE, 1))
    with pytest.raises(LedgerError, match="memo"):
        check_balanced(JournalDraft(JournalKind.FEE, "f-1", "  ", lines))
    with pytest.raises(LedgerError, match="source_id is the id"):
        check_balanced(JournalDraft(JournalKind.REVERSAL, "other", "undo", lines, uuid.uuid4()))


def test_a_reversal_negates_every_posting_and_points_at_the_original() -> None:
    original = posted(draft(debit(RESERVED, 300), credit(AVAILABLE, 200), credit(CONTRIBUTED, 100)))
    undo = reversal_of(original, "posted against the wrong offer")
    check_balanced(undo)
    assert undo.kind is JournalKind.REVERSAL
    assert undo.reverses_journal_id == original.id and undo.source_id == str(original.id)
    assert [(p.account, p.amount_minor) for p in undo.postings] == [
        (RESERVED, -300),
        (AVAILABLE, 200),
        (CONTRIBUTED, 100),
    ]
    assert "posted against the wrong offer" in undo.memo and "offer-1" in undo.memo
    with pytest.raises(LedgerError, match="reason"):
        reversal_of(original, "   ")


AMOUNTS = st.integers(min_value=1, max_value=10**12)


@given(st.lists(st.tuples(st.sampled_from(["NGN", "USD", "KES"]), AMOUNTS), min_size=1, max_size=10))
def test_any_balanced_journal_and_its_reversal_leave_every_account_at_zero(moves) -> None:
    postings: list[Posting] = []
    for currency, amount in moves:
        postings += [
            debit(account("provider", "capital_reserved", currency, "p-1"), amount),
            credit(account("provider", "capital_available", currency, "p-1"), amount),
        ]
    original = draft(*postings)
    check_balanced(original)
    undo = reversal_of(posted(original), "property test")
    check_balanced(undo)
    net: dict[str, int] = {}
    for p in (*original.postings, *undo.postings):
        net[p.account.code] = net.get(p.account.code, 0) + p.amount_minor
    assert set(net.values()) == {0}
    assert set(sums_by_currency(undo.postings).values()) == {0}
