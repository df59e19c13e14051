"""What a borrower is told, per event and per channel: in-app (title + body), SMS (short, plain
characters) and email (subject + text).

Messages carry only what the borrower needs to act: the application's reference, amounts and dates.
Never a name, an account number or a score: an SMS or an email leaves our systems and may be read on
a shared phone. Amounts come in minor units and are printed exactly (``format_money``); the SMS uses
the currency code instead of its symbol so that the message stays in the GSM alphabet (a single ₦
would switch the whole SMS to UCS-2 and halve its length).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tools.platform.domain.money import from_minor
from tools.platform.domain.money_format import format_money, format_percent

__all__ = [
    "SMS_MAX",
    "Channel",
    "Facts",
    "Message",
    "Template",
    "render",
    "sms_money",
    "support_reply",
    "template_for",
]

SMS_MAX = 160


class Channel(StrEnum):
    IN_APP = "in_app"
    SMS = "sms"
    EMAIL = "email"


class Template(StrEnum):
    APPLICATION_RECEIVED = "application_received"
    APPLICATION_APPROVED = "application_approved"
    APPLICATION_DECLINED = "application_declined"
    APPLICATION_UNDER_REVIEW = "application_under_review"
    APPLICATION_EXPIRED = "application_expired"
    OFFER_RECEIVED = "offer_received"
    LOAN_DISBURSED = "loan_disbursed"
    REPAYMENT_DUE = "repayment_due"
    REPAYMENT_RECEIVED = "repayment_received"
    LOAN_PAID_OFF = "loan_paid_off"
    ARREARS = "arrears"
    LATE_FEE = "late_fee"
    LATE_FEE_WAIVED = "late_fee_waived"
    LOAN_CANCELLED = "loan_cancelled"


# The application statuses a borrower hears about as a decision.
_DECISIONS = {
    "application.submitted": Template.APPLICATION_RECEIVED,
    "application.open_for_bids": Template.APPLICATION_APPROVED,
    "application.declined": Template.APPLICATION_DECLINED,
    "application.under_review": Template.APPLICATION_UNDER_REVIEW,
    # Nobody acted, so nobody else tells the borrower: the bidding window or the accepted offer ran out.
    "application.expired": Template.APPLICATION_EXPIRED,
    "bid.placed": Template.OFFER_RECEIVED,
    "loan.delinquent": Template.ARREARS,
    "loan.late_fees_assessed": Template.LATE_FEE,
    "loan.late_fees_waived": Template.LATE_FEE_WAIVED,
    "loan.cancelled": Template.LOAN_CANCELLED,
}


def template_for(event_type: str, payload: Mapping[str, Any]) -> Template | None:
    """The template an outbox event is told with, or None when the borrower is not told about it."""
    if event_type == "loan.active":
        # A loan also returns to active when its arrears are paid; only the first activation is the
        # disbursement (the repayment that cured it has its own message).
        return Template.LOAN_DISBURSED if payload.get("from_status") == "pending_disbursement" else None
    if event_type == "loan.repayment_recorded":
        closed = payload.get("status_after") == "closed"
        return Template.LOAN_PAID_OFF if closed else Template.REPAYMENT_RECEIVED
    return _DECISIONS.get(event_type)


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What a message may mention. ``reference`` is the application's CAAS-YYYY-NNNNNN."""

    reference: str
    currency: str | None = None
    amount_minor: int | None = None  # the event's amount: requested, offered, disbursed, paid, due
    outstanding_minor: int | None = None  # still owed (repayments) or overdue (arrears)
    due_date: date | None = None
    days_past_due: int | None = None
    annual_rate: Decimal | None = None  # an offer's yearly rate as a fraction (0.24)
    term_months: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    template: Template
    title: str
    body: str
    sms: str
    email_subject: str
    email_text: str

    def for_channel(self, channel: Channel) -> tuple[str, str]:
        """(subject or title, text) as the channel sends it."""
        if channel is Channel.SMS:
            return "", self.sms
        if channel is Channel.EMAIL:
            return self.email_subject, self.email_text
        return self.title, self.body


def sms_money(minor: int, currency: str) -> str:
    """ "NGN 250,000.00": the code, not the symbol, so the SMS stays GSM-7."""
    return f"{currency} {format(from_minor(minor, currency), ',')}"


class _Missing(ValueError):
    pass


def _need(value: Any, what: str) -> Any:
    if value is None:
        raise _Missing(f"this message needs {what}")
    return value


def render(template: Template, facts: Facts) -> Message:
    """The message for every channel; raises ValueError when ``facts`` lack what the template needs."""
    try:
        title, body, sms = _TEXTS[template](facts)
    except _Missing as exc:
        raise ValueError(f"{template.value}: {exc}") from None
    if len(sms) > SMS_MAX:  # one SMS segment; the long form is in the app and the email
        sms = sms[: SMS_MAX - 3] + "..."
    text = f"{body}\n\nReference: {facts.reference}\n\nThis is an automatic message from CaaS."
    return Message(template, title, body, sms, f"{title} ({facts.reference})", text)


def _amount(f: Facts, minor: int | None, what: str) -> tuple[str, str]:
    """(display, sms) texts of an amount."""
    currency = _need(f.currency, "a currency")
    value = _need(minor, what)
    return format_money(value, currency), sms_money(value, currency)


def _received(f: Facts) -> tuple[str, str, str]:
    if f.amount_minor is not None and f.currency is not None:
        shown, short = _amount(f, f.amount_minor, "the requested amount")
        body = (
            f"We received your application {f.reference} for {shown}. We will tell you when it is assessed."
        )
        sms = f"CaaS: application {f.reference} for {short} received. We will update you soon."
    else:
        body = f"We received your application {f.reference}. We will tell you when it is assessed."
        sms = f"CaaS: application {f.reference} received. We will update you soon."
    return "Application received", body, sms


def _offer(f: Facts) -> tuple[str, str, str]:
    shown, short = _amount(f, f.amount_minor, "the offered amount")
    terms = ""
    if f.annual_rate is not None:
        terms += f" at {format_percent(f.annual_rate)} a year"
    if f.term_months is not None:
        terms += f" over {f.term_months} months"
    body = (
        f"A lender offered {shown}{terms} on application {f.reference}. Compare the offers in the app "
        "before the bidding window closes."
    )
    sms = f"CaaS: new offer of {short}{terms} on {f.reference}. Compare offers in the app."
    return "New offer received", body, sms


def _disbursed(f: Facts) -> tuple[str, str, str]:
    shown, short = _amount(f, f.amount_minor, "the disbursed amount")
    due = f" Your first repayment is due on {f.due_date.isoformat()}." if f.due_date else ""
    body = f"{shown} of your loan {f.reference} has been sent to your bank account.{due}"
    sms = f"CaaS: {short} of loan {f.reference} sent to your bank account.{due}"
    return "Loan disbursed", body, sms


def _due(f: Facts) -> tuple[str, str, str]:
    shown, short = _amount(f, f.amount_minor, "the amount due")
    day = _need(f.due_date, "the due date").isoformat()
    body = f"A repayment of {shown} on loan {f.reference} is due on {day}. Paying on time avoids late fees."
    sms = f"CaaS: {short} due on {day} for loan {f.reference}. Pay on time to avoid late fees."
    return "Repayment due soon", body, sms


def _paid(f: Facts) -> tuple[str, str, str]:
    shown, short = _amount(f, f.amount_minor, "the amount paid")
    left = ""
    if f.outstanding_minor is not None and f.currency is not None:
        left = f" Still to repay: {format_money(f.outstanding_minor, f.currency)}."
    body = f"We received your repayment of {shown} on loan {f.reference}. Thank you.{left}"
    sms = f"CaaS: repayment of {short} received for loan {f.reference}. Thank you."
    return "Repayment received", body, sms


def _paid_off(f: Facts) -> tuple[str, str, str]:
    shown, short = _amount(f, f.amount_minor, "the amount paid")
    body = f"We received your repayment of {shown}: loan {f.reference} is now fully repaid. Thank you."
    sms = f"CaaS: {short} received. Loan {f.reference} is fully repaid. Thank you."
    return "Loan fully repaid", body, sms


def _arrears(f: Facts) -> tuple[str, str, str]:
    days = _need(f.days_past_due, "the days past due")
    owed = ""
    short_owed = ""
    if f.outstanding_minor is not None and f.currency is not None:
        owed = f" of {format_money(f.outstanding_minor, f.currency)}"
        short_owed = f" of {sms_money(f.outstanding_minor, f.currency)}"
    body = (
        f"A repayment{owed} on loan {f.reference} is {days} day{'s' if days != 1 else ''} overdue. "
        "Please pay as soon as you can to avoid late fees, or contact support to agree a plan."
    )
    sms = (
        f"CaaS: loan {f.reference} has a payment{short_owed} {days}d overdue. Please pay or contact support."
    )
    return "Repayment overdue", body, sms


def _late_fee(f: Facts) -> tuple[str, str, str]:
    owed = ""
    if f.outstanding_minor is not None and f.currency is not None:
        owed = f" You now owe {format_money(f.outstanding_minor, f.currency)} in arrears."
    body = (
        f"A late fee was added to loan {f.reference} because a repayment is overdue.{owed} "
        "Contact support if you need to agree a plan."
    )
    sms = f"CaaS: a late fee was added to loan {f.reference}. Please pay the overdue amount."
    return "Late fee added", body, sms


# Messages that say nothing but the reference: (title, body, SMS), ``{ref}`` the reference.
_PLAIN: dict[Template, tuple[str, str, str]] = {
    Template.APPLICATION_APPROVED: (
        "Application approved for offers",
        "Good news: application {ref} passed our assessment and is now open to lenders. You will be told "
        "as offers arrive; compare them and accept the one you prefer.",
        "CaaS: application {ref} approved for lender offers. Check the app for offers.",
    ),
    Template.APPLICATION_DECLINED: (
        "Application not approved",
        "We are sorry: application {ref} was not approved. Your notice in the app explains the main "
        "reasons and how to ask for a review.",
        "CaaS: application {ref} was not approved. See the app for the reasons.",
    ),
    Template.APPLICATION_UNDER_REVIEW: (
        "Application under review",
        "Application {ref} is being reviewed by our credit team. We may ask you for more information; no "
        "action is needed now.",
        "CaaS: application {ref} is under review. No action needed now.",
    ),
    Template.APPLICATION_EXPIRED: (
        "Application expired",
        "Application {ref} has expired: no loan was made from it in time (no offer was accepted while "
        "lenders could bid, or the offer accepted lapsed before its loan was made). You owe nothing on "
        "it, and you may apply again.",
        "CaaS: application {ref} expired without a loan. You owe nothing; you may apply again.",
    ),
    Template.LATE_FEE_WAIVED: (
        "Late fee removed",
        "The late fee on loan {ref} was removed: your payment was made within the grace period, only "
        "recorded later. You do not owe it.",
        "CaaS: the late fee on loan {ref} was removed; your payment was on time.",
    ),
    Template.LOAN_CANCELLED: (
        "Loan cancelled",
        "The loan on application {ref} was cancelled before it was paid out: no money was sent to you and "
        "you owe nothing on it. Ask support if you did not expect this.",
        "CaaS: the loan on {ref} was cancelled before payout. You owe nothing on it.",
    ),
}


def _plain(template: Template) -> Callable[[Facts], tuple[str, str, str]]:
    title, body, sms = _PLAIN[template]
    return lambda f: (title, body.format(ref=f.reference), sms.format(ref=f.reference))


_TEXTS = {
    Template.APPLICATION_RECEIVED: _received,
    Template.OFFER_RECEIVED: _offer,
    Template.LOAN_DISBURSED: _disbursed,
    Template.REPAYMENT_DUE: _due,
    Template.REPAYMENT_RECEIVED: _paid,
    Template.LOAN_PAID_OFF: _paid_off,
    Template.ARREARS: _arrears,
    Template.LATE_FEE: _late_fee,
    **{template: _plain(template) for template in _PLAIN},
}


def support_reply(subject: str) -> tuple[str, str]:
    """(title, body) of the in-app notice that support answered a conversation."""
    shown = subject if len(subject) <= 80 else subject[:77] + "..."
    return (
        "Support replied",
        f'Our support team replied in your conversation "{shown}". Open it to read the reply.',
    )
