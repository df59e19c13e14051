"""The borrower's messages: which event is told with which template, and what each channel says."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tools.notifications.domain.templates import SMS_MAX, Channel, Facts, Template, render, template_for

EVERY = Facts(
    reference="CAAS-2026-000123",
    currency="NGN",
    amount_minor=25_000_000,
    outstanding_minor=2_345_678,
    due_date=date(2026, 8, 1),
    days_past_due=12,
    annual_rate=Decimal("0.24"),
    term_months=12,
)


@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        ("application.submitted", {}, Template.APPLICATION_RECEIVED),
        ("application.open_for_bids", {}, Template.APPLICATION_APPROVED),
        ("application.declined", {}, Template.APPLICATION_DECLINED),
        ("application.under_review", {}, Template.APPLICATION_UNDER_REVIEW),
        ("application.expired", {}, Template.APPLICATION_EXPIRED),
        ("bid.placed", {}, Template.OFFER_RECEIVED),
        ("loan.active", {"from_status": "pending_disbursement"}, Template.LOAN_DISBURSED),
        ("loan.repayment_recorded", {"status_after": "active"}, Template.REPAYMENT_RECEIVED),
        ("loan.repayment_recorded", {"status_after": "closed"}, Template.LOAN_PAID_OFF),
        ("loan.delinquent", {}, Template.ARREARS),
        ("loan.late_fees_assessed", {}, Template.LATE_FEE),
        ("loan.cancelled", {}, Template.LOAN_CANCELLED),
        ("loan.late_fees_waived", {}, Template.LATE_FEE_WAIVED),
    ],
)
def test_each_event_the_borrower_hears_about_has_its_template(
    event_type: str, payload: dict[str, str], expected: Template
) -> None:
    assert template_for(event_type, payload) is expected


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("application.draft", {}),
        ("bid.withdrawn", {}),
        ("bid.revised", {}),
        ("loan.originated", {}),
        ("payment.requested", {}),
        # A cured loan returns to active: that is not a second disbursement.
        ("loan.active", {"from_status": "delinquent"}),
    ],
)
def test_events_the_borrower_is_not_told_about_have_no_template(
    event_type: str, payload: dict[str, str]
) -> None:
    assert template_for(event_type, payload) is None


@pytest.mark.parametrize("template", list(Template))
def test_every_template_renders_every_channel_with_the_reference(template: Template) -> None:
    message = render(template, EVERY)
    for channel in Channel:
        subject, text = message.for_channel(channel)
        assert "CAAS-2026-000123" in text
        assert text.strip()
        if channel is not Channel.SMS:
            assert subject.strip()
    assert "CAAS-2026-000123" in message.email_subject


@pytest.mark.parametrize("template", list(Template))
def test_sms_fit_one_segment_in_the_gsm_alphabet(template: Template) -> None:
    sms = render(template, EVERY).sms
    assert len(sms) <= SMS_MAX
    assert sms.isascii()  # no currency symbol that would force UCS-2
    assert sms.startswith("CaaS:")


def test_amounts_are_printed_exactly_from_minor_units() -> None:
    message = render(Template.OFFER_RECEIVED, EVERY)
    assert "₦250,000.00" in message.body
    assert "NGN 250,000.00" in message.sms
    assert "24% a year over 12 months" in message.body


def test_a_currency_without_decimals_prints_none() -> None:
    facts = Facts(
        reference="CAAS-2026-000124", currency="JPY", amount_minor=50_000, due_date=date(2026, 1, 5)
    )
    message = render(Template.REPAYMENT_DUE, facts)
    assert "¥50,000 " in message.body
    assert "JPY 50,000 due on 2026-01-05" in message.sms


def test_repayment_received_says_what_is_still_owed() -> None:
    message = render(Template.REPAYMENT_RECEIVED, EVERY)
    assert "₦250,000.00" in message.body
    assert "Still to repay: ₦23,456.78" in message.body


def test_a_received_application_without_an_amount_still_renders() -> None:
    message = render(Template.APPLICATION_RECEIVED, Facts(reference="CAAS-2026-000125"))
    assert "CAAS-2026-000125" in message.body


def test_a_template_missing_a_fact_it_needs_is_refused() -> None:
    with pytest.raises(ValueError, match="repayment_due"):
        render(Template.REPAYMENT_DUE, Facts(reference="CAAS-2026-000126", currency="NGN", amount_minor=1))


def test_messages_carry_no_personal_data_beyond_reference_and_amounts() -> None:
    # The facts have no slot for a name, phone, email or account: the type itself keeps them out.
    assert set(Facts.__dataclass_fields__) == {
        "reference",
        "currency",
        "amount_minor",
        "outstanding_minor",
        "due_date",
        "days_past_due",
        "annual_rate",
        "term_months",
    }
