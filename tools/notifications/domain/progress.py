"""How far along their journey a borrower is, as the percentage the Supabase mirror shows.

The journey is application -> decision -> offer -> approval -> disbursement -> repayment. Each
application status and, once a loan exists, each loan status has a fixed percentage:

    application draft 10, submitted 20, under_review 30, open_for_bids 45, offer_accepted 60,
    approved 75, disbursed 90; declined / withdrawn / expired 100 (the journey ended there)
    loan pending_disbursement 80, active 90, delinquent 90, defaulted 90, closed 100, written_off 100,
    cancelled 100

A terminal outcome is 100 whatever it was: the bar says "finished", the status says how. A status
that goes back (under_review -> draft when more information is needed) takes the bar back with it:
the percentage follows the current status, never the history. Events that change neither status
(a payment's progress, a late fee) leave the percentage as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["APPLICATION_PROGRESS", "LOAN_PROGRESS", "application_progress", "loan_progress"]

APPLICATION_PROGRESS: Mapping[str, int] = MappingProxyType(
    {
        "draft": 10,
        "submitted": 20,
        "under_review": 30,
        "open_for_bids": 45,
        "offer_accepted": 60,
        "approved": 75,
        "disbursed": 90,
        "declined": 100,
        "withdrawn": 100,
        "expired": 100,
    }
)

LOAN_PROGRESS: Mapping[str, int] = MappingProxyType(
    {
        "pending_disbursement": 80,
        "active": 90,
        "delinquent": 90,
        "defaulted": 90,
        "closed": 100,
        "written_off": 100,
        "cancelled": 100,
    }
)


def application_progress(status: str) -> int | None:
    """The percentage for an application status; None for a status this table does not know (the
    mirror then keeps its last percentage rather than guess)."""
    return APPLICATION_PROGRESS.get(status)


def loan_progress(status: str) -> int | None:
    return LOAN_PROGRESS.get(status)
