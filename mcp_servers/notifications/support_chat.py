"""Support chat tools (on the ``notifications`` server). Support conversations belong to whoever
opened them; only they and operators read or answer them."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from mcp_servers.params import Cursor, Limit, renamed
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.notifications import support_chat
from tools.notifications.models import ConversationDetail, ConversationPage, ConversationView, MessageView
from tools.platform.models import FreeText, Identifier, Line
from tools.platform.principal import Role

__all__ = ["TOOLS"]

OPENERS = frozenset({Role.BORROWER, Role.AGENT})
PARTICIPANTS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN})
SUPPORT_STAFF = frozenset({Role.OPERATOR, Role.ADMIN})

ConversationId = Annotated[UUID, Field(description="The support conversation's id.")]
MessageBody = Annotated[
    FreeText, Field(min_length=1, max_length=4000, description="Plain text, up to 4000 characters.")
]

RENAMED = renamed("conversation_id", "conversation", "the conversation's id")
TOOLS = ToolSet()


@TOOLS.tool(roles=OPENERS, title="Open a support conversation", read_only=False, open_world=True)
async def open_support_conversation(
    subject: Annotated[Line, Field(min_length=1, max_length=200, description="What it is about.")],
    message: MessageBody,
    application: Annotated[
        Identifier | None,
        Field(
            default=None,
            max_length=64,
            description="Optional: the application it concerns (id or CAAS-YYYY-NNNNNN); one you can see.",
        ),
    ] = None,
) -> ConversationDetail:
    """Open a conversation with CaaS support, with its first message.

    Use when a borrower (or an agent) needs help from a person: operators see it in their queue and
    answer with post_support_message. Each call opens a new conversation. Returns the conversation
    and its first message.
    """
    return await support_chat.open_conversation(
        deps().notifications, invocation(), subject, message, application
    )


@TOOLS.tool(
    roles=PARTICIPANTS, title="Post a support message", read_only=False, open_world=True, retired=RENAMED
)
async def post_support_message(conversation: ConversationId, message: MessageBody) -> MessageView:
    """Add a message to an open support conversation: its owner, or an operator answering.

    An operator's answer also puts a "Support replied" notification in the owner's inbox. A closed
    conversation refuses with conflict (open a new one); a conversation you cannot see answers
    not_found. Each call posts a new message.
    """
    return await support_chat.post_message(deps().notifications, invocation(), str(conversation), message)


@TOOLS.tool(
    roles=PARTICIPANTS,
    title="Read a support conversation",
    read_only=False,
    idempotent=True,
    open_world=True,
    retired=RENAMED,
)
async def get_support_conversation(
    conversation: ConversationId, limit: Limit = 50, cursor: Cursor = None
) -> ConversationDetail:
    """Read a support conversation's messages, oldest first, and mark it read for you.

    Its owner and operators only; anyone else gets not_found. Pass ``next_cursor`` back as
    ``cursor`` to read later messages.
    """
    return await support_chat.get_conversation(
        deps().notifications, principal(), str(conversation), limit, cursor
    )


@TOOLS.tool(
    roles=PARTICIPANTS, title="List support conversations", read_only=True, idempotent=True, open_world=True
)
async def list_support_conversations(
    status: Annotated[
        Literal["open", "closed"] | None, Field(default=None, description="Only open or only closed.")
    ] = None,
    user_id: Annotated[
        Identifier | None,
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
        deps().notifications, principal(), user_id, status, limit, cursor
    )


@TOOLS.tool(
    roles=SUPPORT_STAFF,
    title="Close a support conversation",
    read_only=False,
    destructive=True,
    idempotent=True,
    open_world=True,
    retired=RENAMED,
)
async def close_support_conversation(conversation: ConversationId) -> ConversationView:
    """Close a support conversation once it is resolved: it then takes no more messages (the owner
    opens a new one if needed). Closing a closed conversation returns it unchanged."""
    return await support_chat.close_conversation(deps().notifications, invocation(), str(conversation))
