"""Webhook signatures: Paystack, Stripe and the platform's own (X-CaaS-Signature), signing and checking.

Every check runs on the raw request bytes, before anything is parsed, and compares digests with
``hmac.compare_digest`` so that the time taken does not reveal how much of a forged signature was
right. A check says *why* it failed (missing, malformed, mismatch, stale) for logs and tests; the HTTP
answer is the same 401 whatever the reason.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence
from enum import StrEnum

__all__ = [
    "TOLERANCE_SECONDS",
    "Verdict",
    "caas_signature",
    "check_caas",
    "check_paystack",
    "check_stripe",
    "paystack_signature",
    "standard_webhook_key",
    "standard_webhook_signature",
    "stripe_signature_header",
]

# Stripe's default, and the contract's for provider webhooks: a signed timestamp older (or newer)
# than this is refused, so a captured request cannot be replayed later.
TOLERANCE_SECONDS = 300
_MAX_HEADER = 2048


class Verdict(StrEnum):
    OK = "ok"
    MISSING = "missing"
    MALFORMED = "malformed"
    MISMATCH = "mismatch"
    STALE = "stale"

    @property
    def ok(self) -> bool:
        return self is Verdict.OK


def _hmac_hex(secret: str, message: bytes, digest: str) -> str:
    return hmac.new(secret.encode(), message, digest).hexdigest()


def _same(expected_hex: str, given: str) -> bool:
    # Both sides as bytes of equal meaning; a non-ASCII header simply does not match.
    try:
        return hmac.compare_digest(expected_hex.encode("ascii"), given.strip().lower().encode("ascii"))
    except UnicodeEncodeError:
        return False


def paystack_signature(body: bytes, secret: str) -> str:
    """``x-paystack-signature``: hex HMAC-SHA512 of the raw body, keyed with the secret key."""
    return _hmac_hex(secret, body, "sha512")


def check_paystack(body: bytes, header: str | None, secret: str) -> Verdict:
    if not header or not header.strip():
        return Verdict.MISSING
    if len(header) > _MAX_HEADER:
        return Verdict.MALFORMED
    return Verdict.OK if _same(paystack_signature(body, secret), header) else Verdict.MISMATCH


def _timestamped(timestamp: int | str, body: bytes) -> bytes:
    return str(timestamp).encode("ascii") + b"." + body


def stripe_signature_header(body: bytes, secret: str, timestamp: int) -> str:
    """``Stripe-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}">``."""
    return f"t={timestamp},v1={_hmac_hex(secret, _timestamped(timestamp, body), 'sha256')}"


def _fresh(timestamp: int, now: int, tolerance: int) -> bool:
    return abs(now - timestamp) <= tolerance


def check_stripe(
    body: bytes, header: str | None, secret: str, now: int, tolerance: int = TOLERANCE_SECONDS
) -> Verdict:
    """Any ``v1`` entry may match (Stripe sends one per active secret while a secret is rolled)."""
    if not header or not header.strip():
        return Verdict.MISSING
    if len(header) > _MAX_HEADER:
        return Verdict.MALFORMED
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return Verdict.MALFORMED
        if key == "t":
            if not (value.isascii() and value.isdigit()) or len(value) > 12:
                return Verdict.MALFORMED
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return Verdict.MALFORMED
    expected = _hmac_hex(secret, _timestamped(timestamp, body), "sha256")
    # Every candidate is compared (no early exit), then freshness: a stale but genuine request and a
    # forged one take the same time.
    matched = False
    for candidate in candidates:
        matched |= _same(expected, candidate)
    if not matched:
        return Verdict.MISMATCH
    return Verdict.OK if _fresh(timestamp, now, tolerance) else Verdict.STALE


def caas_signature(body: bytes, secret: str, timestamp: int | str) -> str:
    """``X-CaaS-Signature``: ``sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">``."""
    return "sha256=" + _hmac_hex(secret, _timestamped(timestamp, body), "sha256")


def check_caas(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    secret: str,
    now: int,
    tolerance: int = TOLERANCE_SECONDS,
) -> Verdict:
    """A provider's webhook: ``X-CaaS-Signature`` over ``X-CaaS-Timestamp`` and the raw body."""
    if not signature or not signature.strip() or not timestamp or not timestamp.strip():
        return Verdict.MISSING
    ts = timestamp.strip()
    scheme, sep, digest = signature.strip().partition("=")
    if (
        len(signature) > _MAX_HEADER
        or not (ts.isascii() and ts.isdigit())
        or len(ts) > 12
        or not sep
        or scheme != "sha256"
    ):
        return Verdict.MALFORMED
    if not _same(_hmac_hex(secret, _timestamped(ts, body), "sha256"), digest):
        return Verdict.MISMATCH
    return Verdict.OK if _fresh(int(ts), now, tolerance) else Verdict.STALE


_WHSEC = "whsec_"


def standard_webhook_key(secret: str) -> bytes:
    """The HMAC key a Standard Webhooks library derives from ``secret``: the bytes of a
    ``whsec_<base64>`` secret's base64 part (``Webhook(secret)``); any other secret, such as one
    issued before secrets were standard, is its own UTF-8 bytes (the libraries' raw format:
    ``Webhook(secret.encode())`` in Python, ``new Webhook(secret, {format: "raw"})`` in TypeScript)."""
    if secret.startswith(_WHSEC):
        try:
            return base64.b64decode(secret.removeprefix(_WHSEC), validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def standard_webhook_signature(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """``webhook-signature``: one ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` per secret,
    space-separated (the current secret first, then one still in its rotation overlap)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(standard_webhook_key(s), signed, "sha256").digest()).decode()
        for s in secrets
    )
