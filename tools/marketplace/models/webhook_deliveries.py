"""Outputs of the webhook delivery listing and of a requeue."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from tools.marketplace.domain.provider_webhooks import DeliveryStatus
from tools.platform.models import Output

__all__ = ["DeliveryPage", "DeliveryStatus", "DeliveryView"]


class DeliveryView(Output):
    event_id: UUID = Field(
        description="The event's id: the body's id and X-CaaS-Event-Id. Identifies the delivery."
    )
    event_type: str = Field(description="e.g. provider.invited, offer.accepted, bid.rejected, loan.active.")
    provider_id: str
    status: DeliveryStatus = Field(
        description="pending (queued or waiting to retry), delivered (2xx), failed (refused for good or "
        "out of attempts), skipped (provider suspended or without a webhook URL)."
    )
    attempts: int = Field(description="HTTP attempts made so far, over every requeue.")
    last_status_code: int | None = Field(description="The receiver's last HTTP status; null if none.")
    last_error: str | None = Field(description="Why the last attempt did not deliver, or why it was skipped.")
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    delivered_at: datetime | None
    failed_at: datetime | None
    url: str | None = Field(description="The URL of the last attempt.")
    requeue_count: int = Field(description="How often an operator queued it again.")
    requeued_at: datetime | None
    queued_at: datetime = Field(description="When the event was queued for delivery.")


class DeliveryPage(Output):
    items: list[DeliveryView]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")
