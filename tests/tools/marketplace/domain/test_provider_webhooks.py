"""What a provider's answer means, the body it is sent, and which events reach it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tools.marketplace.domain.provider_webhooks import Answer, classify, parse_retry_after, webhook_body
from tools.platform.domain.jobs import JobRoute, routes
from tools.platform.domain.signatures import caas_signature, check_caas

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_any_2xx_is_delivered(code: int) -> None:
    assert classify(code) is Answer.DELIVERED


@pytest.mark.parametrize("code", [500, 502, 503, 504, 599, 408, 425, 429, 101])
def test_server_errors_and_busy_answers_are_retried(code: int) -> None:
    assert classify(code) is Answer.RETRY


@pytest.mark.parametrize("code", [400, 401, 403, 404, 405, 410, 413, 422, 301, 302, 307, 308])
def test_other_client_errors_and_redirects_are_refused_for_good(code: int) -> None:
    assert classify(code) is Answer.REFUSED


def test_the_body_is_the_event_in_canonical_json_and_never_names_the_borrower() -> None:
    event_id = uuid.uuid4()
    payload = {"loan_id": "l-1", "provider_id": "p-1", "borrower_id": "user-42", "principal": "100.00"}
    body = webhook_body(event_id, "loan.active", NOW, payload)
    assert body == webhook_body(event_id, "loan.active", NOW, dict(reversed(payload.items())))
    assert json.loads(body) == {
        "id": str(event_id),
        "type": "loan.active",
        "created_at": NOW.isoformat(),
        "data": {"loan_id": "l-1", "provider_id": "p-1", "principal": "100.00"},
    }
    assert b"user-42" not in body and b" " not in body


def test_the_signature_covers_the_timestamp_and_the_exact_bytes() -> None:
    body = webhook_body(uuid.uuid4(), "provider.invited", NOW, {"provider_id": "p-1"})
    ts = int(NOW.timestamp())
    signature = caas_signature(body, "whsec_test", ts)
    assert signature.startswith("sha256=")
    assert check_caas(body, signature, str(ts), "whsec_test", ts).ok
    assert not check_caas(body + b" ", signature, str(ts), "whsec_test", ts).ok
    assert not check_caas(body, signature, str(ts + 1), "whsec_test", ts).ok


def test_retry_after_is_read_as_seconds_or_a_date_and_ignored_when_unreadable() -> None:
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert parse_retry_after("Fri, 14 Mar 2025 12:05:00 GMT", NOW) == timedelta(minutes=5)
    assert parse_retry_after("Fri, 14 Mar 2025 11:00:00 GMT", NOW) == timedelta(0)
    assert parse_retry_after("99999999999999999999", NOW) == timedelta(days=1)
    for junk in (None, "", "soon", "-5", "1.5", "\u00b2"):
        assert parse_retry_after(junk, NOW) is None


def test_a_lender_hears_of_its_invitations_bids_offers_and_loans_but_not_of_other_changes() -> None:
    for event_type in (
        "provider.invited",
        "bid.placed",
        "bid.rejected",
        "bid.expired",
        "offer.accepted",
        "offer.released",
        "loan.originated",
        "loan.active",
    ):
        assert JobRoute("provider_webhooks", "provider:p-1") in routes(event_type, {"provider_id": "p-1"})
    for event_type in ("provider.updated", "provider.secret_rotated", "webhook_delivery.requeued"):
        assert all(r.queue != "provider_webhooks" for r in routes(event_type, {"provider_id": "p-1"}))
