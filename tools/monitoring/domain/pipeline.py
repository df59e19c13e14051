"""How long an application may stay in each state before a person should look at it ("stuck").

Drafts are the borrower's own time and the ends of the lifecycle never move again, so neither has an
expected time. ``open_for_bids`` lasts the bidding window (``CAAS_BIDDING_WINDOW_HOURS``); past it the
expiry job should have ended it, so an application still open is stuck by definition.
"""

from __future__ import annotations

from datetime import timedelta

from tools.credit.domain.lifecycle import TERMINAL, ApplicationStatus

__all__ = ["STATES", "WAITING", "expected_times"]

S = ApplicationStatus

# Every state, in the order of the journey, as the dashboard lists them.
STATES: tuple[ApplicationStatus, ...] = (
    S.DRAFT,
    S.SUBMITTED,
    S.UNDER_REVIEW,
    S.OPEN_FOR_BIDS,
    S.OFFER_ACCEPTED,
    S.APPROVED,
    S.DISBURSED,
    S.DECLINED,
    S.WITHDRAWN,
    S.EXPIRED,
)

# The states an application waits in (the ends never change again): only these are aged.
WAITING: tuple[ApplicationStatus, ...] = tuple(s for s in STATES if s not in TERMINAL)

# Scoring routes a submission within seconds; an hour means nobody scored it. A human review is a
# working day or two. After an accepted offer the platform approves, and an approved loan is paid out:
# each a day at most.
_FIXED = {
    S.SUBMITTED: timedelta(hours=1),
    S.UNDER_REVIEW: timedelta(hours=48),
    S.OFFER_ACCEPTED: timedelta(hours=24),
    S.APPROVED: timedelta(hours=24),
}


def expected_times(bidding_window: timedelta) -> dict[ApplicationStatus, timedelta]:
    """The longest an application is expected to stay in each state that has a limit."""
    expected = {**_FIXED, S.OPEN_FOR_BIDS: bidding_window}
    assert not TERMINAL & expected.keys()  # an end state never waits on anyone
    return expected
