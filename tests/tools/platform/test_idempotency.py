"""An idempotency key's request digest: one request however its values were written, another for any
other value (tools/platform/idempotency.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from tools.platform.idempotency import request_sha256


def test_an_amount_is_its_value_not_its_text() -> None:
    assert request_sha256({"amount": Decimal("250000")}) == request_sha256({"amount": Decimal("250000.00")})
    assert request_sha256({"amount": Decimal("1E+2")}) == request_sha256({"amount": Decimal("100")})
    assert request_sha256({"amount": Decimal("100.01")}) != request_sha256({"amount": Decimal("100.1")})


def test_a_time_is_its_instant_not_its_offset() -> None:
    utc = datetime(2026, 3, 1, 10, tzinfo=UTC)
    lagos = utc.astimezone(timezone(timedelta(hours=1)))
    assert request_sha256([utc]) == request_sha256([lagos])
    assert request_sha256([utc]) != request_sha256([utc + timedelta(seconds=1)])


def test_key_order_does_not_matter_and_nesting_is_kept() -> None:
    assert request_sha256({"a": 1, "b": {"c": Decimal("2.0")}}) == request_sha256(
        {"b": {"c": Decimal(2)}, "a": 1}
    )
    assert request_sha256({"a": [1, 2]}) != request_sha256({"a": [2, 1]})
