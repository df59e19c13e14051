"""Signed webhooks to credit providers, over real HTTP to a lender's receiver: signed with the secret
given at onboarding, no personal data, retried on 5xx, failed for good on 410, skipped for a suspended
provider, listed for operators (a provider: its own) and queued again by an operator. Failure paths:
test_webhook_delivery_failures.py."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import anyio
import pytest
from fastmcp import Client

from tests.helpers import bidding as ghs
from tests.helpers.clock import MovableClock
from tests.helpers.common import TEST_ACCOUNT_NUMBER, TEST_DOB, TEST_NATIONAL_ID, application
from tests.helpers.providers import (
    REACTIVATE,
    SUSPEND,
    call,
    refused,
    uid,
)
from tests.helpers.risk import verify_kyc
from tests.helpers.webhooks import LIST, RETRY, Hooks, due_now
from tools.platform.domain.signatures import check_caas
from tools.platform.principal import Role


@pytest.mark.slow
async def test_an_invited_provider_receives_a_signed_invitation_without_personal_data(hooks: Hooks) -> None:
    provider_id, secret, name = await hooks.lender()
    app = await hooks.invite()
    await hooks.runtime.workers.drain()

    [got] = hooks.receiver.got[name]
    [event_id] = await hooks.invited_events(provider_id)
    headers = got.headers
    assert check_caas(
        got.body, headers["x-caas-signature"], headers["x-caas-timestamp"], secret, int(time.time())
    ).ok
    assert headers["x-caas-event-id"] == str(event_id)
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("CaaS-Webhooks/")
    body = got.json
    assert (body["id"], body["type"]) == (str(event_id), "provider.invited")
    assert body["data"]["provider_id"] == provider_id
    assert body["data"]["application_id"] == app["id"]
    assert body["data"]["reference"] == app["reference"]
    applicant = application()["applicant"]
    text = got.body.decode()
    for personal in (
        TEST_DOB,
        TEST_NATIONAL_ID,
        TEST_ACCOUNT_NUMBER,
        applicant["full_name"],
        applicant["email"],
        applicant["phone"],
        app["borrower_id"],
    ):
        assert personal not in text
    # Another secret does not verify it.
    assert not check_caas(
        got.body, headers["x-caas-signature"], headers["x-caas-timestamp"], "whsec_other", int(time.time())
    ).ok

    [row] = await hooks.deliveries(provider=provider_id)
    assert (row["event_id"], row["event_type"], row["status"]) == (
        str(event_id),
        "provider.invited",
        "delivered",
    )
    assert (row["attempts"], row["last_status_code"], row["last_error"]) == (1, 200, None)
    assert row["delivered_at"] is not None and row["next_attempt_at"] is None
    assert row["url"] == hooks.receiver.url(name)


async def test_a_receiver_failing_twice_gets_the_same_event_a_third_time_and_it_is_delivered(
    hooks: Hooks, clock: MovableClock
) -> None:
    provider_id, secret, name = await hooks.lender()
    hooks.receiver.answer(name, 500, 503)
    await hooks.invite()
    [event_id] = await hooks.invited_events(provider_id)

    await hooks.runtime.workers.drain()
    [row] = await hooks.deliveries(provider=provider_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 1, 500)
    assert row["last_error"] == "the receiver answered 500"
    assert row["next_attempt_at"] is not None and row["next_attempt_at"] > row["last_attempt_at"]
    await hooks.runtime.workers.drain()
    assert len(hooks.receiver.got[name]) == 1  # not due yet: backoff

    await due_now(hooks.db, clock, event_id)
    await hooks.runtime.workers.drain()
    [row] = await hooks.deliveries(provider=provider_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 2, 503)

    await due_now(hooks.db, clock, event_id)
    await hooks.runtime.workers.drain()
    [row] = await hooks.deliveries(provider=provider_id, status=["delivered"])
    assert (row["status"], row["attempts"], row["last_status_code"], row["last_error"]) == (
        "delivered",
        3,
        200,
        None,
    )
    sent = hooks.receiver.got[name]
    assert len(sent) == 3
    assert {r.body for r in sent} == {sent[0].body}  # the same event, byte for byte
    assert {r.headers["x-caas-event-id"] for r in sent} == {str(event_id)}
    for r in sent:  # each signed when it was sent, on the moved clock
        signed = r.headers["x-caas-signature"], r.headers["x-caas-timestamp"]
        assert check_caas(r.body, *signed, secret, int(clock.now().timestamp())).ok


async def test_a_410_fails_for_good_and_an_operator_queues_it_again(
    hooks: Hooks, clock: MovableClock
) -> None:
    provider_id, _, name = await hooks.lender()
    hooks.receiver.answer(name, 410)
    await hooks.invite()
    [event_id] = await hooks.invited_events(provider_id)
    await hooks.runtime.workers.drain()

    [row] = await hooks.deliveries(provider=provider_id, status=["failed"])
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("failed", 1, 410)
    assert "410" in row["last_error"] and row["failed_at"] is not None and row["next_attempt_at"] is None
    clock.move(hours=1)  # past any backoff (at most 30 minutes)
    await hooks.runtime.workers.drain()
    assert len(hooks.receiver.got[name]) == 1  # failed for good: never attempted again on its own
    assert await hooks.deliveries(provider=provider_id, status=["pending", "delivered"]) == []

    # The lender fixed its receiver: an operator queues the delivery again.
    hooks.principal(uid("op-retry"), Role.OPERATOR)
    queued = await call(hooks.client, RETRY, {"delivery": str(event_id)})
    assert (queued["status"], queued["requeue_count"], queued["attempts"]) == ("pending", 1, 1)
    assert queued["requeued_at"] is not None and queued["next_attempt_at"] is not None
    assert await refused(hooks.client, RETRY, {"delivery": str(event_id)}) == "conflict"  # already pending
    await hooks.runtime.workers.drain()
    [row] = await hooks.deliveries(provider=provider_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 2, 200)
    assert [r.headers["x-caas-event-id"] for r in hooks.receiver.got[name]] == [str(event_id)] * 2
    assert await refused(hooks.client, RETRY, {"delivery": str(event_id)}) == "conflict"  # delivered
    assert await refused(hooks.client, RETRY, {"delivery": str(uuid.uuid4())}) == "not_found"
    audit = await hooks.db.fetchval(
        "SELECT count(*) FROM caas_audit.audit_log WHERE tool = 'admin.retry_webhook_delivery' "
        "AND object_id = $1",
        str(event_id),
    )
    assert audit == 1


async def test_a_suspended_provider_is_skipped_and_gets_it_once_reactivated_and_requeued(
    hooks: Hooks,
) -> None:
    provider_id, _, name = await hooks.lender()
    await hooks.invite()
    [event_id] = await hooks.invited_events(provider_id)
    hooks.principal(uid("op"), Role.OPERATOR)
    await call(hooks.client, SUSPEND, {"provider": provider_id, "reason": "compliance hold"})
    await hooks.runtime.workers.drain()

    assert hooks.receiver.got[name] == []
    [row] = await hooks.deliveries(provider=provider_id, status=["skipped"])
    assert (row["attempts"], row["last_status_code"], row["last_error"]) == (
        0,
        None,
        "the provider is suspended",
    )

    hooks.principal(uid("op"), Role.OPERATOR)
    await call(hooks.client, REACTIVATE, {"provider": provider_id})
    await call(hooks.client, RETRY, {"delivery": str(event_id)})
    await hooks.runtime.workers.drain()
    [row] = await hooks.deliveries(provider=provider_id)
    assert (row["status"], row["attempts"]) == ("delivered", 1)
    assert len(hooks.receiver.got[name]) == 1


async def test_operators_filter_and_page_deliveries_and_a_provider_sees_only_its_own(hooks: Hooks) -> None:
    first, _, first_name = await hooks.lender()
    second, _, _ = await hooks.lender()
    hooks.receiver.answer(first_name, 404)  # its first event fails, the next ones are delivered
    for _ in range(3):
        await hooks.invite()
    await hooks.runtime.workers.drain()
    events = await hooks.invited_events(first)
    assert len(events) == 3

    pages: list[dict[str, Any]] = []
    cursor = None
    hooks.principal(uid("op"), Role.OPERATOR)
    while True:
        args: dict[str, Any] = {"provider": first, "limit": 2}
        if cursor:
            args["cursor"] = cursor
        page = await call(hooks.client, LIST, args)
        pages.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Every one once, newest first (events relayed together tie on queued_at: then by event id).
    assert sorted(p["event_id"] for p in pages) == sorted(str(e) for e in events)
    keys = [(p["queued_at"], p["event_id"]) for p in pages]
    assert keys == sorted(keys, reverse=True)
    status = {p["event_id"]: p["status"] for p in pages}
    assert [status[str(e)] for e in events] == ["failed", "delivered", "delivered"]
    [failed] = await hooks.deliveries(provider=first, status=["failed"])
    assert failed["event_id"] == str(events[0])
    assert len(await hooks.deliveries(provider=first, event_type="provider.")) == 3
    assert len(await hooks.deliveries(provider=first, event_type="provider.invited")) == 3
    assert await hooks.deliveries(provider=first, event_type="bid.") == []
    assert await every_provider_listed(hooks.client, hooks.principal) >= {first, second}

    hooks.principal(uid("lender-user"), Role.PROVIDER, first)
    own = (await call(hooks.client, LIST, {"limit": 100}))["items"]
    assert {d["provider_id"] for d in own} == {first}
    assert {d["event_id"] for d in own} == {str(e) for e in events}
    assert await refused(hooks.client, LIST, {"provider": second}) == "permission_denied"
    # Its own failed delivery it may queue again; another provider's reads as missing
    # (test_lender_dashboard_tools.py).
    hooks.principal(uid("lender-user"), Role.PROVIDER, second)
    assert await refused(hooks.client, RETRY, {"delivery": str(events[0])}) == "not_found"
    hooks.principal(uid("borrower"), Role.BORROWER)
    assert await refused(hooks.client, LIST, {}) == "permission_denied"


async def every_provider_listed(client: Client, principal: Any) -> set[str]:
    """The providers of every delivery an operator lists unfiltered, page after page: other tests'
    deliveries are listed too, so no single page is sure to hold this test's."""
    principal(uid("op"), Role.OPERATOR)
    providers: set[str] = set()
    args: dict[str, Any] = {"limit": 100}
    while True:
        page = await call(client, LIST, args)
        providers |= {d["provider_id"] for d in page["items"]}
        if page["next_cursor"] is None:
            return providers
        args["cursor"] = page["next_cursor"]


async def test_two_concurrent_drains_deliver_each_event_once(hooks: Hooks) -> None:
    lenders = [await hooks.lender() for _ in range(3)]
    for _ in range(3):
        await hooks.invite()

    async with anyio.create_task_group() as tg:
        tg.start_soon(hooks.runtime.workers.drain)
        tg.start_soon(hooks.runtime.workers.drain)

    for provider_id, _, name in lenders:
        events = await hooks.invited_events(provider_id)
        assert len(events) == 3
        # Once each, and in the order the events were written.
        assert [r.headers["x-caas-event-id"] for r in hooks.receiver.got[name]] == [str(e) for e in events]
        rows = await hooks.deliveries(provider=provider_id)
        assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)] * 3


async def test_the_lender_of_an_accepted_offer_hears_each_step_in_order_and_that_it_was_declined(
    hooks: Hooks,
) -> None:
    name = uid("lender")
    provider_id = await ghs.lender(
        hooks.client, hooks.principal, hooks.country, webhook_url=hooks.receiver.url(name)
    )
    app = await ghs.open_application(hooks.client, hooks.principal, hooks.country)
    await ghs.invite(hooks.client, hooks.principal, app)
    bid = await ghs.place(hooks.client, hooks.principal, app, provider_id)
    ghs.as_borrower(hooks.principal, app)
    key = f"accept-{uuid.uuid4()}"
    await call(hooks.client, ghs.ACCEPT, {"application": app["id"], "bid": bid["id"], "idempotency_key": key})
    await verify_kyc(hooks.client, hooks.principal, app, "proof_of_income")
    # Arrange only: obligations as large as the income make the approval re-check fail on DTI.
    await hooks.db.execute(
        "UPDATE caas_core.applications SET monthly_obligations_minor = monthly_income_minor WHERE id = $1",
        uuid.UUID(app["id"]),
    )
    hooks.principal(uid("op-approve"), Role.OPERATOR)
    decided = await call(
        hooks.client,
        "credit_approve_application",
        {"application": app["id"], "comment": "policy re-check at accepted terms"},
    )
    assert decided["status"] == "declined"
    await hooks.runtime.workers.drain()

    got = [r.json for r in hooks.receiver.got[name]]
    assert [g["type"] for g in got] == ["provider.invited", "bid.placed", "offer.accepted", "offer.released"]
    released = got[-1]["data"]
    assert (released["bid_id"], released["application_id"]) == (bid["id"], app["id"])
    assert released["reason"] == "application declined"
    assert "borrower_id" not in json.dumps(got)
