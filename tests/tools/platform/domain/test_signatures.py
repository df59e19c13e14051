"""Webhook signatures: what a genuine sender produces passes; anything forged, altered, missing or old
does not, and the check says why."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tools.platform.domain.signatures import (
    TOLERANCE_SECONDS,
    Verdict,
    caas_signature,
    check_caas,
    check_paystack,
    check_stripe,
    paystack_signature,
    standard_webhook_key,
    standard_webhook_signature,
    stripe_signature_header,
)

BODY = b'{"event":"transfer.success","data":{"id":1,"reference":"caas-disbursement-x","amount":100}}'
SECRET = "sk_test_0123456789abcdef"
NOW = 1_760_000_000


def test_paystack_signature_is_the_hex_hmac_sha512_of_the_raw_body() -> None:
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha512).hexdigest()
    assert paystack_signature(BODY, SECRET) == expected
    assert check_paystack(BODY, expected, SECRET) is Verdict.OK


def test_paystack_signature_in_upper_case_hex_still_matches() -> None:
    assert check_paystack(BODY, paystack_signature(BODY, SECRET).upper(), SECRET).ok


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        (None, Verdict.MISSING),
        ("", Verdict.MISSING),
        ("   ", Verdict.MISSING),
        ("deadbeef", Verdict.MISMATCH),
        ("é" * 128, Verdict.MISMATCH),
        ("a" * 5000, Verdict.MALFORMED),
    ],
)
def test_paystack_signature_that_is_missing_or_forged_is_refused(
    header: str | None, verdict: Verdict
) -> None:
    assert check_paystack(BODY, header, SECRET) is verdict


def test_paystack_signature_of_another_body_or_another_key_is_refused() -> None:
    assert check_paystack(BODY + b" ", paystack_signature(BODY, SECRET), SECRET) is Verdict.MISMATCH
    assert check_paystack(BODY, paystack_signature(BODY, "another-key"), SECRET) is Verdict.MISMATCH


def test_stripe_signature_round_trips_within_the_tolerance() -> None:
    header = stripe_signature_header(BODY, SECRET, NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert check_stripe(BODY, header, SECRET, NOW) is Verdict.OK
    assert check_stripe(BODY, header, SECRET, NOW + TOLERANCE_SECONDS) is Verdict.OK
    assert check_stripe(BODY, header, SECRET, NOW - TOLERANCE_SECONDS) is Verdict.OK


def test_stripe_signature_older_or_newer_than_five_minutes_is_stale() -> None:
    header = stripe_signature_header(BODY, SECRET, NOW)
    assert check_stripe(BODY, header, SECRET, NOW + TOLERANCE_SECONDS + 1) is Verdict.STALE
    assert check_stripe(BODY, header, SECRET, NOW - TOLERANCE_SECONDS - 1) is Verdict.STALE


def test_stripe_signature_matches_any_of_several_v1_entries_while_a_secret_is_rolled() -> None:
    good = stripe_signature_header(BODY, SECRET, NOW).split(",")[1]
    header = f"t={NOW},v1={'0' * 64},{good},v0=ignored"
    assert check_stripe(BODY, header, SECRET, NOW) is Verdict.OK


def test_stripe_signature_with_a_moved_timestamp_does_not_match() -> None:
    signature = stripe_signature_header(BODY, SECRET, NOW).split(",")[1]
    assert check_stripe(BODY, f"t={NOW + 1},{signature}", SECRET, NOW) is Verdict.MISMATCH


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        (None, Verdict.MISSING),
        ("", Verdict.MISSING),
        ("v1=abc", Verdict.MALFORMED),
        (f"t={NOW}", Verdict.MALFORMED),
        ("t=soon,v1=abc", Verdict.MALFORMED),
        (f"t={NOW},v1", Verdict.MALFORMED),
        (f"t={NOW},v1={'0' * 64}", Verdict.MISMATCH),
    ],
)
def test_stripe_signature_that_is_missing_or_malformed_is_refused(
    header: str | None, verdict: Verdict
) -> None:
    assert check_stripe(BODY, header, SECRET, NOW) is verdict


def test_caas_signature_signs_the_timestamp_and_the_body() -> None:
    signature = caas_signature(BODY, SECRET, NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    assert check_caas(BODY, signature, str(NOW), SECRET, NOW + 10) is Verdict.OK


@pytest.mark.parametrize(
    ("signature", "timestamp", "now", "verdict"),
    [
        (None, str(NOW), NOW, Verdict.MISSING),
        ("sha256=00", None, NOW, Verdict.MISSING),
        ("md5=00", str(NOW), NOW, Verdict.MALFORMED),
        ("00", str(NOW), NOW, Verdict.MALFORMED),
        ("sha256=00", "yesterday", NOW, Verdict.MALFORMED),
        ("sha256=00", str(NOW), NOW, Verdict.MISMATCH),
        ("genuine", str(NOW), NOW + TOLERANCE_SECONDS + 1, Verdict.STALE),
        ("genuine", str(NOW + 1), NOW, Verdict.MISMATCH),  # the signature covers the timestamp
    ],
)
def test_caas_signature_that_is_missing_forged_or_stale_is_refused(
    signature: str | None, timestamp: str | None, now: int, verdict: Verdict
) -> None:
    if signature == "genuine":
        signature = caas_signature(BODY, SECRET, NOW)
    assert check_caas(BODY, signature, timestamp, SECRET, now) is verdict


def test_caas_signature_of_another_secret_is_refused() -> None:
    assert (
        check_caas(BODY, caas_signature(BODY, "whsec_other", NOW), str(NOW), SECRET, NOW) is Verdict.MISMATCH
    )


def _standard_headers(signature: str, timestamp: int) -> dict[str, str]:
    return {"webhook-id": "evt_1", "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_standard_webhook_signatures_verify_with_the_standardwebhooks_library_for_each_secret() -> None:
    current = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    previous = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    now = int(time.time())
    signature = standard_webhook_signature("evt_1", now, BODY, [current, previous])
    assert len(signature.split(" ")) == 2
    for secret in (current, previous):
        assert Webhook(secret).verify(BODY, _standard_headers(signature, now), json_parse=False) is None
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(BODY, _standard_headers(signature, now))
    with pytest.raises(WebhookVerificationError):  # the body is signed: one byte more fails
        Webhook(current).verify(BODY + b" ", _standard_headers(signature, now))


def test_a_secret_that_is_not_standard_base64_signs_with_its_own_bytes_the_libraries_raw_format() -> None:
    legacy = "whsec_" + "Ab-_" * 10 + "xyz"  # issued before secrets were standard: url-safe, unpadded
    assert standard_webhook_key(legacy) == legacy.encode()
    now = int(time.time())
    signature = standard_webhook_signature("evt_1", now, BODY, [legacy])
    Webhook(legacy.encode()).verify(BODY, _standard_headers(signature, now), json_parse=False)
    assert standard_webhook_key("whsec_" + base64.b64encode(b"k" * 32).decode()) == b"k" * 32


@pytest.mark.parametrize("digits", ["\u00b2", "1\u00b3", "\u0661\u0662", "\uff11"])
def test_a_timestamp_of_digits_other_than_ascii_is_malformed_not_an_error(digits: str) -> None:
    # '²'.isdigit() is true; int('²') and '²'.encode('ascii') are not: the request was a 500.
    now = int(time.time())
    assert check_stripe(b"{}", f"t={digits},v1=00", "whsec", now) is Verdict.MALFORMED
    assert check_caas(b"{}", "sha256=00", digits, "secret", now) is Verdict.MALFORMED
