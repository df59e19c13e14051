"""The ``notifications`` service: the borrower's inbox, channel preferences, and support chat."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastmcp import FastMCP
from pydantic import Field

from mcp_servers.runtime import Runtime
from mcp_servers.toolkit import ToolGate
from tools.notifications import inbox as notification_inbox
from tools.notifications import support_chat
from tools.notifications.models import (
    ConversationDetail,
    ConversationPage,
    ConversationView,
    MessageView,
    NotificationPage,
    NotificationPreferences,
    NotificationView,
    PreferenceOverride,
)
from tools.platform.principal import Role

__all__ = ["build_notifications_server"]

INSTRUCTIONS = """Notifications and support chat on the CaaS marketplace.
Borrowers are notified of every step of their application and loan (received, decision, offers,
disbursement, repayments due and received, arrears): always in the app, and by SMS or email when they
switch those channels on. Support conversations belong to whoever opened them; only they and operators
read or answer them. Every error carries a stable code: invalid_argument, not_found, permission_denied,
conflict, unavailable, internal."""

INBOX_READERS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN, Role.SERVICE})
PREFERENCE_OWNERS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN})
OPENERS = frozenset({Role.BORROWER, Role.AGENT})
PARTICIPANTS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN})
SUPPORT_STAFF = frozenset({Role.OPERATOR, Role.ADMIN})

Limit = Annotated[int, Field(ge=1, le=100, description="Page size.")]
Cursor = Annotated[
    str | None, Field(default=None, max_length=200, description="next_cursor of the previous page.")
]
ConversationId = Annotated[UUID, Field(description="The support conversation's id.")]
MessageBody = Annotated[
    str, Field(min_length=1, max_length=4000, description="Plain text, up to 4000 characters.")
]


def build_notifications_server(runtime: Runtime, gate: ToolGate) -> FastMCP:
    server = FastMCP("notifications", instructions=INSTRUCTIONS, mask_error_details=True)

    @gate.tool(server, roles=INBOX_READERS, title="List notifications", read_only=True, idempotent=True)
    async def list_notifications(
        unread_only: Annotated[bool, Field(description="Only notifications not marked read yet.")] = False,
        user_id: Annotated[
            str | None,
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
        return await notification_inbox.list_notifications(
            runtime.deps.notifications, gate.principal(), user_id, unread_only, limit, cursor
        )

    @gate.tool(
        server, roles=INBOX_READERS, title="Mark a notification read", read_only=False, idempotent=True
    )
    async def mark_notification_read(
        notification_id: Annotated[UUID, Field(description="The id from list_notifications.")],
    ) -> NotificationView:
        """Mark one of your own notifications read; marking it again keeps the first ``read_at``.

        Someone else's notification answers not_found, exactly like an id that does not exist.
        """
        return await notification_inbox.mark_notification_read(
            runtime.deps.notifications, gate.principal(), str(notification_id)
        )

    @gate.tool(
        server,
        roles=PREFERENCE_OWNERS,
        title="Show notification preferences",
        read_only=True,
        idempotent=True,
    )
    async def get_notification_preferences() -> NotificationPreferences:
        """Your notification channels: in-app (always on), SMS and email (off until switched on), and
        any per-kind overrides.

        SMS and email go to the phone and email address on the borrower's application.
        """
        return await notification_inbox.get_preferences(runtime.deps.notifications, gate.principal())

    @gate.tool(
        server,
        roles=PREFERENCE_OWNERS,
        title="Change notification preferences",
        read_only=False,
        idempotent=True,
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
        return await notification_inbox.set_preferences(
            runtime.deps.notifications, gate.invocation(), sms, email, overrides
        )

    @gate.tool(server, roles=OPENERS, title="Open a support conversation", read_only=False)
    async def open_support_conversation(
        subject: Annotated[str, Field(min_length=1, max_length=200, description="What it is about.")],
        message: MessageBody,
        application: Annotated[
            str | None,
            Field(
                default=None,
                max_length=64,
                description="Optional: the application it concerns (id or CAAS-YYYY-NNNNNN); one you "
                "can see.",
            ),
        ] = None,
    ) -> ConversationDetail:
        """Open a conversation with CaaS support, with its first message.

        Use when a borrower (or an agent) needs help from a person: operators see it in their queue and
        answer with post_support_message. Each call opens a new conversation. Returns the conversation
        and its first message.
        """
        return await support_chat.open_conversation(
            runtime.deps.support, gate.invocation(), subject, message, application
        )

    @gate.tool(server, roles=PARTICIPANTS, title="Post a support message", read_only=False)
    async def post_support_message(conversation_id: ConversationId, message: MessageBody) -> MessageView:
        """Add a message to an open support conversation: its owner, or an operator answering.

        An operator's answer also puts a "Support replied" notification in the owner's inbox. A closed
        conversation refuses with conflict (open a new one); a conversation you cannot see answers
        not_found. Each call posts a new message.
        """
        return await support_chat.post_message(
            runtime.deps.support, gate.invocation(), str(conversation_id), message
        )

    @gate.tool(
        server, roles=PARTICIPANTS, title="Read a support conversation", read_only=False, idempotent=True
    )
    async def get_support_conversation(
        conversation_id: ConversationId, limit: Limit = 50, cursor: Cursor = None
    ) -> ConversationDetail:
        """Read a support conversation's messages, oldest first, and mark it read for you.

        Its owner and operators only; anyone else gets not_found. Pass ``next_cursor`` back as
        ``cursor`` to read later messages.
        """
        return await support_chat.get_conversation(
            runtime.deps.support, gate.principal(), str(conversation_id), limit, cursor
        )

    @gate.tool(
        server, roles=PARTICIPANTS, title="List support conversations", read_only=True, idempotent=True
    )
    async def list_support_conversations(
        status: Annotated[
            Literal["open", "closed"] | None, Field(default=None, description="Only open or only closed.")
        ] = None,
        user_id: Annotated[
            str | None,
            Field(default=None, min_length=1, max_length=128, description="Operators only: one user's."),
        ] = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> ConversationPage:
        """Support conversations, most recently active first, each with its last message and how many
        messages from others you have not read.

        Operators and admins see everyone's (the support queue: use status=open); borrowers and agents
        their own. Pass ``next_cursor`` back as ``cursor`` for the next page.
        """
        return await support_chat.list_conversations(
            runtime.deps.support, gate.principal(), user_id, status, limit, cursor
        )

    @gate.tool(
        server,
        roles=SUPPORT_STAFF,
        title="Close a support conversation",
        read_only=False,
        destructive=True,
        idempotent=True,
    )
    async def close_support_conversation(conversation_id: ConversationId) -> ConversationView:
        """Close a support conversation once it is resolved: it then takes no more messages (the owner
        opens a new one if needed). Closing a closed conversation returns it unchanged."""
        return await support_chat.close_conversation(
            runtime.deps.support, gate.invocation(), str(conversation_id)
        )

    return server
