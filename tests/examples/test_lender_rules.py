"""The lender agent's pricing rules (examples/lender_agent/rules.py): each rule that says no, in order, with
a reason a lender can read; otherwise a bid in the amount's own digits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from examples.lender_agent.rules import Bid, Book, Decline, decide, load_rules

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
TOML = """currency = "NGN"
daily_appetite = 2
capital = "600000.00"
valid_days = 3
[grades.A]
annual_rate = "0.22"
fee_rate = "0.015"
max_amount = "500000.00"
"""


def invitation(**changes: Any) -> dict[str, Any]:
    return {"currency": "NGN", "amount": "250000.00", "term_months": 12, "grade": "A", **changes}


@pytest.fixture
def rule_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(TOML)
    return path


def test_an_invitation_within_every_rule_gets_a_bid_priced_by_its_grade(rule_file: Path) -> None:
    bid = decide(load_rules(rule_file), Book(), invitation(), NOW)
    assert bid == Bid(
        "NGN", Decimal("250000.00"), Decimal("0.22"), 12, Decimal("3750.00"), NOW + timedelta(3)
    )
    assert bid.arguments()["origination_fee"] == "3750.00"


@pytest.mark.parametrize(
    ("changes", "book", "reason"),
    [
        ({"currency": "KES"}, Book(), "we lend only in NGN, not KES"),
        ({"grade": "D"}, Book(), "grade D is outside our lending appetite"),
        ({"amount": "500000.01"}, Book(), "NGN 500000.01 is above our maximum of 500000.00 for grade A"),
        ({}, Book(bids_by_day={NOW.date(): 2}), "our appetite of 2 bids a day is used up"),
        ({}, Book(committed=Decimal("400000.00")), "is more than the capital we have left (200000.00)"),
    ],
)
def test_the_first_rule_that_says_no_declines_with_its_reason(
    rule_file: Path, changes: dict[str, Any], book: Book, reason: str
) -> None:
    choice = decide(load_rules(rule_file), book, invitation(**changes), NOW)
    assert isinstance(choice, Decline)
    assert reason in choice.reason


def test_bids_count_against_the_day_and_the_capital_and_a_revision_only_moves_capital() -> None:
    book = Book()
    book.record(Decimal("100.00"), NOW)
    book.record(Decimal("80.00"), NOW, previous=Decimal("100.00"))
    assert (book.committed, book.bids_today(NOW), book.bids_today(NOW + timedelta(days=1))) == (
        Decimal("80.00"),
        1,
        0,
    )


def test_a_json_rule_file_works_too_and_a_missing_field_is_named(tmp_path: Path) -> None:
    good = tmp_path / "rules.json"
    good.write_text('{"currency": "ngn", "daily_appetite": 1, "capital": "10", "grades": {}}')
    assert load_rules(good).currency == "NGN"
    bad = tmp_path / "bad.json"
    bad.write_text('{"currency": "NGN", "capital": "10"}')
    with pytest.raises(ValueError, match="daily_appetite"):
        load_rules(bad)
