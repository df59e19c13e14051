"""Telling borrowers what happened: the ``notifications`` queue's handler and the repayment reminders.

Each event the borrower hears about becomes one in-app notification (the inbox, in Supabase) and, when
the borrower switched the channel on and the application holds a contact, an SMS and an email through
the gateway. Every channel's copy is a row of its own, unique per (event, user, channel), so a job that
runs again (delivery is at least once) never stores or sends anything twice: a channel already sent is
skipped, and a channel whose gateway call failed is the only one retried. The gateway reference of a
send is derived from its row, so a retry after a timeout is deduplicated by the gateway as well.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID, uuid4, uuid5

from tools.credit.domain.applications import ApplicationRecord
from tools.loans.domain.loans import LoanRecord, open_outstanding
from tools.notifications.domain.templates import Channel, Facts, Message, Template, render, template_for
from tools.notifications.events import NOTIFIER, notification_created
from tools.notifications.ports import (
    NewNotification,
    NotificationDeps,
    PreferenceRow,
)
from tools.payments.ports import GatewayError, GatewayRejected
from tools.platform.domain.money import MoneyError, to_minor
from tools.platform.jobs import MAX_ATTEMPTS, Handler, Job, PermanentFailure, RetryLater
from tools.platform.ports import AuditRecord

__all__ = [
    "QUEUE",
    "Notice",
    "deliver",
    "enabled_channels",
    "notification_handler",
    "notify_event",
    "remind_due_repayments",
]

log = logging.getLogger("caas.notifications")
QUEUE = "notifications"
EXTERNAL = (Channel.SMS, Channel.EMAIL)
# Repayment reminders have no outbox event: their id is derived from the installment, so each
# installment's reminder is stored and sent once however often the scan runs.
_REMINDERS = UUID("6f0c9a52-1d8e-4f4e-9a57-0c2b7f3d9e11")


@dataclass(frozen=True, slots=True)
class Notice:
    """One message for one borrower, with where SMS and email would go (never stored in Supabase)."""

    event_id: UUID
    user_id: str
    application_id: UUID | None
    message: Message
    phone: str | None
    email: str | None


def enabled_channels(rows: list[PreferenceRow], kind: str) -> set[Channel]:
    """In-app always; SMS and email when the kind's own row, else the '*' row, switches them on."""
    by_key = {(r.kind, r.channel): r.enabled for r in rows}
    chosen = {Channel.IN_APP}
    for channel in EXTERNAL:
        enabled = by_key.get((kind, channel.value), by_key.get(("*", channel.value), False))
        if enabled:
            chosen.add(channel)
    return chosen


async def deliver(deps: NotificationDeps, notice: Notice, *, last_try: bool = False) -> list[Channel]:
    """Store the in-app notification and send the enabled channels not sent yet; returns the channels
    whose send failed for now (to be retried). On the ``last_try`` a channel that fails is marked
    failed, not left pending for a retry that will never come."""
    message = notice.message
    kind = message.template.value
    wanted = enabled_channels(await _store_in_app(deps, notice, kind), kind)
    retry: list[Channel] = []
    for channel in EXTERNAL:
        to = notice.phone if channel is Channel.SMS else notice.email
        if channel not in wanted or not to:
            continue
        subject, text = message.for_channel(channel)
        row = await deps.store.add(
            NewNotification(
                event_id=notice.event_id,
                user_id=notice.user_id,
                application_id=notice.application_id,
                kind=kind,
                channel=channel.value,
                title=subject or message.title,
                body=text,
                status="pending",
            )
        )
        if row.delivery_status != "pending":
            continue  # sent before, or refused for good
        reference = f"caas-ntf-{row.id}"
        try:
            if channel is Channel.SMS:
                sent_id = await deps.comms.send_sms(to=to, message=text, reference=reference)
            else:
                sent_id = await deps.comms.send_email(to=to, subject=subject, text=text, reference=reference)
        except GatewayRejected as exc:
            # The gateway refused this message (a malformed number, say): retrying cannot help.
            await deps.store.delivered(row.id, "failed", None, _error(exc))
            log.warning("%s notification %s refused by the gateway (%s)", channel, row.id, exc.code)
        except GatewayError as exc:
            await deps.store.delivered(row.id, "failed" if last_try else "pending", None, _error(exc))
            if not last_try:
                retry.append(channel)
        else:
            await deps.store.delivered(row.id, "sent", sent_id, None)
    return retry


async def _store_in_app(deps: NotificationDeps, notice: Notice, kind: str) -> list[PreferenceRow]:
    """The in-app row and, when this call stored it (not a redelivery), its audit row and outbox event,
    so live clients hear of it once; returns the user's preferences, read with the insert (one store
    statement). The audit row and the event are one statement, atomic alone: no core transaction
    around them (a notice per borrower event, each BEGIN and COMMIT a round trip)."""
    chosen = uuid4()
    async with deps.uow(single_statement=True) as uow:
        row, preferences = await deps.store.add_reading_preferences(
            NewNotification(
                id=chosen,
                event_id=notice.event_id,
                user_id=notice.user_id,
                application_id=notice.application_id,
                kind=kind,
                channel=Channel.IN_APP.value,
                title=notice.message.title,
                body=notice.message.body,
                status="sent",
            )
        )
        if row.id == chosen:
            event = notification_created(row.id, row.user_id, kind, row.application_id)
            await uow.record(AuditRecord(NOTIFIER, "notification", str(row.id)), [event])
    return preferences


def _error(exc: GatewayError) -> str:
    # Gateway error texts carry no personal data (tools.payments.ports); the type says what happened.
    return f"{type(exc).__name__}: {exc.message}"[:500]


def notification_handler(deps: NotificationDeps) -> Handler:
    async def handle(job: Job) -> None:
        await notify_event(deps, job)

    return handle


async def notify_event(deps: NotificationDeps, job: Job) -> None:
    """Tell the borrower of the job's application about its event (nothing when it has no template)."""
    payload = dict(job.payload)
    template = template_for(job.event_type, payload)
    if template is None:
        return
    if job.event_id is None:
        raise PermanentFailure(f"{job.event_type} job {job.id} has no event id to deduplicate on")
    app = await deps.applications.get(str(_uuid(payload.get("application_id"), "application_id", job)))
    if app is None:
        raise PermanentFailure(f"{job.event_type} job {job.id}: its application does not exist")
    facts = await _facts(deps, template, payload, app, job)
    if facts is None:
        return
    try:
        message = render(template, facts)
    except ValueError as exc:
        raise PermanentFailure(f"{job.event_type} job {job.id}: {exc}") from None
    notice = Notice(job.event_id, app.borrower_id, app.id, message, app.applicant_phone, app.applicant_email)
    retry = await deliver(deps, notice, last_try=job.attempts + 1 >= MAX_ATTEMPTS)
    if retry:
        names = ", ".join(c.value for c in retry)
        raise RetryLater(f"{names} not delivered yet: the gateway did not take the message")


async def _facts(
    deps: NotificationDeps, template: Template, p: Mapping[str, Any], app: ApplicationRecord, job: Job
) -> Facts | None:
    """What the message says, read from the event and, where it lacks it, from the system of record;
    None when the event no longer holds (arrears already paid)."""
    base = Facts(reference=app.reference, currency=app.currency)
    if template is Template.APPLICATION_RECEIVED:
        return Facts(reference=app.reference, currency=app.currency, amount_minor=app.requested_amount_minor)
    if template is Template.OFFER_RECEIVED:
        currency = str(p.get("currency") or app.currency)
        return Facts(
            reference=app.reference,
            currency=currency,
            amount_minor=_minor(p.get("amount"), currency, job),
            annual_rate=_decimal(p.get("annual_rate")),
            term_months=p.get("term_months") if isinstance(p.get("term_months"), int) else None,
        )
    if template in (Template.REPAYMENT_RECEIVED, Template.LOAN_PAID_OFF):
        repayment_id = p.get("repayment_id")
        repayment = await deps.loans.repayment(_uuid(repayment_id, "repayment_id", job))
        if repayment is None:
            raise PermanentFailure(f"{job.event_type} job {job.id}: its repayment does not exist")
        return Facts(
            reference=app.reference,
            currency=str(p.get("currency") or app.currency),
            amount_minor=repayment.amount_minor,
            outstanding_minor=repayment.outstanding_after_minor,
        )
    if template in (Template.LOAN_DISBURSED, Template.ARREARS, Template.LATE_FEE):
        loan = await deps.loans.get(str(_uuid(p.get("loan_id"), "loan_id", job)))
        if loan is None:
            raise PermanentFailure(f"{job.event_type} job {job.id}: its loan does not exist")
        return await _loan_facts(deps, template, loan, app)
    return base


async def _loan_facts(
    deps: NotificationDeps, template: Template, loan: LoanRecord, app: ApplicationRecord
) -> Facts | None:
    if template is Template.LOAN_DISBURSED:
        return Facts(
            reference=app.reference,
            currency=loan.currency,
            amount_minor=loan.disbursed_amount_minor or loan.amount_financed_minor,
            due_date=loan.first_due_date,
        )
    if template is Template.ARREARS and loan.status not in ("delinquent", "defaulted"):
        return None  # paid before we got to it: telling the borrower they are late would be wrong
    today = deps.clock.now().date()
    overdue = sum(
        o.total for o in open_outstanding(await deps.loans.installments(loan.id)) if o.due_date <= today
    )
    return Facts(
        reference=app.reference,
        currency=loan.currency,
        outstanding_minor=overdue or None,
        days_past_due=max(loan.days_past_due, 1),
    )


async def remind_due_repayments(deps: NotificationDeps, today: date | None = None, limit: int = 1000) -> int:
    """Remind borrowers of installments due within ``reminder_days``: once per installment, however
    often this runs. A channel that fails is tried again by the next run while the installment is
    still ahead. Returns how many installments were looked at."""
    first = today or deps.clock.now().date()
    last = first + timedelta(days=deps.reminder_days)
    after: tuple[date, UUID, int] | None = None
    seen = 0
    while seen < limit:
        batch = await deps.due.due_between(first, last, after, min(200, limit - seen))
        for item in batch:
            app = await deps.applications.get(str(item.application_id))
            facts = Facts(
                reference=item.reference,
                currency=item.currency,
                amount_minor=item.amount_due_minor,
                due_date=item.due_date,
            )
            notice = Notice(
                uuid5(_REMINDERS, f"{item.loan_id}:{item.number}:{item.due_date.isoformat()}"),
                item.borrower_id,
                item.application_id,
                render(Template.REPAYMENT_DUE, facts),
                app.applicant_phone if app else None,
                app.applicant_email if app else None,
            )
            try:
                retry = await deliver(deps, notice)
            except Exception:
                # One borrower's failure (Supabase down for a moment) must not stop everyone's reminders.
                log.exception(
                    "repayment reminder for loan %s installment %d failed", item.loan_id, item.number
                )
                continue
            if retry:
                log.info("repayment reminder for loan %s: %s to be retried", item.loan_id, retry)
        seen += len(batch)
        if not batch:
            break
        after = (batch[-1].due_date, batch[-1].loan_id, batch[-1].number)
    return seen


def _uuid(value: Any, name: str, job: Job) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise PermanentFailure(f"{job.event_type} job {job.id}: {name} is not a UUID") from None


def _minor(value: Any, currency: str, job: Job) -> int | None:
    amount = _decimal(value)
    if amount is None:
        return None
    try:
        return to_minor(amount, currency)
    except MoneyError:
        raise PermanentFailure(f"{job.event_type} job {job.id}: its amount is not {currency} money") from None


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
