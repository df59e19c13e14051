"""Correctly signed webhooks with hostile bodies (issue 10, items 1 and 2): text PostgreSQL cannot store
in an id or type, 100,000 levels of nesting, an oversized chunked body. Each is a 4xx with nothing
stored, never a 500."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client, FastMCP

from mcp_servers.platform.webhooks import MAX_BODY
from mcp_servers.runtime import Runtime
from tests.helpers.payments import platform_over_http, post
from tests.helpers.providers import onboard
from tools.marketplace.providers import provider_signing_secret
from tools.platform.domain.signatures import caas_signature, paystack_signature, stripe_signature_header


@pytest.fixture
async def client(server: FastMCP) -> AsyncIterator[Client]:
    async with Client(server) as c:
        yield c


@pytest.fixture(scope="module")
async def base_url(runtime: Runtime) -> AsyncIterator[str]:
    async with platform_over_http(runtime) as url:
        yield url


async def stored(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM caas_core.webhook_inbox"))


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def paystack(event: str = "transfer.success", data_id: str = "1", extra: str = '"x"') -> bytes:
    """A Paystack event with ``extra`` (raw JSON text) in a field the platform does not read."""
    data = {"id": data_id, "reference": f"caas-disbursement-{uuid.uuid4()}", "amount": 100, "currency": "NGN"}
    body = json.dumps({"event": event, "data": {**data, "status": "success", "extra": "EXTRA"}})
    return body.replace('"EXTRA"', extra).encode()


PAYSTACK_BODIES = {
    "NUL in event": paystack(event="transfer.success\u0000"),
    "NUL in data.id": paystack(data_id="12\u00003"),
    "escape in data.id": paystack(data_id="12\u001b3"),
    "lone surrogate in data.id": paystack().replace(b'"id": "1"', b'"id": "1\\ud800"'),
    "NUL in a field we do not read": paystack(extra='"a\\u0000b"'),
    "100,000 levels of nesting": paystack(extra=nested(100_000)),
    "40 levels of nesting": paystack(extra=nested(40)),
    "not UTF-8": paystack().replace(b'"x"', b'"\xff\xfe"'),
}


@pytest.mark.parametrize("body", PAYSTACK_BODIES.values(), ids=list(PAYSTACK_BODIES))
async def test_a_signed_paystack_webhook_with_an_unreadable_body_is_400(
    runtime: Runtime, base_url: str, core_db: asyncpg.Connection, body: bytes
) -> None:
    secret = runtime.payment_secrets.paystack
    assert secret is not None and len(body) < MAX_BODY
    before = await stored(core_db)
    response = await post(
        f"{base_url}/webhooks/paystack", body, {"x-paystack-signature": paystack_signature(body, secret)}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "malformed_event"
    assert await stored(core_db) == before


@pytest.mark.parametrize("field", ["id", "type"])
async def test_a_signed_stripe_webhook_with_a_nul_in_its_id_or_type_is_400(
    runtime: Runtime, base_url: str, core_db: asyncpg.Connection, field: str
) -> None:
    secret = runtime.payment_secrets.stripe
    assert secret is not None
    event: dict[str, Any] = {"id": f"evt_{uuid.uuid4().hex}", "type": "payment_intent.succeeded"}
    event[field] += "\u0000"
    event["data"] = {"object": {"amount": 100, "currency": "usd", "metadata": {"reference": "caas-x"}}}
    body = json.dumps(event).encode()
    before = await stored(core_db)
    header = stripe_signature_header(body, secret, int(time.time()))
    response = await post(f"{base_url}/webhooks/stripe", body, {"stripe-signature": header})
    assert response.status_code == 400, response.text
    assert await stored(core_db) == before


async def test_an_oversized_chunked_webhook_is_413_without_reading_it_all(
    runtime: Runtime, base_url: str
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b" " * (MAX_BODY // 8)

    async with httpx.AsyncClient() as http:
        response = await http.post(f"{base_url}/webhooks/paystack", content=chunks())
    assert response.status_code == 413


PROVIDER_EVENTS = {
    "NUL in id": {"id": "evt-\u0000", "type": "bid.submitted", "data": {}},
    "NUL in type": {"id": "evt-1", "type": "bid.submitted\u0000", "data": {}},
    "newline in type": {"id": "evt-1", "type": "bid.\nsubmitted", "data": {}},
    "NUL deep in data": {"id": "evt-1", "type": "bid.submitted", "data": {"bid": {"conditions": "a\u0000"}}},
}


@pytest.mark.parametrize("event", [*PROVIDER_EVENTS.values(), None], ids=[*PROVIDER_EVENTS, "100,000 levels"])
async def test_a_signed_provider_event_with_an_unreadable_body_is_400(
    client: Client, principal: Any, runtime: Runtime, base_url: str, core_db: asyncpg.Connection, event: Any
) -> None:
    provider_id = (await onboard(client, principal))["provider"]["id"]
    body = (
        json.dumps(event).encode()
        if event
        else b'{"id": "e", "type": "t", "data": %s}' % nested(100_000).encode()
    )
    secret = await provider_signing_secret(runtime.deps.marketplace, uuid.UUID(provider_id))
    now = int(time.time())
    headers = {"X-CaaS-Signature": caas_signature(body, secret, now), "X-CaaS-Timestamp": str(now)}
    before = await stored(core_db)
    response = await post(f"{base_url}/webhooks/providers/{provider_id}", body, headers)
    assert response.status_code == 400, response.text
    assert await stored(core_db) == before


@pytest.mark.parametrize(
    "path",
    ["/webhooks/paystack", "/webhooks/stripe", "/webhooks/providers/7d1e5f0a-0000-4000-8000-000000000001"],
)
async def test_a_sender_that_leaves_mid_body_leaves_no_traceback(
    base_url: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender that times out mid-body was an 'Exception in ASGI application' (ClientDisconnect)."""
    host, port = base_url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    writer.write(f"{head}Content-Length: 100\r\n\r\n{{".encode())
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    await writer.wait_closed()
    async with httpx.AsyncClient() as http:  # the server answers the next request as before
        assert (await http.get(f"{base_url}/health")).status_code == 200
    await asyncio.sleep(0.2)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
