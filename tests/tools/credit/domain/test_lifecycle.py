"""The lifecycle table: every pair of states is either a legal move or an IllegalTransition."""

from __future__ import annotations

import itertools

import pytest

from tools.credit.domain.lifecycle import (
    ENDS_BIDDING,
    HOLDS_CAPITAL,
    TERMINAL,
    TRANSITIONS,
    ApplicationStatus,
    IllegalTransition,
    check_transition,
)

S = ApplicationStatus
LEGAL = {
    (S.DRAFT, S.SUBMITTED), (S.DRAFT, S.WITHDRAWN),
    (S.SUBMITTED, S.OPEN_FOR_BIDS), (S.SUBMITTED, S.UNDER_REVIEW), (S.SUBMITTED, S.DECLINED),
    (S.SUBMITTED, S.WITHDRAWN),
    (S.UNDER_REVIEW, S.OPEN_FOR_BIDS), (S.UNDER_REVIEW, S.DECLINED), (S.UNDER_REVIEW, S.DRAFT),
    (S.UNDER_REVIEW, S.WITHDRAWN),
    (S.OPEN_FOR_BIDS, S.OFFER_ACCEPTED), (S.OPEN_FOR_BIDS, S.EXPIRED), (S.OPEN_FOR_BIDS, S.WITHDRAWN),
    (S.OFFER_ACCEPTED, S.APPROVED), (S.OFFER_ACCEPTED, S.DECLINED), (S.OFFER_ACCEPTED, S.WITHDRAWN),
    (S.OFFER_ACCEPTED, S.EXPIRED),
    (S.APPROVED, S.DISBURSED), (S.APPROVED, S.WITHDRAWN), (S.APPROVED, S.DECLINED), (S.APPROVED, S.EXPIRED),
}  # fmt: skip


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_each_pair_is_legal_exactly_when_the_table_says(current: S, target: S) -> None:
    if (current, target) in LEGAL:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition) as caught:
            check_transition(current, target)
        assert caught.value.legal == sorted(TRANSITIONS[current])
        assert str(current) in str(caught.value)


def test_final_states_lead_nowhere_and_every_state_is_reachable_from_draft() -> None:
    assert {S.DECLINED, S.WITHDRAWN, S.EXPIRED, S.DISBURSED} == TERMINAL
    seen, frontier = {S.DRAFT}, [S.DRAFT]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(S)


def test_withdrawal_is_possible_until_the_loan_exists_and_of_a_loan_cancelled_before_payout() -> None:
    # Approved with a loan: only with its loan (cancel_loan); withdraw_application refuses it.
    before = {S.DRAFT, S.SUBMITTED, S.UNDER_REVIEW, S.OPEN_FOR_BIDS, S.OFFER_ACCEPTED, S.APPROVED}
    assert {s for s in S if S.WITHDRAWN in TRANSITIONS[s]} == before


def test_every_end_of_an_accepted_offer_releases_capital_and_no_other_state_holds_it() -> None:
    holding = {s for s in S if s in HOLDS_CAPITAL}
    assert holding == {S.OFFER_ACCEPTED, S.APPROVED}
    # From a holding state the only ways on are approval, the payout, or an end that releases.
    for state in holding:
        assert TRANSITIONS[state] - ENDS_BIDDING <= {S.APPROVED, S.DISBURSED}, state
