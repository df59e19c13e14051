"""The agent: an HTTP endpoint for the platform's signed webhooks, and the MCP calls that act on them.

Each delivery is verified the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``; docs/webhooks.md) before its body is read: a forged, altered or stale one is
answered 401 and does nothing. Delivery is at least once, so events are deduplicated on their id, and an
id is remembered only once it was handled: a failure to reach the platform answers 503 and the platform
sends the event again later.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from examples.lender_agent.rules import Bid, Book, Decline, decide, load_rules

__all__ = ["Decision", "LenderAgent", "ToolRefused"]

log = logging.getLogger("lender_agent")
MAX_BODY = 256 * 1024


class ToolRefused(Exception):
    """The platform refused a call (a tool error): retrying the same event cannot change that."""


@dataclass(frozen=True)
class Decision:
    action: str  # placed, revised, unchanged, declined, refused, noted
    application: str  # the application's reference (or id)
    detail: str

    def line(self) -> str:
        return f"{self.action} {self.application}: {self.detail}"


def _hook(secret: str) -> Webhook:
    # A "whsec_..." secret is base64 (the Standard Webhooks form); an older one keys with its own bytes.
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


@dataclass
class LenderAgent:
    """One lender: its MCP endpoint and provider token, its webhook secret and its rule file."""

    mcp_url: str
    token: str
    webhook_secret: str
    rules_path: Path
    book: Book = field(default_factory=Book)
    decisions: list[Decision] = field(default_factory=list)
    rejected: int = 0  # deliveries whose signature did not verify
    _seen: set[str] = field(default_factory=set)
    _bids: dict[str, tuple[str, Bid]] = field(default_factory=dict)  # application id -> (bid id, terms)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/webhook", self.receive, methods=["POST"]),
                Route("/summary", self.summary_view, methods=["GET"]),
            ]
        )

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "too_large"}, status_code=413)
        try:
            event = _hook(self.webhook_secret).verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            self.rejected += 1
            log.warning("ignored a webhook that does not verify (%s)", exc)
            return JSONResponse({"error": "invalid_signature"}, status_code=401)
        event_id = request.headers["webhook-id"]
        if event_id in self._seen:
            return JSONResponse({"status": "duplicate"})
        try:
            decision = await self.handle(event)
        except (OSError, RuntimeError, httpx.HTTPError, ValueError) as exc:
            # The platform unreachable or refusing the token, or the rule file unreadable: answer 503 so
            # the platform sends the event again later, when someone may have fixed it.
            log.warning("could not act on %s now (%s); the platform will retry", event_id, exc)
            return JSONResponse({"error": "unavailable"}, status_code=503)
        self._seen.add(event_id)
        self.decisions.append(decision)
        log.info("%s", decision.line())
        return JSONResponse({"status": "processed", "action": decision.action})

    async def handle(self, event: dict[str, Any]) -> Decision:
        data = event.get("data") or {}
        kind = str(event.get("type"))
        if kind != "provider.invited":
            return Decision("noted", str(data.get("reference") or data.get("application_id") or "-"), kind)
        reference = str(data.get("reference") or data["application_id"])
        # Read at each invitation, so a changed rule file applies to the next one without a restart.
        choice = decide(load_rules(self.rules_path), self.book, data)
        try:
            if isinstance(choice, Decline):
                return await self._decline(data, reference, choice)
            return await self._bid(data, reference, choice)
        except ToolRefused as exc:
            return Decision("refused", reference, str(exc))

    async def _decline(self, data: dict[str, Any], reference: str, choice: Decline) -> Decision:
        args = {"application": data["application_id"], "reason": choice.reason}
        await self.call("providers_decline_invitation", args)
        return Decision("declined", reference, choice.reason)

    async def _bid(self, data: dict[str, Any], reference: str, bid: Bid) -> Decision:
        application = str(data["application_id"])
        terms = f"{bid.currency} {bid.amount} at {bid.annual_rate} a year, fee {bid.origination_fee}"
        current = self._bids.get(application)
        if current is not None and current[1].same_price(bid):
            return Decision("unchanged", reference, f"our bid stands: {terms}")
        if current is not None:
            changes = {k: v for k, v in bid.arguments().items() if k != "currency"}
            made = await self.call("providers_revise_bid", {"bid": current[0], "changes": changes})
            self.book.record(bid.amount, datetime.now(UTC), previous=current[1].amount)
            self._bids[application] = (str(made["id"]), bid)
            return Decision("revised", reference, terms)
        made = await self.call("providers_place_bid", {"application": application, "bid": bid.arguments()})
        self.book.record(bid.amount, datetime.now(UTC))
        self._bids[application] = (str(made["id"]), bid)
        return Decision("placed", reference, terms)

    async def call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        transport = StreamableHttpTransport(self.mcp_url, auth=self.token)
        async with Client(transport) as client:
            result = await client.call_tool(tool, args, raise_on_error=False)
        content = result.structured_content or {}
        if result.is_error:
            error = content.get("error") if isinstance(content, dict) else None
            if isinstance(error, dict):
                raise ToolRefused(f"{tool}: {error.get('code')}: {error.get('message')}")
            raise ToolRefused(f"{tool}: {result.content}")
        return dict(content)

    def summary(self) -> dict[str, Any]:
        counts = Counter(d.action for d in self.decisions)
        return {
            "decisions": dict(sorted(counts.items())),
            "ignored_unverified": self.rejected,
            "committed": str(self.book.committed),
            "lines": [d.line() for d in self.decisions],
        }

    async def summary_view(self, request: Request) -> JSONResponse:
        return JSONResponse(self.summary())

    def log_summary(self) -> None:
        s = self.summary()
        counts = ", ".join(f"{n} {action}" for action, n in s["decisions"].items()) or "no decisions"
        log.info(
            "summary: %s; %d unverified webhook(s) ignored; %s committed in bids",
            counts,
            s["ignored_unverified"],
            s["committed"],
        )
