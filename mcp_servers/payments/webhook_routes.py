"""Payment vendors' webhooks into the platform (``/webhooks/paystack``, ``/webhooks/stripe``), on the
same HTTP app as ``/mcp``; lenders post to ``mcp_servers.marketplace.webhook_routes``.

What every inbound webhook goes through before and after its effect is ``mcp_servers.platform.webhooks``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from typing import Any

from fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from database.unit_of_work import retry_transient
from mcp_servers.platform.request_context import client_ip_of, request_id_of
from mcp_servers.platform.webhooks import answer, bad, parse_json, raw_body, refused, until_the_client_leaves
from mcp_servers.runtime import Runtime
from mcp_servers.wiring import PaymentSecrets
from tools.payments.domain.payments import GatewayEvent, paystack_event, stripe_event
from tools.payments.vendor_events import receive_gateway_event
from tools.platform.domain.bounded_json import content_sha256
from tools.platform.domain.signatures import Verdict, check_paystack, check_stripe
from tools.platform.errors import Unavailable

__all__ = ["VENDORS", "register_webhook_routes"]

log = logging.getLogger("caas.webhooks")


@dataclass(frozen=True, slots=True)
class Vendor:
    """How one payment vendor's webhooks are verified and read."""

    signature_header: str
    secret: Callable[[PaymentSecrets], str | None]
    check: Callable[[bytes, str | None, str], Verdict]
    parse: Callable[[Any], GatewayEvent]


def _check_stripe(body: bytes, header: str | None, secret: str) -> Verdict:
    return check_stripe(body, header, secret, int(time.time()))


# The payment vendors that post to ``/webhooks/<name>``.
VENDORS: dict[str, Vendor] = {
    "paystack": Vendor("x-paystack-signature", attrgetter("paystack"), check_paystack, paystack_event),
    "stripe": Vendor("stripe-signature", attrgetter("stripe"), _check_stripe, stripe_event),
}


def register_webhook_routes(server: FastMCP, runtime: Runtime) -> None:
    async def receive_vendor_event(request: Request, source: str, vendor: Vendor) -> Response:
        body = await raw_body(request)
        if body is None:
            return JSONResponse({"error": "payload_too_large"}, status_code=413)
        secret = vendor.secret(runtime.payment_secrets)
        if secret is None:
            # Nothing can be verified, so nothing is accepted; the vendor retries once it is configured.
            log.error("webhook from %s refused: its signing secret is not configured", source)
            return JSONResponse({"error": "not_configured"}, status_code=503)
        verdict = vendor.check(body, request.headers.get(vendor.signature_header), secret)
        if not verdict.ok:
            return refused(source, verdict)
        try:
            document = parse_json(body)
            event = vendor.parse(document)
        except ValueError as exc:
            return bad(source, str(exc))
        try:  # a deadlock victim runs again (database.unit_of_work); the vendor redelivers otherwise
            receipt = await retry_transient(
                lambda: receive_gateway_event(
                    runtime.deps.payments,
                    source,
                    event,
                    content_sha256(document),
                    request_id_of(request.headers),
                    client_ip_of(request),
                )
            )
        except Unavailable:
            return JSONResponse({"error": "busy", "retry": True}, status_code=503)
        return answer(source, receipt, event.event_id)

    for source, vendor in VENDORS.items():
        server.custom_route(f"/webhooks/{source}", methods=["POST"], name=f"webhook_{source}")(
            until_the_client_leaves(partial(receive_vendor_event, source=source, vendor=vendor))
        )
