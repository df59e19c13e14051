"""Which queues an event feeds, and the retry backoff."""

from __future__ import annotations

from datetime import timedelta

from tools.platform.domain.jobs import JobRoute, backoff_delay, routes


def test_an_application_event_feeds_the_mirror_and_notifications_keyed_by_the_application() -> None:
    found = routes("application.open_for_bids", {"application_id": "a-1", "borrower_id": "b"})
    assert found == [
        JobRoute("supabase_sync", "application:a-1"),
        JobRoute("notifications", "application:a-1"),
    ]


def test_a_provider_event_feeds_only_that_providers_webhooks() -> None:
    assert routes("provider.invited", {"provider_id": "p-1", "application_id": "a-1"}) == [
        JobRoute("provider_webhooks", "provider:p-1")
    ]
    assert routes("provider.updated", {"provider_id": "p-1"}) == []  # operators' changes are not sent


def test_a_payout_request_feeds_the_payment_queue_keyed_by_the_payment() -> None:
    payout = {"payment_id": "x", "kind": "disbursement"}
    assert JobRoute("payments", "payment:x") in routes("payment.requested", payout)


def test_a_collections_request_is_no_job_for_the_payouts_worker() -> None:
    # Its charge is opened by the call that requested it (tools.payments.charges).
    collection = {"payment_id": "x", "kind": "collection", "application_id": "a"}
    assert "payments" not in {route.queue for route in routes("payment.requested", collection)}


def test_an_event_without_its_subject_feeds_nothing_that_needs_it() -> None:
    assert routes("bid.placed", {"bid_id": "b"}) == []


def test_backoff_grows_exponentially_within_jitter_and_stops_at_the_cap() -> None:
    base, cap = timedelta(seconds=1), timedelta(seconds=60)
    lows = [backoff_delay(n, base=base, cap=cap, rng=lambda: 0.0) for n in range(1, 10)]
    highs = [backoff_delay(n, base=base, cap=cap, rng=lambda: 1.0) for n in range(1, 10)]
    assert all(lo == timedelta(seconds=0.5) for lo in lows)
    assert [h.total_seconds() for h in highs] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_notifications_get_only_the_events_the_borrower_is_told_about() -> None:
    told = {"application_id": "a-1"}

    def notified(event_type: str, **payload: str) -> bool:
        return JobRoute("notifications", "application:a-1") in routes(event_type, told | payload)

    assert notified("application.submitted")
    assert notified("bid.placed")
    assert notified("loan.repayment_recorded", status_after="active")
    assert notified("loan.active", from_status="pending_disbursement")  # the disbursement
    # No template: a job would be claimed and finished having told no one.
    assert not notified("offer.accepted")
    assert not notified("payment.completed")
    assert not notified("loan.created")
    assert not notified("loan.active", from_status="delinquent")  # cured arrears: the repayment told them
    # The mirror still gets every one of them.
    assert JobRoute("supabase_sync", "application:a-1") in routes("offer.accepted", told)
