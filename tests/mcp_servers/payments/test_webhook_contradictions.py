"""Inbound reports that contradict what the platform knows are named to a person, never dropped without
a trace: an event id received again with another body (a vendor's or a lender's) is still a duplicate
with no effect, but it is counted, said in the answer and named by platform_health; a reversal reported
of a payout that had succeeded leaves it succeeded and is rejected for an operator.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.loans import call
from tests.helpers.payments import loan_status, post, row
from tests.helpers.providers import onboard
from tests.helpers.risk import uid
from tests.mcp_servers.payments.test_webhook_routes import inbox, paystack_body, pending_transfer, signed
from tools.marketplace.providers import provider_signing_secret
from tools.platform.domain.signatures import caas_signature
from tools.platform.principal import Role


async def health(client: Client, principal: Any) -> list[str]:
    principal(uid("op"), Role.OPERATOR)
    return list((await call(client, "admin_platform_health", {}))["attention"])


async def copies(db: asyncpg.Connection, source: str, event_id: str) -> int:
    return int(
        await db.fetchval(
            "SELECT other_bodies FROM caas_core.webhook_inbox WHERE source = $1 AND event_id = $2",
            source,
            event_id,
        )
    )


async def test_a_vendor_event_id_sent_again_with_another_body_changes_nothing_and_is_named(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    loan, payment = await pending_transfer(client, principal, runtime, core_db)
    vendor_id = int(uuid.uuid4().int % 10**12)
    first = paystack_body("transfer.success", payment, id=vendor_id)
    answered = (await post(f"{base_url}/webhooks/paystack", first, signed(runtime, first))).json()
    assert (answered["status"], answered["outcome"]) == ("processed", "applied")
    assert await loan_status(core_db, loan["id"]) == "active"

    # The same event id, another body (here: a failure instead): a 200 duplicate that moves nothing.
    other = paystack_body("transfer.success", payment, id=vendor_id, amount=1, status="failed")
    response = await post(f"{base_url}/webhooks/paystack", other, signed(runtime, other))
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate" and response.json()["outcome"] == "applied"
    assert "received before with another body" in response.json()["warning"]
    event_id = f"transfer.success:{vendor_id}"
    assert await copies(core_db, "paystack", event_id) == 1
    assert (await row(core_db, payment["id"]))["status"] == "succeeded"
    assert any(f"paystack:{event_id}" in line for line in await health(client, principal))

    # An exact copy is the ordinary retry: no warning, nothing counted.
    again = (await post(f"{base_url}/webhooks/paystack", first, signed(runtime, first))).json()
    assert again["status"] == "duplicate" and "warning" not in again
    # So is a copy the sender re-serialised (keys reordered, indented, non-ASCII escaped): the same body.
    resent = json.dumps(json.loads(first), indent=2, sort_keys=True, ensure_ascii=True).encode()
    assert resent != first
    again = (await post(f"{base_url}/webhooks/paystack", resent, signed(runtime, resent))).json()
    assert again["status"] == "duplicate" and "warning" not in again
    assert await copies(core_db, "paystack", event_id) == 1


async def test_a_lenders_event_id_sent_again_with_another_body_is_counted_too(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    provider_id = (await onboard(client, principal))["provider"]["id"]
    secret = await provider_signing_secret(runtime.deps.marketplace, uuid.UUID(provider_id))
    event_id = uid("evt")

    async def send(data: dict[str, Any], **layout: Any) -> Any:
        body = json.dumps({"id": event_id, "type": "portfolio.note", "data": data}, **layout).encode()
        now = int(time.time())
        headers = {"X-CaaS-Signature": caas_signature(body, secret, now), "X-CaaS-Timestamp": str(now)}
        response = await post(f"{base_url}/webhooks/providers/{provider_id}", body, headers)
        assert response.status_code == 200, response.text
        return response.json()

    assert (await send({"note": "first"}))["outcome"] == "recorded"
    assert "warning" not in await send({"note": "first"})
    assert "warning" not in await send({"note": "first"}, indent=1, sort_keys=True)
    assert "another body" in (await send({"note": "second"}))["warning"]
    assert await copies(core_db, f"provider:{provider_id}", event_id) == 1


async def test_a_reversal_reported_after_a_payout_succeeded_is_rejected_for_an_operator(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str
) -> None:
    loan, payment = await pending_transfer(client, principal, runtime, core_db)
    paid = paystack_body("transfer.success", payment)
    assert (await post(f"{base_url}/webhooks/paystack", paid, signed(runtime, paid))).json()[
        "outcome"
    ] == "applied"
    # A failure is an earlier attempt's news arriving late: ignored. A reversal: the money came back.
    for event, outcome in (("transfer.failed", "ignored"), ("transfer.reversed", "rejected")):
        undone = paystack_body(event, payment)
        answered = (await post(f"{base_url}/webhooks/paystack", undone, signed(runtime, undone))).json()
        assert answered["outcome"] == outcome, event
    assert (await row(core_db, payment["id"]))["status"] == "succeeded"  # never backwards
    assert await loan_status(core_db, loan["id"]) == "active"
    details = [r["detail"] for r in await inbox(core_db, payment["id"]) if r["outcome"] == "rejected"]
    assert len(details) == 1 and "the payout may have come back" in details[0]
    [line] = [line for line in await health(client, principal) if "reported reversed" in line]
    assert payment["id"] in line
