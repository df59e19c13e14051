"""Webhook delivery tools (on the ``admin`` service): what happened to the signed webhooks sent to credit
providers, and queueing a failed one again. Operators see every provider's; a provider its own."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from mcp_servers.params import PROVIDER_RENAMED, Cursor, Limit, renamed
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.marketplace import provider_webhooks
from tools.marketplace.models.webhook_deliveries import DeliveryPage, DeliveryStatus, DeliveryView
from tools.platform.principal import Role

__all__ = ["TOOLS"]

READERS = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE, Role.PROVIDER})
# A lender may queue its own failed delivery again once its receiver is fixed; the use case checks whose.
RETRIERS = frozenset({Role.OPERATOR, Role.ADMIN, Role.PROVIDER})


TOOLS = ToolSet()


@TOOLS.tool(
    roles=READERS,
    title="List webhook deliveries",
    read_only=True,
    idempotent=True,
    retired=PROVIDER_RENAMED,
)
async def list_webhook_deliveries(
    provider: Annotated[
        UUID | None, Field(default=None, description="Staff: one provider's. Providers: leave out.")
    ] = None,
    status: Annotated[
        list[DeliveryStatus] | None,
        Field(default=None, max_length=len(DeliveryStatus), description="Only these statuses."),
    ] = None,
    event_type: Annotated[
        str | None,
        Field(
            default=None,
            pattern=r"^[a-z][a-z_]*(\.[a-z_]+)*\.?$",
            max_length=100,
            description='Exact type ("provider.invited"), or a prefix ending in "." ("bid.").',
        ),
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> DeliveryPage:
    """Signed webhooks sent to credit providers, newest first: status, attempts, last HTTP status.

    Each outbox event that concerns a provider (provider.invited, bid.*, offer.accepted, loan.*) is
    POSTed to its webhook_url, signed with its secret (X-CaaS-Signature: sha256=<hex HMAC-SHA256
    of "{X-CaaS-Timestamp}.{body}">). status: pending (queued, or waiting to retry at
    next_attempt_at), delivered (2xx), failed (a 3xx/4xx other than 408/425/429 refuses for good;
    5xx, timeouts and connection errors are retried with backoff until the attempts run out),
    skipped (provider suspended). A provider sees only its own; staff may filter by provider.
    Pass next_cursor back as cursor for the next page.
    """
    return await provider_webhooks.list_webhook_deliveries(
        deps().marketplace, principal(), provider, status, event_type, limit, cursor
    )


@TOOLS.tool(
    roles=RETRIERS,
    title="Retry a webhook delivery",
    read_only=False,
    open_world=True,
    retired=renamed("event_id", "delivery", "the delivery's event_id"),
)
async def retry_webhook_delivery(
    delivery: Annotated[UUID, Field(description="The delivery's event_id (from list_webhook_deliveries).")],
) -> DeliveryView:
    """Queue a failed or skipped webhook delivery again: due now, with a fresh set of attempts.

    Use after the provider fixed its receiver (or its URL was corrected, or it was reactivated).
    The event is sent with the same id and body (receivers dedupe on X-CaaS-Event-Id). A pending
    or delivered delivery is a conflict, as is one a worker is attempting at this moment. A provider
    may retry only its own deliveries; another provider's answers not_found.
    """
    return await provider_webhooks.retry_webhook_delivery(deps().marketplace, invocation(), delivery)
