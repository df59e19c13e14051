"""Borrower notifications through MCP clients on real PostgreSQL: outbox events drained by the
``notifications`` queue become in-app notifications in Supabase, in order and once; SMS and email go
through the sandbox gateway over real HTTP when the borrower switched them on, and a failing channel is
retried alone; repayment reminders and arrears; inbox reads and marks are the owner's alone."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers import bidding as ghs
from tests.helpers.clock import MovableClock
from tests.helpers.common import application
from tests.helpers.loans import AGE, REPAY, SCHEDULE, active_loan, disburse, paid_at
from tests.helpers.notifications import (
    GET_PREFS,
    LIST,
    MARK,
    SET_PREFS,
    call,
    captured,
    inbox,
    refused,
    rows,
    sandbox,
    settle,
    uid,
)
from tests.helpers.risk import APPROVE, APPROVE_BUREAU, SUBMIT, body, scored, submitted, verify_kyc
from tools.notifications.notifications import remind_due_repayments
from tools.platform.domain.money import to_minor
from tools.platform.domain.money_format import format_money
from tools.platform.jobs import MAX_ATTEMPTS
from tools.platform.principal import Role


def shown(money: dict[str, str]) -> str:
    return format_money(to_minor(Decimal(money["amount"]), money["currency"]), money["currency"])


PHONE = application()["applicant"]["phone"]
EMAIL = application()["applicant"]["email"]


@pytest.mark.slow
async def test_a_borrower_is_told_each_step_from_application_to_repayment_in_order(
    client: Client, principal: Any, runtime: Runtime, country: str
) -> None:
    provider = await ghs.lender(client, principal, country)
    borrower = principal(uid("b-told"), Role.BORROWER).subject
    payload = body(40, currency=ghs.CURRENCY)
    payload["applicant"] = {**payload["applicant"], "country": country}
    app = await call(client, SUBMIT, {"application": payload})
    await verify_kyc(client, principal, app, "national_id", "proof_of_income")
    assert (await scored(client, principal, app, APPROVE_BUREAU, uid("op")))["application_status"] == (
        "open_for_bids"
    )
    await ghs.invite(client, principal, app)
    bid = await ghs.place(client, principal, app, provider)
    ghs.as_borrower(principal, app)
    accept = {"application": app["id"], "bid": bid["id"], "idempotency_key": f"accept-{uuid.uuid4()}"}
    await call(client, ghs.ACCEPT, accept)
    principal(uid("op-approve"), Role.OPERATOR)
    await call(client, APPROVE, {"application": app["id"], "comment": "identity and income verified"})
    principal(uid("op-loans"), Role.OPERATOR)
    loan = await call(client, "credit_originate_loan", {"application": app["id"]})
    await disburse(runtime, loan)
    first = (await call(client, SCHEDULE, {"loan": loan["id"]}))["lines"][0]
    principal(uid("svc-pay"), Role.SERVICE)
    repayment = {
        "loan": loan["id"],
        "amount": first["total"]["amount"],
        "paid_at": paid_at(runtime.clock),
        "reference": uid("p"),
    }
    await call(client, REPAY, repayment)

    await settle(runtime)

    told = await inbox(client, principal, borrower)
    assert [n["kind"] for n in told] == [
        "application_received",
        "application_approved",
        "offer_received",
        "loan_disbursed",
        "repayment_received",
    ]
    assert all(app["reference"] in n["body"] for n in told)
    assert all(n["application_id"] == app["id"] and n["read_at"] is None for n in told)
    assert "GH₵250,000.00" in told[0]["body"]
    assert "A lender offered GH₵250,000.00 at 24% a year over 12 months" in told[2]["body"]
    assert "GH₵250,000.00 of your loan" in told[3]["body"]  # no origination fee withheld
    assert f"repayment of {shown(first['total'])} on loan" in told[4]["body"]
    # Nothing else was sent: the borrower switched no channel on.
    assert {r["channel"] for r in await rows(runtime, borrower)} == {"in_app"}


async def test_a_redelivered_event_does_not_notify_twice(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    app = await submitted(client, principal)
    await settle(runtime)
    # At-least-once delivery: the job runs again, as after a worker died before marking it done.
    redone = await core_db.execute(
        "UPDATE caas_core.jobs SET done_at = NULL "
        "WHERE queue = 'notifications' AND payload ->> 'application_id' = $1",
        app["id"],
    )
    assert redone == "UPDATE 1"
    await settle(runtime)
    told = await inbox(client, principal, app["borrower_id"])
    assert [n["kind"] for n in told] == ["application_received"]


async def test_marking_read_is_idempotent_and_the_unread_filter_follows_it(
    client: Client, principal: Any, runtime: Runtime
) -> None:
    app = await submitted(client, principal)
    await settle(runtime)
    page = await call(client, LIST, {"unread_only": True})
    assert (page["user_id"], page["unread_count"], len(page["items"])) == (app["borrower_id"], 1, 1)
    notification = page["items"][0]
    read = await call(client, MARK, {"notification": notification["id"]})
    assert read["read_at"] is not None
    assert (await call(client, MARK, {"notification": notification["id"]}))["read_at"] == read["read_at"]
    after = await call(client, LIST, {"unread_only": True})
    assert (after["unread_count"], after["items"]) == (0, [])
    assert [n["read_at"] for n in (await call(client, LIST, {}))["items"]] == [read["read_at"]]


async def test_a_borrower_can_neither_see_nor_mark_another_borrowers_notifications(
    client: Client, principal: Any, runtime: Runtime
) -> None:
    mine = await submitted(client, principal)
    await settle(runtime)
    [theirs] = (await call(client, LIST, {}))["items"]

    principal(uid("b-other"), Role.BORROWER)
    assert (await call(client, LIST, {}))["items"] == []
    assert await refused(client, MARK, {"notification": theirs["id"]}) == "not_found"
    assert await refused(client, MARK, {"notification": str(uuid.uuid4())}) == "not_found"
    assert await refused(client, LIST, {"user_id": mine["borrower_id"]}) == "permission_denied"
    principal(uid("b-agent"), Role.AGENT)
    assert await refused(client, LIST, {"user_id": mine["borrower_id"]}) == "permission_denied"

    # Support reads a borrower's inbox, but marking read stays the owner's.
    principal(uid("op-support"), Role.OPERATOR)
    seen = await call(client, LIST, {"user_id": mine["borrower_id"]})
    assert [n["id"] for n in seen["items"]] == [theirs["id"]]
    assert await refused(client, MARK, {"notification": theirs["id"]}) == "not_found"
    principal(mine["borrower_id"], Role.BORROWER)
    assert (await call(client, LIST, {}))["unread_count"] == 1


async def test_preferences_default_to_in_app_only_and_keep_what_is_left_out(
    client: Client, principal: Any
) -> None:
    principal(uid("b-prefs"), Role.BORROWER)
    prefs = await call(client, GET_PREFS, {})
    assert (prefs["channels"], prefs["overrides"]) == ({"in_app": True, "sms": False, "email": False}, [])
    override = {"kind": "repayment_due", "channel": "email", "enabled": True}
    changed = await call(client, SET_PREFS, {"sms": True, "overrides": [override]})
    assert (changed["channels"], changed["overrides"]) == (
        {"in_app": True, "sms": True, "email": False},
        [override],
    )
    kept = await call(client, SET_PREFS, {"email": False})
    assert (kept["channels"]["sms"], kept["overrides"]) == (True, [override])
    assert await call(client, GET_PREFS, {}) == kept

    assert await refused(client, SET_PREFS, {}) == "invalid_argument"
    assert await refused(client, SET_PREFS, {"overrides": [override, override]}) == "invalid_argument"
    assert (
        await refused(client, SET_PREFS, {"overrides": [{**override, "kind": "gossip"}]})
        == "invalid_argument"
    )
    assert await refused(client, SET_PREFS, {"overrides": [{**override, "x": 1}]}) == "invalid_argument"
    assert await refused(client, SET_PREFS, {"sms": True, "whatsapp": True}) == "invalid_argument"
    principal(uid("lender-user"), Role.PROVIDER, str(uuid.uuid4()))
    assert await refused(client, GET_PREFS, {}) == "permission_denied"


async def test_with_sms_on_the_borrower_gets_an_sms_through_the_gateway_and_no_email(
    client: Client, principal: Any, runtime: Runtime
) -> None:
    borrower = principal(uid("b-sms"), Role.BORROWER).subject
    await call(client, SET_PREFS, {"sms": True})
    app = await call(client, SUBMIT, {"application": body()})
    await settle(runtime)

    stored = {r["channel"]: r for r in await rows(runtime, borrower)}
    assert set(stored) == {"in_app", "sms"}
    sms = stored["sms"]
    assert (sms["delivery_status"], sms["attempts"], sms["kind"]) == ("sent", 1, "application_received")
    [message] = await captured(runtime, reference=f"caas-ntf-{sms['id']}")
    assert (message["channel"], message["to"], message["id"]) == ("sms", PHONE, sms["provider_message_id"])
    assert message["text"] == sms["body"] and app["reference"] in message["text"]
    assert len(message["text"]) <= 160
    # The contact stays in the system of record: no Supabase row carries it.
    assert all(PHONE not in str(dict(r)) and EMAIL not in str(dict(r)) for r in stored.values())
    # The inbox shows the in-app notification only.
    assert [n["kind"] for n in await inbox(client, principal, borrower)] == ["application_received"]


async def test_a_failing_channel_is_retried_alone_and_sent_once(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    borrower = principal(uid("b-retry"), Role.BORROWER).subject
    await call(client, SET_PREFS, {"sms": True, "email": True})
    await sandbox(runtime, "POST", "/sandbox/vendors/sms/down")
    try:
        app = await call(client, SUBMIT, {"application": body()})
        await settle(runtime)
        stored = {r["channel"]: r for r in await rows(runtime, borrower)}
        assert {c: (r["delivery_status"], r["attempts"]) for c, r in stored.items()} == {
            "in_app": ("sent", 0),
            "sms": ("pending", 1),
            "email": ("sent", 1),
        }
        assert stored["sms"]["last_error"].startswith("GatewayNotAccepted")  # the 503 made nothing
        job = await core_db.fetchrow(
            "SELECT done_at, attempts, last_error FROM caas_core.jobs "
            "WHERE queue = 'notifications' AND payload ->> 'application_id' = $1",
            app["id"],
        )
        assert (job["done_at"], job["attempts"]) == (None, 1)
        assert job["last_error"] == "sms not delivered yet: the gateway did not take the message"
    finally:
        await sandbox(runtime, "POST", "/sandbox/vendors/sms/up")

    # The clock is past the retry's backoff: only the SMS goes out; nothing is stored twice.
    clock.move(minutes=1)
    await settle(runtime)
    after = {r["channel"]: r for r in await rows(runtime, borrower)}
    assert {c: (r["delivery_status"], r["attempts"]) for c, r in after.items()} == {
        "in_app": ("sent", 0),
        "sms": ("sent", 2),
        "email": ("sent", 1),
    }
    assert after["sms"]["last_error"] is None
    [email] = await captured(runtime, reference=f"caas-ntf-{after['email']['id']}")
    assert (email["channel"], email["to"], email["subject"]) == (
        "email",
        EMAIL,
        f"Application received ({app['reference']})",
    )
    assert len(await captured(runtime, reference=f"caas-ntf-{after['sms']['id']}")) == 1
    assert await core_db.fetchval(
        "SELECT done_at IS NOT NULL FROM caas_core.jobs "
        "WHERE queue = 'notifications' AND payload ->> 'application_id' = $1",
        app["id"],
    )


async def test_a_repayment_due_soon_is_reminded_once_however_often_the_scan_runs(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    first_due = date.fromisoformat(loan["first_due_date"])
    clock.move(days=(first_due - clock.today()).days - 2)  # due the day after tomorrow
    principal(loan["borrower_id"], Role.BORROWER)
    line = (await call(client, SCHEDULE, {"loan": loan["id"]}))["lines"][0]
    assert date.fromisoformat(line["due_date"]) == clock.today() + timedelta(days=2)

    await settle(runtime)
    deps = runtime.deps.notifications
    assert deps.reminder_days == 3
    await remind_due_repayments(deps)
    await remind_due_repayments(deps)

    told = await inbox(client, principal, loan["borrower_id"])
    assert [n["kind"] for n in told] == ["application_received", "loan_disbursed", "repayment_due"]
    due = told[-1]
    assert f"A repayment of {shown(line['total'])} on loan {loan['application_reference']}" in due["body"]
    assert line["due_date"] in due["body"]
    # A scan whose window does not reach the installment adds nothing.
    await remind_due_repayments(deps, today=clock.today() - timedelta(days=5))
    assert len(await inbox(client, principal, loan["borrower_id"])) == 3


async def test_arrears_and_a_late_fee_are_told_to_the_borrower(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    first_due = date.fromisoformat(loan["first_due_date"])
    clock.move(days=(first_due - clock.today()).days + 10)  # 10 days overdue, past grace
    principal(uid("op-age"), Role.OPERATOR)
    await call(client, AGE, {})
    await settle(runtime)

    told = await inbox(client, principal, loan["borrower_id"])
    assert [n["kind"] for n in told] == ["application_received", "loan_disbursed", "arrears", "late_fee"]
    assert "is 10 days overdue" in told[2]["body"]
    assert "A late fee was added" in told[3]["body"]


async def test_the_notifications_tools_declare_their_roles_and_effects(
    client: Client, principal: Any
) -> None:
    tools = {}
    for role in (Role.BORROWER, Role.OPERATOR):  # each sees only the tools open to its role
        principal(uid("lister"), role)
        tools |= {t.name: t for t in await client.list_tools() if t.name.startswith("notifications_")}
    hints = {
        name.removeprefix("notifications_"): (t.annotations.read_only_hint, t.annotations.destructive_hint)
        for name, t in tools.items()
    }
    assert hints == {
        "list_notifications": (True, False),
        "mark_notification_read": (False, False),
        "get_notification_preferences": (True, False),
        "set_notification_preferences": (False, False),
        "open_support_conversation": (False, False),
        "post_support_message": (False, False),
        "get_support_conversation": (False, False),
        "list_support_conversations": (True, False),
        "close_support_conversation": (False, True),
    }
    assert all(t.description and t.input_schema.get("additionalProperties") is False for t in tools.values())
    assert tools[LIST].annotations.idempotent_hint is True
    assert tools["notifications_close_support_conversation"].meta["caas/roles"] == ["admin", "operator"]
    assert tools["notifications_open_support_conversation"].meta["caas/roles"] == ["agent", "borrower"]


async def test_a_channel_still_failing_on_the_jobs_last_attempt_is_marked_failed_not_left_pending(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    borrower = principal(uid("b-giveup"), Role.BORROWER).subject
    await call(client, SET_PREFS, {"sms": True})
    await sandbox(runtime, "POST", "/sandbox/vendors/sms/down")
    try:
        app = await call(client, SUBMIT, {"application": body()})
        await settle(runtime)
        # Arrange only: the queue has retried it all but once, so the next run is its last.
        await core_db.execute(
            "UPDATE caas_core.jobs SET attempts = $2 - 1 "
            "WHERE queue = 'notifications' AND payload ->> 'application_id' = $1",
            app["id"],
            MAX_ATTEMPTS,
        )
        clock.move(minutes=1)  # past the retry's backoff
        await settle(runtime)
    finally:
        await sandbox(runtime, "POST", "/sandbox/vendors/sms/up")
    sms = {r["channel"]: r for r in await rows(runtime, borrower)}["sms"]
    assert (sms["delivery_status"], sms["attempts"]) == ("failed", 2)
    job = await core_db.fetchrow(
        "SELECT done_at, failed_at FROM caas_core.jobs "
        "WHERE queue = 'notifications' AND payload ->> 'application_id' = $1",
        app["id"],
    )
    assert job["done_at"] is not None and job["failed_at"] is None  # nothing left to retry
