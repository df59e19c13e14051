"""The sandbox's Onasis-compatible routes: payments (initialize, verify, transfer) and SMS/email.

Each request picks what the simulated vendor does with ``metadata.simulate`` or the
``X-Sandbox-Outcome`` header: ``success`` (default), ``failure``, ``pending`` (no webhook until
``/sandbox/payments/{reference}/settle``), ``late_webhook``, ``timeout_after_success`` (recorded, then
the answer stalls past the client's timeout), ``server_error`` (503, nothing recorded) or ``rejected``
(400, nothing recorded). A transfer or charge re-sent under a reference the vendor already has returns
the first one: one reference is never two payments.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.sandbox.state import OUTCOMES, Message, Payment, SandboxState
from adapters.sandbox.webhooks import WebhookSender
from tools.platform.domain.bounded_json import UnreadableJson, parse_bounded
from tools.platform.domain.money import MoneyError, from_minor, to_minor

__all__ = [
    "BadRequest",
    "GatewayContext",
    "exact_json",
    "gateway_routes",
    "handled",
    "public_status",
    "read_body",
    "request_id",
]

_VENDOR = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
DEFAULT_VENDOR = "paystack"  # the real gateway's first vendor, used when none is named


class BadRequest(Exception):
    def __init__(self, message: str, code: str = "invalid_request", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def exact_json(payload: Any, status_code: int = 200) -> Response:
    """JSON where Decimals are written as exact numbers (json has no Decimal, floats would round)."""
    markers: dict[str, str] = {}

    def default(value: object) -> str:
        if isinstance(value, Decimal):
            marker = f"__decimal_{uuid.uuid4().hex}__"
            markers[marker] = format(value, "f")
            return marker
        raise TypeError(f"{type(value).__name__} is not JSON")

    text = json.dumps(payload, default=default, separators=(",", ":"))
    for marker, digits in markers.items():
        text = text.replace(json.dumps(marker), digits)
    return Response(text, status_code=status_code, media_type="application/json")


class GatewayContext:
    """What every sandbox route shares: state, the webhook sender, timings and the stop signal."""

    def __init__(
        self,
        state: SandboxState,
        sender: WebhookSender,
        *,
        api_key: str | None = None,
        late_webhook_seconds: float = 2.0,
        stall_seconds: float = 120.0,
    ) -> None:
        self.state = state
        self.sender = sender
        self.api_key = api_key
        self.late_webhook_seconds = late_webhook_seconds
        self.stall_seconds = stall_seconds
        self.stopping = asyncio.Event()

    def fail(self, request: Request, status: int, code: str, message: str) -> Response:
        return JSONResponse(
            {"success": False, "error": message, "code": code, "requestId": request_id(request)},
            status_code=status,
        )

    def check(self, request: Request, vendor: str) -> None:
        """Authorisation (when the sandbox has a key) and the vendor's down switch."""
        if self.api_key is not None:
            given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
                "Bearer "
            )
            if not secrets.compare_digest(given.encode(), self.api_key.encode()):
                raise BadRequest("missing or wrong API key", "unauthorized", 401)
        if vendor in self.state.down:
            raise BadRequest(f"{vendor} is down (sandbox switch)", "vendor_unavailable", 503)

    async def stall(self, request: Request) -> Response:
        """Answer late, after the client has given up: until it disconnects, the sandbox stops or
        ``stall_seconds`` pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stall_seconds
        while loop.time() < deadline and not self.stopping.is_set():
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.05)
        return self.fail(request, 504, "gateway_timeout", "the vendor did not answer in time")


def request_id(request: Request) -> str:
    return request.headers.get("x-request-id") or str(uuid.uuid4())


# The sandbox's requests are small: a transfer, a charge, a control switch.
MAX_BODY = 64 * 1024


async def read_body(request: Request) -> dict[str, Any]:
    """A JSON object body, at most MAX_BODY bytes (413) and bounded in depth and text (400)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest(f"the body is larger than {MAX_BODY} bytes", "payload_too_large", 413)
        chunks.append(chunk)
    try:
        body = parse_bounded(b"".join(chunks) or b"{}", decimals=True)
    except UnreadableJson as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, most: int = 200) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > most:
        raise BadRequest(f"'{name}' is required: text of at most {most} characters")
    return value.strip()


def _vendor(body: dict[str, Any]) -> str:
    vendor = body.get("vendor") or DEFAULT_VENDOR
    if not isinstance(vendor, str) or not _VENDOR.match(vendor):
        raise BadRequest("'vendor' must be a vendor name such as paystack", "unknown_vendor")
    return vendor


def _money(body: dict[str, Any]) -> tuple[int, str]:
    currency = _text(body, "currency", 3)
    raw = body.get("amount")
    try:
        if isinstance(raw, bool) or not isinstance(raw, int | str | Decimal):
            raise InvalidOperation
        amount = Decimal(str(raw))
        minor = to_minor(amount, currency)
    except (InvalidOperation, MoneyError) as exc:
        detail = str(exc) if isinstance(exc, MoneyError) else "a number in major units"
        raise BadRequest(f"'amount' and 'currency' must be money: {detail}") from None
    if minor <= 0:
        raise BadRequest("'amount' must be positive")
    return minor, currency


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be an object")
    return metadata


def _outcome(request: Request, metadata: dict[str, Any]) -> str:
    outcome = request.headers.get("x-sandbox-outcome") or metadata.get("simulate") or "success"
    if not isinstance(outcome, str) or outcome not in OUTCOMES:  # a list or an object is no outcome
        raise BadRequest(f"unknown sandbox outcome; use one of {', '.join(sorted(OUTCOMES))}")
    return str(outcome)


def _seen(request: Request) -> dict[str, Any]:
    # What the client sent, for tests of the adapter's headers; never the key itself.
    h = request.headers
    return {
        "request_id": h.get("x-request-id"),
        "idempotency_key": h.get("idempotency-key"),
        "project_scope": h.get("x-project-scope"),
        "authorized": bool(h.get("authorization") or h.get("x-api-key")),
    }


Handler = Callable[["GatewayContext", Request], Awaitable[Response]]


def handled(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint for ``handler``: the shared context passed in, BadRequest as its answer."""

    async def endpoint(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        try:
            return await handler(ctx, request)
        except BadRequest as exc:
            return ctx.fail(request, exc.status, exc.code, exc.message)

    return endpoint


def public_status(payment: Payment) -> str:
    # The port knows success/failed/pending; a reversed transfer did not pay out.
    return "failed" if payment.status == "reversed" else payment.status


async def initialize(ctx: GatewayContext, request: Request) -> Response:
    body = await read_body(request)
    vendor = _vendor(body)
    ctx.check(request, vendor)
    metadata = _metadata(body)
    outcome = _outcome(request, metadata)
    reference = _text(body, "reference", 100) if body.get("reference") else f"sbx_{uuid.uuid4().hex[:16]}"
    existing = ctx.state.find(vendor, reference)
    if existing is None:
        if outcome == "server_error":
            raise BadRequest("simulated vendor failure", "vendor_error", 503)
        if outcome == "rejected":
            raise BadRequest("the vendor declined to open this charge", "charge_rejected")
        minor, currency = _money(body)
        email = _text(body, "email", 320)
        existing = ctx.state.add(
            Payment(
                id=ctx.state.new_id(),
                kind="charge",
                vendor=vendor,
                reference=reference,
                amount_minor=minor,
                currency=currency,
                outcome=outcome,
                access_code=secrets.token_hex(8),
                email=email,
                metadata=metadata,
                request=_seen(request),
            )
        )
        if outcome == "timeout_after_success":
            return await ctx.stall(request)
    base = str(request.base_url).rstrip("/")
    transaction = {
        "authorization_url": f"{base}/sandbox/pay/{existing.access_code}",
        "access_code": existing.access_code,
        "reference": existing.reference,
    }
    return JSONResponse({"success": True, "transaction": transaction, "requestId": request_id(request)})


async def verify(ctx: GatewayContext, request: Request) -> Response:
    body = await read_body(request)
    vendor = _vendor(body)
    ctx.check(request, vendor)
    if request.headers.get("x-sandbox-outcome") == "server_error":
        raise BadRequest("simulated vendor failure", "vendor_error", 503)
    reference = _text(body, "reference", 100)
    payment = ctx.state.find(vendor, reference)
    if payment is None:
        raise BadRequest(f"{vendor} has no payment with this reference", "not_found", 404)
    verification = {
        "status": public_status(payment),
        "amount": from_minor(payment.amount_minor, payment.currency),
        "currency": payment.currency,
        "reference": payment.reference,
        "gateway_response": payment.status,
    }
    return exact_json({"success": True, "verification": verification, "requestId": request_id(request)})


async def transfer(ctx: GatewayContext, request: Request) -> Response:
    body = await read_body(request)
    vendor = _vendor(body)
    ctx.check(request, vendor)
    metadata = _metadata(body)
    outcome = _outcome(request, metadata)
    reference = _text(body, "reference", 100)
    payment = ctx.state.find(vendor, reference)
    if payment is None:
        if outcome == "server_error":
            raise BadRequest("simulated vendor failure", "vendor_error", 503)
        if outcome == "rejected":
            raise BadRequest("the vendor refused this transfer", "transfer_rejected")
        minor, currency = _money(body)
        recipient = body.get("recipient")
        if not isinstance(recipient, dict) or not all(
            isinstance(recipient.get(k), str) and recipient[k]
            for k in ("name", "account_number", "bank_code")
        ):
            raise BadRequest("'recipient' needs name, account_number and bank_code")
        payment = ctx.state.add(
            Payment(
                id=ctx.state.new_id(),
                kind="transfer",
                vendor=vendor,
                reference=reference,
                amount_minor=minor,
                currency=currency,
                outcome=outcome,
                transfer_code=f"TRF_{secrets.token_hex(6)}",
                recipient={k: str(v) for k, v in recipient.items()},
                metadata=metadata,
                request=_seen(request),
            )
        )
        answer = _answer(payment, request, "pending")  # the result follows by webhook
        _settle_new_transfer(ctx, payment)
        if outcome == "timeout_after_success":
            return await ctx.stall(request)
        return answer
    # The same reference again: the first transfer, as it stands now; nothing new is created.
    return _answer(payment, request, public_status(payment))


def _settle_new_transfer(ctx: GatewayContext, payment: Payment) -> None:
    if payment.outcome == "pending":
        return
    payment.set_status("failed" if payment.outcome == "failure" else "success")
    delay = ctx.late_webhook_seconds if payment.outcome == "late_webhook" else 0.0
    ctx.sender.send(payment, delay=delay)


def _answer(payment: Payment, request: Request, status: str) -> Response:
    transfer_view = {
        "reference": payment.reference,
        "status": status,
        "transfer_code": payment.transfer_code,
        "amount": from_minor(payment.amount_minor, payment.currency),
        "currency": payment.currency,
    }
    return exact_json({"success": True, "transfer": transfer_view, "requestId": request_id(request)})


async def _send(ctx: GatewayContext, request: Request, channel: str) -> Response:
    body = await read_body(request)
    ctx.check(request, channel)
    if request.headers.get("x-sandbox-outcome") == "server_error":
        raise BadRequest("simulated provider failure", "provider_error", 503)
    reference = _text(body, "reference", 200)
    to = _text(body, "to", 320)
    if channel == "sms":
        text, subject = _text(body, "message", 2000), None
    else:
        text, subject = _text(body, "text", 100_000), _text(body, "subject", 500)
    key = f"{channel}:{reference}"
    message = ctx.state.messages.get(key)
    if message is None:
        message = Message(
            id=f"msg_{uuid.uuid4().hex[:20]}",
            channel="sms" if channel == "sms" else "email",
            to=to,
            text=text,
            subject=subject,
            reference=reference,
        )
        ctx.state.messages[key] = message
    return JSONResponse({"success": True, "id": message.id, "requestId": request_id(request)})


async def send_sms(ctx: GatewayContext, request: Request) -> Response:
    return await _send(ctx, request, "sms")


async def send_email(ctx: GatewayContext, request: Request) -> Response:
    return await _send(ctx, request, "email")


def gateway_routes(payments_path: str, transfers_path: str) -> list[Route]:
    payments = "/" + payments_path.strip("/")
    return [
        Route(f"{payments}/initialize", handled(initialize), methods=["POST"]),
        Route(f"{payments}/verify", handled(verify), methods=["POST"]),
        Route("/" + transfers_path.strip("/"), handled(transfer), methods=["POST"]),
        Route("/api/services/sms/send", handled(send_sms), methods=["POST"]),
        Route("/api/services/email/send", handled(send_email), methods=["POST"]),
    ]
