"""The application lifecycle: its states and the only moves between them.

The marketplace continues from ``open_for_bids`` (an accepted offer) and payments from ``approved``
(disbursement hands the application over to a loan).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ENDS_BIDDING",
    "HOLDS_CAPITAL",
    "TERMINAL",
    "TRANSITIONS",
    "ApplicationStatus",
    "IllegalTransition",
    "check_transition",
]


class ApplicationStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    OPEN_FOR_BIDS = "open_for_bids"
    OFFER_ACCEPTED = "offer_accepted"
    APPROVED = "approved"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    DISBURSED = "disbursed"


S = ApplicationStatus
TRANSITIONS: dict[ApplicationStatus, frozenset[ApplicationStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    # Scoring routes a submission: a clear approve opens bidding, a clear decline ends it, the rest
    # goes to a human.
    S.SUBMITTED: frozenset({S.OPEN_FOR_BIDS, S.UNDER_REVIEW, S.DECLINED, S.WITHDRAWN}),
    # "More information needed" sends it back to draft so the borrower can change and resubmit.
    S.UNDER_REVIEW: frozenset({S.OPEN_FOR_BIDS, S.DECLINED, S.DRAFT, S.WITHDRAWN}),
    S.OPEN_FOR_BIDS: frozenset({S.OFFER_ACCEPTED, S.EXPIRED, S.WITHDRAWN}),
    # Approval re-checks policy. Until a loan is made nothing binds the borrower (they may withdraw), and
    # the lender's offer binds it only until the offer's validity: past it the acceptance lapses.
    S.OFFER_ACCEPTED: frozenset({S.APPROVED, S.DECLINED, S.WITHDRAWN, S.EXPIRED}),
    # Its loan cancelled before the payout: the borrower no longer wants it, or the platform refuses it;
    # or no loan was made from it before the offer's validity passed.
    S.APPROVED: frozenset({S.DISBURSED, S.WITHDRAWN, S.DECLINED, S.EXPIRED}),
    S.DECLINED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.EXPIRED: frozenset(),
    S.DISBURSED: frozenset(),
}
TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# The ends after which no bid can ever be accepted (an application that disbursed keeps its accepted one).
ENDS_BIDDING = frozenset({S.DECLINED, S.WITHDRAWN, S.EXPIRED})
# The states in which an accepted offer holds its lender's capital (reserved at acceptance, lent at the
# payout): ending the application from one of them releases it.
HOLDS_CAPITAL = frozenset({S.OFFER_ACCEPTED, S.APPROVED})


class IllegalTransition(ValueError):
    def __init__(self, current: ApplicationStatus, target: ApplicationStatus) -> None:
        self.current = current
        self.target = target
        self.legal = sorted(TRANSITIONS[current])
        nxt = ", ".join(self.legal) if self.legal else "nothing: it is final"
        super().__init__(
            f"the application is {current}; it cannot become {target}. From {current} it can go to {nxt}"
        )


def check_transition(current: ApplicationStatus, target: ApplicationStatus) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current, target)
