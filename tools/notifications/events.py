"""The outbox event of a new in-app notification, so that live clients (``mcp_servers.live_access``)
can tell its owner without a reload.

Notifications live in the Supabase database and the outbox in the system of record, so the two cannot
share one transaction: the event is written in the core transaction that wraps the notification's
insert (with its audit row), once per notification, by the call that stored it. A crash between the two
commits can lose the live event, never the notification (the inbox still shows it). No queue subscribes
to ``notification.*`` (tools.platform.domain.jobs), so the relay marks the event published and nothing
else happens: no webhook, no Supabase sync, no second notification.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

from tools.platform.ports import Invocation, OutboxEvent
from tools.platform.principal import Principal, Role

__all__ = ["CREATED", "NOTIFIER", "notification_created"]

CREATED = "notification.created"
# Audit rows of notifications the workers store (a queue's job or the reminder scan), like a tool call.
NOTIFIER = Invocation(
    Principal("caas-worker", Role.SERVICE),
    "worker.notifications",
    hashlib.sha256(b"notifications").hexdigest(),
)


def notification_created(
    notification_id: UUID, user_id: str, kind: str, application_id: UUID | None
) -> OutboxEvent:
    """Whose it is (``user_id``: the live feed's access check) and of which kind; never its text."""
    return OutboxEvent(
        "notification",
        str(notification_id),
        CREATED,
        {
            "notification_id": str(notification_id),
            "user_id": user_id,
            "kind": kind,
            "application_id": None if application_id is None else str(application_id),
        },
    )
