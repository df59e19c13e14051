"""The Onasis gateway adapter against the sandbox over real loopback HTTP: every simulated outcome,
unit conversion, headers, one transfer per reference, and each failure mapped to the port's error."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.payments.onasis_gateway import OnasisGateway
from adapters.sandbox import Sandbox
from tests.helpers.common import free_port, serving
from tools.payments.ports import (
    GatewayNotAccepted,
    GatewayNotFound,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
)

RECIPIENT = {"name": "Ada Obi", "account_number": "0123456789", "bank_code": "058"}
API_KEY = "onasis-test-key"


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(api_key=API_KEY, stall_seconds=30) as s:
        yield s


@pytest.fixture
async def gateway(sandbox: Sandbox) -> AsyncIterator[OnasisGateway]:
    # A short read timeout so that timeout_after_success does not hold the test for long.
    g = OnasisGateway(
        sandbox.gateway_url, api_key=API_KEY, project_scope="caas-tests", timeout_seconds=1, simulated=True
    )
    yield g
    await g.aclose()


def ref() -> str:
    return f"caas-test-{uuid.uuid4()}"


async def listed(sandbox: Sandbox, kind: str, reference: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sandbox.gateway_url) as http:
        return list((await http.get(f"/sandbox/{kind}", params={"reference": reference})).json())


async def transfer(gateway: OnasisGateway, reference: str, simulate: str | None = None, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "vendor": "paystack",
        "reference": reference,
        "amount_minor": 2_500_000,
        "currency": "NGN",
        "recipient": RECIPIENT,
        "metadata": {"simulate": simulate} if simulate else {},
    }
    return await gateway.transfer(**{**args, **kw})


async def test_a_charge_is_initialized_in_major_units_and_the_payer_gets_an_authorization_url(
    gateway: OnasisGateway, sandbox: Sandbox
) -> None:
    reference = ref()
    charge = await gateway.initialize(
        vendor="paystack",
        reference=reference,
        amount_minor=150_075,
        currency="NGN",
        email="payer@example.com",
        metadata={"loan": "L-1"},
    )
    assert charge.reference == reference
    assert charge.authorization_url == f"{sandbox.gateway_url}/sandbox/pay/{charge.access_code}"
    [stored] = await listed(sandbox, "charges", reference)
    assert (stored["amount_minor"], stored["currency"], stored["status"]) == (150_075, "NGN", "pending")
    verification = await gateway.verify(vendor="paystack", reference=reference)
    assert (verification.status, verification.amount_minor, verification.currency) == (
        "pending",
        150_075,
        "NGN",
    )


@pytest.mark.parametrize(
    ("amount_minor", "currency"),
    [(9_999_999_999_999_999, "NGN"), (1, "NGN"), (125_000, "JPY"), (1_234_567, "BHD")],
    ids=["beyond-float-precision", "one-kobo", "no-minor-unit", "three-decimals"],
)
async def test_amounts_cross_the_wire_exactly_for_every_currency_exponent(
    gateway: OnasisGateway, sandbox: Sandbox, amount_minor: int, currency: str
) -> None:
    reference = ref()
    await transfer(gateway, reference, amount_minor=amount_minor, currency=currency)
    [stored] = await listed(sandbox, "transfers", reference)
    assert stored["amount_minor"] == amount_minor
    verification = await gateway.verify(vendor="paystack", reference=reference)
    assert (verification.amount_minor, verification.currency) == (amount_minor, currency)


async def test_every_call_carries_the_key_scope_a_fresh_request_id_and_the_reference_as_idempotency_key(
    gateway: OnasisGateway, sandbox: Sandbox
) -> None:
    first, second = ref(), ref()
    one = await transfer(gateway, first)
    two = await transfer(gateway, second)
    [seen] = await listed(sandbox, "transfers", first)
    assert seen["request"] == {
        "request_id": one.request_id,
        "idempotency_key": first,
        "project_scope": "caas-tests",
        "authorized": True,
    }
    assert one.request_id != two.request_id


async def test_a_wrong_api_key_is_rejected_with_the_gateway_code(sandbox: Sandbox) -> None:
    wrong = OnasisGateway(sandbox.gateway_url, api_key="not-the-key")
    try:
        with pytest.raises(GatewayRejected) as caught:
            await transfer(wrong, ref())
    finally:
        await wrong.aclose()
    assert caught.value.code == "unauthorized"


async def test_a_successful_transfer_is_pending_at_once_and_verifies_as_success(
    gateway: OnasisGateway,
) -> None:
    reference = ref()
    sent = await transfer(gateway, reference)
    assert sent.status == "pending"
    assert sent.transfer_code
    assert (await gateway.verify(vendor="paystack", reference=reference)).status == "success"


@pytest.mark.parametrize(("simulate", "verified"), [("failure", "failed"), ("pending", "pending")])
async def test_a_failed_or_pending_transfer_verifies_as_such(
    gateway: OnasisGateway, simulate: str, verified: str
) -> None:
    reference = ref()
    assert (await transfer(gateway, reference, simulate)).status == "pending"
    assert (await gateway.verify(vendor="paystack", reference=reference)).status == verified


async def test_two_transfers_with_one_reference_are_one_transfer(
    gateway: OnasisGateway, sandbox: Sandbox
) -> None:
    reference = ref()
    first = await transfer(gateway, reference)
    again = await transfer(gateway, reference, simulate="failure")  # a retry; its outcome is moot
    assert again.transfer_code == first.transfer_code
    assert again.status == "success"  # the first transfer, as it stands now
    assert len(await listed(sandbox, "transfers", reference)) == 1


async def test_timeout_after_success_raises_gateway_timeout_and_verify_then_says_success(
    gateway: OnasisGateway, sandbox: Sandbox
) -> None:
    reference = ref()
    with pytest.raises(GatewayTimeout):
        await transfer(gateway, reference, "timeout_after_success")
    assert (await gateway.verify(vendor="paystack", reference=reference)).status == "success"
    retried = await transfer(gateway, reference, "timeout_after_success")  # answered at once now
    assert retried.status == "success"
    assert len(await listed(sandbox, "transfers", reference)) == 1


async def test_a_503_is_not_accepted_and_records_nothing(gateway: OnasisGateway, sandbox: Sandbox) -> None:
    reference = ref()
    with pytest.raises(GatewayNotAccepted) as caught:
        await transfer(gateway, reference, "server_error")
    assert caught.value.code == "vendor_error"
    assert await listed(sandbox, "transfers", reference) == []
    with pytest.raises(GatewayNotFound):
        await gateway.verify(vendor="paystack", reference=reference)


async def test_a_refused_or_malformed_transfer_is_gateway_rejected_with_the_code(
    gateway: OnasisGateway,
) -> None:
    with pytest.raises(GatewayRejected) as refused:
        await transfer(gateway, ref(), "rejected")
    assert refused.value.code == "transfer_rejected"
    with pytest.raises(GatewayRejected) as malformed:
        await transfer(gateway, ref(), recipient={"name": "no account"})
    assert malformed.value.code == "invalid_request"


async def test_verify_of_an_unknown_reference_or_at_another_vendor_is_not_found(
    gateway: OnasisGateway,
) -> None:
    with pytest.raises(GatewayNotFound) as unknown:
        await gateway.verify(vendor="paystack", reference=ref())
    assert unknown.value.code == "not_found"
    reference = ref()
    await transfer(gateway, reference)
    with pytest.raises(GatewayNotFound):
        await gateway.verify(vendor="flutterwave", reference=reference)


async def test_a_vendor_switched_down_does_not_accept_while_the_fallback_vendor_works(
    gateway: OnasisGateway, sandbox: Sandbox
) -> None:
    sandbox.vendor_down("paystack")
    try:
        with pytest.raises(GatewayNotAccepted) as caught:
            await transfer(gateway, ref())
        assert caught.value.code == "vendor_unavailable"
        assert (await transfer(gateway, ref(), vendor="flutterwave")).status == "pending"
    finally:
        sandbox.vendor_down("paystack", down=False)
    assert (await transfer(gateway, ref())).status == "pending"


async def test_an_unreachable_gateway_accepted_nothing() -> None:
    closed = OnasisGateway(f"http://127.0.0.1:{free_port()}", timeout_seconds=2, connect_timeout_seconds=2)
    try:
        with pytest.raises(GatewayNotAccepted):
            await closed.verify(vendor="paystack", reference=ref())
    finally:
        await closed.aclose()


async def test_sms_and_email_are_captured_once_per_reference(
    gateway: OnasisGateway, sandbox: Sandbox
) -> None:
    reference = ref()
    sms = await gateway.send_sms(to="+2348012345678", message="Your loan is disbursed", reference=reference)
    assert await gateway.send_sms(to="+2348012345678", message="again", reference=reference) == sms
    email = await gateway.send_email(
        to="ada@example.com", subject="Loan disbursed", text="Your loan is disbursed", reference=reference
    )
    async with httpx.AsyncClient(base_url=sandbox.gateway_url) as http:
        captured = (await http.get("/sandbox/messages", params={"reference": reference})).json()
    by_channel = {m["channel"]: m for m in captured}
    assert len(captured) == 2
    assert by_channel["sms"]["id"] == sms
    assert by_channel["sms"]["to"] == "+2348012345678"
    assert by_channel["sms"]["text"] == "Your loan is disbursed"
    assert by_channel["email"] | {"at": None} == {
        "id": email,
        "channel": "email",
        "to": "ada@example.com",
        "subject": "Loan disbursed",
        "text": "Your loan is disbursed",
        "reference": reference,
        "at": None,
    }


async def test_a_channel_switched_down_is_unavailable(gateway: OnasisGateway, sandbox: Sandbox) -> None:
    sandbox.vendor_down("sms")
    try:
        with pytest.raises(GatewayUnavailable):
            await gateway.send_sms(to="+2348012345678", message="hi", reference=ref())
    finally:
        sandbox.vendor_down("sms", down=False)


async def test_logs_never_carry_the_email_phone_or_key(
    gateway: OnasisGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="caas.gateway")
    await gateway.initialize(
        vendor="paystack",
        reference=ref(),
        amount_minor=100,
        currency="NGN",
        email="secret.person@example.com",
        metadata={},
    )
    await gateway.send_sms(to="+2348099999999", message="hello", reference=ref())
    with pytest.raises(GatewayTimeout):
        await transfer(gateway, ref(), "timeout_after_success")
    assert caplog.records  # the calls were logged
    assert "secret.person" not in caplog.text
    assert "2348099999999" not in caplog.text
    assert API_KEY not in caplog.text


# A gateway that answers oddly, for the error mapping the sandbox never produces.
ODD: dict[str, Response] = {
    "busy": JSONResponse({"success": False, "code": "rate_limited", "error": "slow down"}, status_code=429),
    "unavailable": JSONResponse({"success": False, "code": "vendor_down"}, status_code=503),
    "broken": JSONResponse({"success": False, "code": "internal", "error": "boom"}, status_code=500),
    "html": Response("<html>bad gateway</html>", status_code=502, media_type="text/html"),
    "garbage": Response("not json", status_code=200),
    "refused": JSONResponse({"success": False, "code": "insufficient_balance"}, status_code=400),
    "soft": JSONResponse({"success": False, "code": "declined"}, status_code=200),
}


@contextlib.asynccontextmanager
async def odd_gateway(answer: str) -> AsyncIterator[OnasisGateway]:
    async def endpoint(_: Request) -> Response:
        return ODD[answer]

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["POST"])])
    async with serving(app) as url:
        g = OnasisGateway(url, timeout_seconds=5)
        try:
            yield g
        finally:
            await g.aclose()


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        ("busy", GatewayNotAccepted, "rate_limited"),
        ("unavailable", GatewayNotAccepted, "vendor_down"),
        ("broken", GatewayUnavailable, "internal"),
        ("html", GatewayUnavailable, "http_502"),
        ("garbage", GatewayUnavailable, None),
        ("refused", GatewayRejected, "insufficient_balance"),
        ("soft", GatewayRejected, "declined"),
    ],
)
async def test_odd_answers_map_to_the_ports_errors(
    answer: str, error: type[Exception], code: str | None
) -> None:
    async with odd_gateway(answer) as g:
        with pytest.raises(error) as caught:
            await transfer(g, ref())
    # Exactly this class: a 500, a 502 or an unreadable answer may follow a transfer the vendor made,
    # so it must never be GatewayNotAccepted (which lets the payout go to another vendor).
    assert type(caught.value) is error
    assert getattr(caught.value, "code", None) == code
