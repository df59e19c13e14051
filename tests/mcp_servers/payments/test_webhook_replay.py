"""A signed webhook whose transaction the database aborted for a deadlock runs again (issue 10, #17);
one that cannot be replayed answers 503, so the vendor redelivers, never 500."""

from __future__ import annotations

import json
import secrets
from typing import Any

import asyncpg
import pytest

from mcp_servers.payments import webhook_routes
from mcp_servers.runtime import Runtime
from tests.helpers.payments import post
from tools.platform.domain.signatures import paystack_signature


def signed_event(runtime: Runtime) -> tuple[bytes, dict[str, str]]:
    """A charge for a reference no payment has: the platform records it as ignored."""
    body = json.dumps(
        {
            "event": "charge.success",
            "data": {
                "id": secrets.randbelow(10**12),
                "reference": f"unknown-{secrets.token_hex(6)}",
                "amount": 10000,
                "currency": "NGN",
                "status": "success",
            },
        }
    ).encode()
    secret = runtime.payment_secrets.paystack
    assert secret is not None
    return body, {"x-paystack-signature": paystack_signature(body, secret)}


def deadlocking(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    real, runs = webhook_routes.receive_gateway_event, []

    async def receive(*args: Any) -> Any:
        runs.append(1)
        if len(runs) <= times:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        return await real(*args)

    monkeypatch.setattr(webhook_routes, "receive_gateway_event", receive)
    return runs


async def test_a_webhook_aborted_by_a_deadlock_is_received_on_the_next_run(
    runtime: Runtime, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = deadlocking(monkeypatch, times=1)
    response = await post(f"{base_url}/webhooks/paystack", *signed_event(runtime))
    assert response.status_code == 200, response.text
    assert len(runs) == 2


async def test_a_webhook_that_keeps_deadlocking_answers_503_for_redelivery(
    runtime: Runtime, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = deadlocking(monkeypatch, times=100)
    response = await post(f"{base_url}/webhooks/paystack", *signed_event(runtime))
    assert (response.status_code, response.json()) == (503, {"error": "busy", "retry": True})
    assert len(runs) == 4
