"""The progress table the Supabase mirror shows, and which events the sync queue takes."""

from __future__ import annotations

from tools.credit.domain.lifecycle import TERMINAL, ApplicationStatus
from tools.loans.domain.loans import LoanStatus
from tools.notifications.domain.progress import (
    APPLICATION_PROGRESS,
    LOAN_PROGRESS,
    application_progress,
    loan_progress,
)
from tools.platform.domain.jobs import JobRoute, routes


def test_every_application_and_loan_status_has_a_percentage() -> None:
    assert set(APPLICATION_PROGRESS) == {s.value for s in ApplicationStatus}
    assert set(LOAN_PROGRESS) == {s.value for s in LoanStatus}
    assert all(0 <= p <= 100 for p in [*APPLICATION_PROGRESS.values(), *LOAN_PROGRESS.values()])


def test_the_happy_path_only_ever_goes_up_and_ends_at_100() -> None:
    path = [
        application_progress("draft"),
        application_progress("submitted"),
        application_progress("under_review"),
        application_progress("open_for_bids"),
        application_progress("offer_accepted"),
        application_progress("approved"),
        loan_progress("pending_disbursement"),
        application_progress("disbursed"),
        loan_progress("active"),
        loan_progress("closed"),
    ]
    assert path == sorted(path) and path[-1] == 100 and len(set(path)) >= 8


def test_an_application_that_ended_without_a_loan_is_finished() -> None:
    ended = {s for s in TERMINAL if s != ApplicationStatus.DISBURSED}
    assert {application_progress(s) for s in ended} == {100}


def test_an_unknown_status_has_no_percentage_rather_than_a_guess() -> None:
    assert application_progress("teleported") is None
    assert loan_progress("teleported") is None


def test_document_events_of_an_application_feed_the_supabase_sync() -> None:
    payload = {"application_id": "a-1", "document_id": "d-1"}
    assert JobRoute("supabase_sync", "application:a-1") in routes("document.verified", payload)
    assert all(r.queue != "supabase_sync" for r in routes("document.verified", {"document_id": "d-1"}))
