"""What every webhook into the platform goes through, whoever sent it (payment vendors:
``mcp_servers.payments.webhook_routes``; lenders: ``mcp_servers.marketplace.webhook_routes``).

The signature is checked on the raw bytes, in constant time, before anything is parsed; a missing, bad
or stale one is a 401 and nothing is stored. A duplicate event is a 200 with no second effect. The
answer never echoes the payload (it may carry the payer's personal data).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, Protocol

from prometheus_client import Counter
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from tools.platform.domain.bounded_json import parse_bounded
from tools.platform.domain.signatures import Verdict

__all__ = [
    "MAX_BODY",
    "WebhookReceipt",
    "answer",
    "bad",
    "parse_json",
    "raw_body",
    "refused",
    "until_the_client_leaves",
]


class WebhookReceipt(Protocol):
    """What an inbound event came to: its outcome, and a refusing use case's error code."""

    @property
    def duplicate(self) -> bool: ...

    @property
    def outcome(self) -> str: ...

    @property
    def detail(self) -> str | None: ...

    @property
    def code(self) -> str | None: ...

    @property
    def other_body(self) -> bool: ...


log = logging.getLogger("caas.webhooks")

WEBHOOKS = Counter(
    "caas_webhooks_received_total", "Webhooks received, by source and result", ["source", "result"]
)
MAX_BODY = 256 * 1024


def refused(source: str, verdict: Verdict | str) -> Response:
    WEBHOOKS.labels(source, f"refused_{verdict}").inc()
    log.info("webhook from %s refused: signature %s", source, verdict)
    return JSONResponse({"error": "invalid_signature"}, status_code=401)


def bad(source: str, why: str) -> Response:
    WEBHOOKS.labels(source, "malformed").inc()
    return JSONResponse({"error": "malformed_event", "message": why}, status_code=400)


def answer(source: str, receipt: WebhookReceipt, event_id: str) -> Response:
    result = "duplicate" if receipt.duplicate else receipt.outcome
    WEBHOOKS.labels(source, "duplicate_other_body" if receipt.other_body else result).inc()
    body: dict[str, Any] = {
        "status": "duplicate" if receipt.duplicate else "processed",
        "outcome": receipt.outcome,
    }
    if receipt.other_body:
        # Still a 200: the sender must stop retrying. Only the ids are logged; a body holds personal data.
        log.warning(
            "webhook %s from %s came again with another body; the first copy stands", event_id, source
        )
        body["warning"] = (
            f"event {event_id} was received before with another body; the first copy's effect stands and "
            "this one changed nothing: send a correction under a new event id"
        )
    if receipt.code is not None and not receipt.duplicate:
        body["error"] = {"code": receipt.code, "message": receipt.detail}
        return JSONResponse(body, status_code=422)
    return JSONResponse(body)


def until_the_client_leaves(
    route: Callable[..., Awaitable[Response]],
) -> Callable[..., Awaitable[Response]]:
    """A route that reads a body, ended quietly when its client leaves mid-body (a sender timing out,
    an upload cut off): nobody is there to answer, and it was an 'Exception in ASGI application' with a
    traceback in the log."""

    @wraps(route)
    async def quiet(*args: Any, **kwargs: Any) -> Response:
        try:
            return await route(*args, **kwargs)
        except ClientDisconnect:
            log.info("a client left before its request's body was read")
            return Response(status_code=400)

    return quiet


async def raw_body(request: Request, limit: int = MAX_BODY) -> bytes | None:
    """The body, or None when it is over ``limit`` (read no further than that, chunked or not), at once
    when the declared length is (a client that declares too much waits for nothing)."""
    length = request.headers.get("content-length")
    if length is not None and length.isascii() and length.isdigit() and int(length) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """The event, bounded in depth and holding only storable text; ValueError (a 400) otherwise."""
    return parse_bounded(body)
