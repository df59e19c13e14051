"""The sandbox's own routes (``/sandbox/...``): the payer's pay page, settling pending payments, the
vendor down/up switches, the webhook target, and inspection of what the sandbox recorded."""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from adapters.sandbox.gateway import BadRequest, GatewayContext, handled, public_status, read_body
from adapters.sandbox.state import Payment
from tools.platform.domain.money import from_minor
from tools.platform.domain.outbound import url_problem

__all__ = ["control_routes"]

_FINAL = {"success", "failed"}


def _settle(ctx: GatewayContext, payment: Payment, outcome: str, *, late: bool = False) -> None:
    """Move a payment to its final status and send the webhook that says so."""
    if outcome == "reversed":
        if payment.kind != "transfer" or payment.status not in ("pending", "success"):
            raise BadRequest("only a pending or successful transfer can be reversed", "invalid_state", 409)
    elif payment.status != "pending":
        raise BadRequest(f"the payment is already {payment.status}", "invalid_state", 409)
    payment.set_status(outcome)
    ctx.sender.send(payment, delay=ctx.late_webhook_seconds if late else 0.0)


def _outcome(request: Request, allowed: set[str], default: str) -> str:
    outcome = request.query_params.get("outcome", default)
    if outcome not in allowed:
        raise BadRequest(f"outcome must be one of {', '.join(sorted(allowed))}")
    return outcome


async def pay_page(ctx: GatewayContext, request: Request) -> Response:
    payment = ctx.state.by_access_code.get(request.path_params["access_code"])
    if payment is None:
        raise BadRequest("no charge has this access code", "not_found", 404)
    amount = f"{from_minor(payment.amount_minor, payment.currency)} {payment.currency}"
    page = f"""<!doctype html><title>Sandbox payment</title>
<h1>Sandbox payment: {html.escape(amount)}</h1><p>No real money moves here. Status: {payment.status}.</p>
<form method="post" action="?outcome=success"><button>Pay</button></form>
<form method="post" action="?outcome=failed"><button>Decline</button></form>"""
    return HTMLResponse(page)


async def pay(ctx: GatewayContext, request: Request) -> Response:
    """The payer completes the charge (``?outcome=success|failed``); a charge opened with
    ``failure`` declines by default, one opened with ``pending`` waits for ``settle``."""
    payment = ctx.state.by_access_code.get(request.path_params["access_code"])
    if payment is None:
        raise BadRequest("no charge has this access code", "not_found", 404)
    if payment.paid or payment.status != "pending":
        raise BadRequest(f"the charge is already {payment.status}", "already_paid", 409)
    outcome = _outcome(request, _FINAL, "failed" if payment.outcome == "failure" else "success")
    ctx.check(request, payment.vendor)
    payment.paid = True
    if payment.outcome != "pending":
        _settle(ctx, payment, outcome, late=payment.outcome == "late_webhook")
    return JSONResponse({"success": True, "reference": payment.reference, "status": public_status(payment)})


async def settle(ctx: GatewayContext, request: Request) -> Response:
    """Finish a pending payment (``?outcome=success|failed|reversed``, ``&vendor=`` if ambiguous)."""
    reference = request.path_params["reference"]
    vendor = request.query_params.get("vendor")
    found = [
        p
        for (v, ref), p in ctx.state.payments.items()
        if ref == reference and (vendor is None or v == vendor)
    ]
    if not found:
        raise BadRequest("no payment has this reference", "not_found", 404)
    if len(found) > 1:
        raise BadRequest("several vendors have this reference; add ?vendor=", "ambiguous", 409)
    outcome = _outcome(request, {*_FINAL, "reversed"}, "success")
    _settle(ctx, found[0], outcome)
    return JSONResponse({"success": True, "payment": found[0].public()})


async def vendor_switch(ctx: GatewayContext, request: Request) -> Response:
    vendor, switch = request.path_params["vendor"], request.path_params["switch"]
    if switch not in ("down", "up"):
        raise BadRequest("use /sandbox/vendors/{vendor}/down or /up", "not_found", 404)
    if switch == "down":
        ctx.state.down.add(vendor)
    else:
        ctx.state.down.discard(vendor)
    return JSONResponse({"success": True, "vendor": vendor, "down": vendor in ctx.state.down})


async def webhook_target(ctx: GatewayContext, request: Request) -> Response:
    """``{"url": "http://127.0.0.1:3013"}``: the platform's base URL webhooks are posted under."""
    body = await read_body(request)
    url = body.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise BadRequest("'url' must be an http(s) URL or null")
    # Whoever reaches this route chooses where signed requests go: the platform's rule for such URLs,
    # with local receivers allowed (the sandbox posts to a platform on this machine).
    problem = None if url is None else url_problem(url, allow_local=True)
    if problem is not None:
        raise BadRequest(f"'url' {problem}")
    ctx.sender.target = url.rstrip("/") if url else None
    return JSONResponse({"success": True, "url": ctx.sender.target})


async def replay(ctx: GatewayContext, request: Request) -> Response:
    """Deliver a recorded webhook again, byte for byte (re-signed): a vendor's duplicate."""
    record = next((w for w in ctx.state.webhooks if w.id == request.path_params["webhook_id"]), None)
    if record is None:
        raise BadRequest("no webhook has this id", "not_found", 404)
    ctx.sender.deliver(record)
    return JSONResponse({"success": True, "webhook": record.public()})


def _filtered(items: list[dict[str, Any]], request: Request, *keys: str) -> JSONResponse:
    wanted = {k: request.query_params[k] for k in keys if k in request.query_params}
    return JSONResponse([i for i in items if all(str(i.get(k)) == v for k, v in wanted.items())])


async def transfers(ctx: GatewayContext, request: Request) -> Response:
    return _filtered(ctx.state.listing("transfer"), request, "reference", "vendor", "status")


async def charges(ctx: GatewayContext, request: Request) -> Response:
    return _filtered(ctx.state.listing("charge"), request, "reference", "vendor", "status")


async def messages(ctx: GatewayContext, request: Request) -> Response:
    listed = [m.public() for m in ctx.state.messages.values()]
    return _filtered(listed, request, "reference", "channel", "to")


async def webhooks(ctx: GatewayContext, request: Request) -> Response:
    return _filtered([w.public() for w in ctx.state.webhooks], request, "reference", "event", "status")


async def reset(ctx: GatewayContext, request: Request) -> Response:
    ctx.state.reset()
    return JSONResponse({"success": True})


async def health(ctx: GatewayContext, request: Request) -> Response:
    return JSONResponse({"status": "ok", "service": "onasis-sandbox", "simulated": True})


def control_routes() -> list[Route]:
    return [
        Route("/health", handled(health), methods=["GET"]),
        Route("/sandbox/pay/{access_code}", handled(pay_page), methods=["GET"]),
        Route("/sandbox/pay/{access_code}", handled(pay), methods=["POST"]),
        Route("/sandbox/payments/{reference}/settle", handled(settle), methods=["POST"]),
        Route("/sandbox/vendors/{vendor}/{switch}", handled(vendor_switch), methods=["POST"]),
        Route("/sandbox/webhook-target", handled(webhook_target), methods=["POST", "PUT"]),
        Route("/sandbox/webhooks/{webhook_id}/replay", handled(replay), methods=["POST"]),
        Route("/sandbox/transfers", handled(transfers), methods=["GET"]),
        Route("/sandbox/charges", handled(charges), methods=["GET"]),
        Route("/sandbox/messages", handled(messages), methods=["GET"]),
        Route("/sandbox/webhooks", handled(webhooks), methods=["GET"]),
        Route("/sandbox/reset", handled(reset), methods=["POST"]),
    ]
