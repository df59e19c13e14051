"""Inbox tools (on the ``notifications`` server): a user's notifications and channel preferences.

Borrowers are notified of every step of their application and loan (received, decision, offers,
disbursement, repayments due and received, arrears): always in the app, and by SMS or email when they
switch those channels on.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from mcp_servers.params import Cursor, Limit, renamed
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.notifications import inbox
from tools.notifications.models import (
    NotificationPage,
    NotificationPreferences,
    NotificationView,
    PreferenceOverride,
)
from tools.platform.models import Identifier
from tools.platform.principal import Role

__all__ = ["INBOX_READERS", "TOOLS"]

INBOX_READERS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN, Role.SERVICE})
PREFERENCE_OWNERS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN})


TOOLS = ToolSet()


@TOOLS.tool(roles=INBOX_READERS, title="List notifications", read_only=True, idempotent=True, open_world=True)
async def list_notifications(
    unread_only: Annotated[bool, Field(description="Only notifications not marked read yet.")] = False,
    user_id: Annotated[
        Identifier | None,
        Field(
            default=None,
            min_length=1,
            max_length=128,
            description="Operators, admins and services only: whose inbox. Leave out for your own.",
        ),
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> NotificationPage:
    """A user's in-app notifications, newest first, a page at a time, with the total unread count.

    Use to show a borrower what happened to their application and loan (received, decision, offers,
    disbursement, repayments, arrears, support replies). Each item has a ``kind`` (its template),
    a title and a body; ``read_at`` is null while unread. Pass ``next_cursor`` back as ``cursor`` for
    the next page; it is null on the last page.
    """
    return await inbox.list_notifications(
        deps().notifications, principal(), user_id, unread_only, limit, cursor
    )


@TOOLS.tool(
    roles=INBOX_READERS,
    title="Mark a notification read",
    read_only=False,
    idempotent=True,
    open_world=True,
    retired=renamed("notification_id", "notification", "the notification's id"),
)
async def mark_notification_read(
    notification: Annotated[UUID, Field(description="The notification's id from list_notifications.")],
) -> NotificationView:
    """Mark one of your own notifications read; marking it again keeps the first ``read_at``.

    Someone else's notification answers not_found, exactly like an id that does not exist.
    """
    return await inbox.mark_notification_read(deps().notifications, principal(), str(notification))


@TOOLS.tool(
    roles=PREFERENCE_OWNERS,
    title="Show notification preferences",
    read_only=True,
    idempotent=True,
    open_world=True,
)
async def get_notification_preferences() -> NotificationPreferences:
    """Your notification channels: in-app (always on), SMS and email (off until switched on), and
    any per-kind overrides.

    SMS and email go to the phone and email address on the borrower's application.
    """
    return await inbox.get_preferences(deps().notifications, principal())


@TOOLS.tool(
    roles=PREFERENCE_OWNERS,
    title="Change notification preferences",
    read_only=False,
    idempotent=True,
    open_world=True,
)
async def set_notification_preferences(
    sms: Annotated[
        bool | None, Field(default=None, description="SMS for every kind; leave out to keep.")
    ] = None,
    email: Annotated[
        bool | None, Field(default=None, description="Email for every kind; leave out to keep.")
    ] = None,
    overrides: Annotated[
        list[PreferenceOverride] | None,
        Field(
            default=None,
            max_length=30,
            description="Per kind and channel, e.g. {kind: repayment_due, channel: sms, enabled: true}; "
            "wins over the general sms/email setting for that kind.",
        ),
    ] = None,
) -> NotificationPreferences:
    """Switch SMS and email notifications on or off, in general or for single kinds of notification.

    In-app notifications are always kept. Settings left out keep their value. Takes effect for the
    next notification. Returns all your preferences.
    """
    return await inbox.set_preferences(deps().notifications, invocation(), sms, email, overrides)
