"""The sandbox gateway over real loopback HTTP: signed webhooks a real receiver can verify with the
shared secret, the payer's pay page, settling and reversing, delivery retries and replays, the
inspection and switch routes, and the ports the sandbox serves on. The registry routes are in
test_sandbox_registry.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.sandbox import Sandbox
from tests.helpers.common import free_port, serving
from tests.helpers.sandbox import Receiver

RECIPIENT = {"name": "Ada Obi", "account_number": "0123456789", "bank_code": "058"}


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.gateway_url, timeout=10) as client:
        yield client


def ref() -> str:
    return f"caas-test-{uuid.uuid4()}"


async def send_transfer(
    http: httpx.AsyncClient,
    reference: str,
    simulate: str = "success",
    vendor: str = "paystack",
    amount: str = "1500.50",
) -> httpx.Response:
    body = {
        "amount": amount,
        "currency": "NGN" if vendor != "stripe" else "USD",
        "reference": reference,
        "recipient": RECIPIENT,
        "vendor": vendor,
        "metadata": {"simulate": simulate},
    }
    return await http.post("/api/v1/payments/transfer", json=body)


async def initialize(http: httpx.AsyncClient, reference: str, simulate: str = "success") -> dict[str, Any]:
    body = {
        "amount": 250,
        "currency": "NGN",
        "email": "payer@example.com",
        "reference": reference,
        "vendor": "paystack",
        "metadata": {"simulate": simulate},
    }
    response = await http.post("/api/v1/payments/initialize", json=body)
    assert response.status_code == 200
    return dict(response.json()["transaction"])


async def webhooks(http: httpx.AsyncClient, reference: str) -> list[dict[str, Any]]:
    return list((await http.get("/sandbox/webhooks", params={"reference": reference})).json())


async def test_a_transfer_webhook_is_signed_so_the_platform_verifies_it_with_the_paystack_secret(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    reference = ref()
    assert (await send_transfer(http, reference)).json()["transfer"]["status"] == "pending"
    await sandbox.webhooks_idle()
    [hook] = receiver[0].for_reference(reference)
    assert hook.path == "/webhooks/paystack"
    expected = hmac.new(sandbox.paystack_secret.encode(), hook.body, hashlib.sha512).hexdigest()
    assert hmac.compare_digest(hook.headers["x-paystack-signature"], expected)
    event = json.loads(hook.body)
    assert event["event"] == "transfer.success"
    assert event["data"]["reference"] == reference
    assert (event["data"]["amount"], event["data"]["currency"]) == (150050, "NGN")  # minor units
    assert isinstance(event["data"]["id"], int)
    [record] = await webhooks(http, reference)
    assert (record["status"], record["attempts"], record["response_status"]) == ("delivered", 1, 200)


async def test_a_stripe_vendor_webhook_carries_a_fresh_stripe_signature(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    reference = ref()
    await send_transfer(http, reference, vendor="stripe", amount="12.34")
    await sandbox.webhooks_idle()
    [hook] = receiver[0].for_reference(reference)
    assert hook.path == "/webhooks/stripe"
    parts = dict(item.split("=", 1) for item in hook.headers["stripe-signature"].split(","))
    signed = parts["t"].encode() + b"." + hook.body
    assert hmac.compare_digest(
        parts["v1"], hmac.new(sandbox.stripe_secret.encode(), signed, "sha256").hexdigest()
    )
    assert abs(int(parts["t"]) - time.time()) < 300
    event = json.loads(hook.body)
    assert event["id"].startswith("evt_")
    assert event["type"] == "payout.paid"
    assert event["data"]["object"]["metadata"]["reference"] == reference
    assert (event["data"]["object"]["amount"], event["data"]["object"]["currency"]) == (1234, "usd")


async def test_a_failed_transfer_sends_transfer_failed(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    reference = ref()
    await send_transfer(http, reference, "failure")
    await sandbox.webhooks_idle()
    [hook] = receiver[0].for_reference(reference)
    assert json.loads(hook.body)["event"] == "transfer.failed"


async def test_a_pending_transfer_sends_nothing_until_settled_then_can_be_reversed(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    reference = ref()
    await send_transfer(http, reference, "pending")
    await sandbox.webhooks_idle()
    assert receiver[0].for_reference(reference) == []
    settled = await http.post(f"/sandbox/payments/{reference}/settle", params={"outcome": "success"})
    assert settled.json()["payment"]["status"] == "success"
    again = await http.post(f"/sandbox/payments/{reference}/settle", params={"outcome": "failed"})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    await http.post(f"/sandbox/payments/{reference}/settle", params={"outcome": "reversed"})
    await sandbox.webhooks_idle()
    events = [json.loads(h.body)["event"] for h in receiver[0].for_reference(reference)]
    assert events == ["transfer.success", "transfer.reversed"]


async def test_a_late_webhook_comes_after_verify_already_says_success() -> None:
    receiver = Receiver()
    async with (
        serving(receiver.app()) as url,
        Sandbox(webhook_base_url=url, late_webhook_seconds=3600) as late,
        httpx.AsyncClient(base_url=late.gateway_url) as http,
    ):
        reference = ref()
        await send_transfer(http, reference, "late_webhook")
        verify = await http.post(
            "/api/v1/payments/verify", json={"reference": reference, "vendor": "paystack"}
        )
        assert verify.json()["verification"]["status"] == "success"
        [record] = await webhooks(http, reference)
        assert (record["status"], record["attempts"]) == ("pending", 0)
        assert receiver.received == []


async def test_a_late_webhook_does_arrive(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    reference = ref()
    await send_transfer(http, reference, "late_webhook")
    await sandbox.webhooks_idle()
    assert [json.loads(h.body)["event"] for h in receiver[0].for_reference(reference)] == ["transfer.success"]


async def test_the_payer_pays_on_the_pay_page_and_charge_success_follows(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    reference = ref()
    tx = await initialize(http, reference)
    page = await http.get(tx["authorization_url"])
    assert page.status_code == 200 and "250.00 NGN" in page.text
    paid = await http.post(tx["authorization_url"])
    assert paid.json() == {"success": True, "reference": reference, "status": "success"}
    twice = await http.post(tx["authorization_url"])
    assert (twice.status_code, twice.json()["code"]) == (409, "already_paid")
    await sandbox.webhooks_idle()
    [hook] = receiver[0].for_reference(reference)
    event = json.loads(hook.body)
    assert (event["event"], event["data"]["amount"]) == ("charge.success", 25000)
    verify = await http.post("/api/v1/payments/verify", json={"reference": reference, "vendor": "paystack"})
    assert verify.json()["verification"]["status"] == "success"


async def test_a_charge_opened_with_failure_is_declined_by_the_payer(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    reference = ref()
    tx = await initialize(http, reference, "failure")
    assert (await http.post(tx["authorization_url"])).json()["status"] == "failed"
    await sandbox.webhooks_idle()
    [hook] = receiver[0].for_reference(reference)
    assert json.loads(hook.body)["event"] == "charge.failed"


async def test_initialize_twice_with_one_reference_is_one_charge(http: httpx.AsyncClient) -> None:
    reference = ref()
    first = await initialize(http, reference)
    assert await initialize(http, reference) == first
    assert len((await http.get("/sandbox/charges", params={"reference": reference})).json()) == 1


async def test_a_refused_delivery_is_retried_until_the_platform_accepts_it(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    receiver[0].statuses.extend([500, 401])
    reference = ref()
    await send_transfer(http, reference)
    await sandbox.webhooks_idle()
    hooks = receiver[0].for_reference(reference)
    assert len(hooks) == 3
    assert len({h.body for h in hooks}) == 1  # the same event each time
    [record] = await webhooks(http, reference)
    assert (record["status"], record["attempts"]) == ("delivered", 3)


async def test_a_platform_that_never_answers_leaves_the_webhook_failed() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with (
        Sandbox(webhook_base_url=dead, webhook_attempts=2, webhook_backoff_seconds=0.01) as s,
        httpx.AsyncClient(base_url=s.gateway_url) as http,
    ):
        reference = ref()
        await send_transfer(http, reference)
        await s.webhooks_idle()
        [record] = await webhooks(http, reference)
    assert (record["status"], record["attempts"], record["error"]) == ("failed", 2, "ConnectError")


async def test_without_a_target_webhooks_are_recorded_not_sent_until_a_local_or_public_one_is_set(
    receiver: tuple[Receiver, str],
) -> None:
    async with Sandbox() as s, httpx.AsyncClient(base_url=s.gateway_url) as http:
        reference = ref()
        await send_transfer(http, reference)
        [record] = await webhooks(http, reference)
        assert (record["status"], record["url"]) == ("no_target", None)
        for inside in ("http://169.254.169.254/latest", "https://10.0.0.5", "http://[::ffff:10.0.0.5]"):
            refused = await http.post("/sandbox/webhook-target", json={"url": inside})
            assert refused.status_code == 400 and "address" in refused.json()["error"]
        target = await http.post("/sandbox/webhook-target", json={"url": receiver[1] + "/"})
        assert target.json()["url"] == receiver[1]
        assert s.webhook_base_url == receiver[1]
        second = ref()
        await send_transfer(http, second)
        await s.webhooks_idle()
    assert len(receiver[0].for_reference(second)) == 1


async def test_a_replayed_webhook_arrives_again_byte_for_byte(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    reference = ref()
    await send_transfer(http, reference)
    await sandbox.webhooks_idle()
    [record] = await webhooks(http, reference)
    assert (await http.post(f"/sandbox/webhooks/{record['id']}/replay")).status_code == 200
    await sandbox.webhooks_idle()
    first, second = receiver[0].for_reference(reference)
    assert first.body == second.body
    assert first.headers["x-paystack-signature"] == second.headers["x-paystack-signature"]


async def test_the_vendor_switch_routes_make_every_call_to_it_503(http: httpx.AsyncClient) -> None:
    reference = ref()
    await send_transfer(http, reference)
    assert (await http.post("/sandbox/vendors/paystack/down")).json()["down"] is True
    down = await http.post("/api/v1/payments/verify", json={"reference": reference, "vendor": "paystack"})
    assert (down.status_code, down.json()["code"]) == (503, "vendor_unavailable")
    assert (await send_transfer(http, ref())).status_code == 503
    assert (await send_transfer(http, ref(), vendor="flutterwave")).status_code == 200
    assert (await http.post("/sandbox/vendors/paystack/up")).json()["down"] is False
    up = await http.post("/api/v1/payments/verify", json={"reference": reference, "vendor": "paystack"})
    assert up.status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": "10.001", "currency": "NGN"}, "invalid_request"),  # more decimals than NGN has
        ({"amount": "-5", "currency": "NGN"}, "invalid_request"),
        ({"amount": "5", "currency": "XXX"}, "invalid_request"),
        ({"amount": "5", "currency": "NGN", "vendor": "Bad Vendor!"}, "unknown_vendor"),
        ({"amount": "5", "currency": "NGN", "metadata": {"simulate": "explode"}}, "invalid_request"),
    ],
)
async def test_a_malformed_transfer_is_a_400_with_a_code(
    http: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    full = {"reference": ref(), "recipient": RECIPIENT, **body}
    response = await http.post("/api/v1/payments/transfer", json=full)
    assert (response.status_code, response.json()["code"], response.json()["success"]) == (400, code, False)


async def test_the_outcome_header_works_like_metadata_simulate(http: httpx.AsyncClient) -> None:
    body = {"amount": "5", "currency": "NGN", "reference": ref(), "recipient": RECIPIENT}
    response = await http.post(
        "/api/v1/payments/transfer", json=body, headers={"X-Sandbox-Outcome": "server_error"}
    )
    assert response.status_code == 503


async def test_reset_forgets_everything(http: httpx.AsyncClient) -> None:
    await send_transfer(http, ref())
    await http.post("/sandbox/reset")
    assert (await http.get("/sandbox/transfers")).json() == []


async def test_the_sandbox_serves_on_the_ports_it_is_given() -> None:
    gateway_port, registry_port = free_port(), free_port()
    async with Sandbox(gateway_port=gateway_port, registry_port=registry_port) as s:
        assert s.gateway_url == f"http://127.0.0.1:{gateway_port}"
        assert s.registry_url == f"http://127.0.0.1:{registry_port}"
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{s.gateway_url}/health")).json()["simulated"] is True
            assert (await http.get(f"{s.registry_url}/health")).status_code == 200
    with pytest.raises(RuntimeError):
        _ = s.gateway_url  # stopped: no address any more
