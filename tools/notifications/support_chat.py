"""Support chat: a borrower (or an agent) opens a conversation, operators answer, an operator closes it.

A conversation belongs to whoever opened it; only that owner and operators (admins count as
operators) can read or post in it. Anyone else is told it does not exist, exactly like an id that
does not, so conversations cannot be probed. A closed conversation takes no more messages.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from tools.credit.access import can_view
from tools.notifications.domain.templates import support_reply
from tools.notifications.events import notification_created
from tools.notifications.models import ConversationDetail, ConversationPage, ConversationView, MessageView
from tools.notifications.ports import (
    ConversationRecord,
    ConversationSummary,
    MessageRecord,
    NewNotification,
    NotificationDeps,
)
from tools.platform.cursor import decode_cursor, encode_cursor, keyset
from tools.platform.errors import Conflict, NotFound, PermissionDenied
from tools.platform.ports import AuditRecord, Invocation
from tools.platform.principal import Principal, Role

__all__ = [
    "SUPPORT_STAFF",
    "close_conversation",
    "get_conversation",
    "list_conversations",
    "open_conversation",
    "post_message",
]

SUPPORT_STAFF = frozenset({Role.OPERATOR, Role.ADMIN})


def _author_role(principal: Principal) -> str:
    if principal.role in SUPPORT_STAFF:
        return "operator"
    return "agent" if principal.role is Role.AGENT else "borrower"


def _message(m: MessageRecord) -> MessageView:
    return MessageView(
        id=m.id,
        conversation_id=m.conversation_id,
        author_id=m.author_id,
        author_role=m.author_role,
        body=m.body,
        created_at=m.created_at,
    )


def _conversation(c: ConversationRecord, summary: ConversationSummary | None = None) -> ConversationView:
    return ConversationView(
        id=c.id,
        user_id=c.user_id,
        application_id=c.application_id,
        subject=c.subject,
        status=c.status,
        created_at=c.created_at,
        updated_at=c.updated_at,
        closed_at=c.closed_at,
        closed_by=c.closed_by,
        last_message=None
        if summary is None or summary.last_message is None
        else _message(summary.last_message),
        unread_count=None if summary is None else summary.unread_count,
    )


def _not_found(conversation_id: str) -> NotFound:
    return NotFound(
        f"no support conversation '{conversation_id}' that you can see; call list_support_conversations "
        "to find yours"
    )


async def _visible(deps: NotificationDeps, principal: Principal, conversation_id: str) -> ConversationRecord:
    try:
        ident = UUID(conversation_id)
    except ValueError:
        raise _not_found(conversation_id) from None
    conversation = await deps.support.get(ident)
    if conversation is None:
        raise _not_found(conversation_id)
    if principal.role not in SUPPORT_STAFF and conversation.user_id != principal.subject:
        raise _not_found(conversation_id)
    return conversation


async def open_conversation(
    deps: NotificationDeps, call: Invocation, subject: str, body: str, application: str | None
) -> ConversationDetail:
    principal = call.principal
    application_id = None
    if application is not None:
        app = await deps.applications.get(application)
        if app is None or not can_view(principal, app):
            raise NotFound(
                f"no application '{application}' that you can see; give your application's id or "
                "CAAS-YYYY-NNNNNN reference, or leave application out"
            )
        application_id = app.id
    async with deps.uow() as uow:
        conversation, first = await deps.support.open(
            principal.subject, application_id, subject, _author_role(principal), body
        )
        await uow.record(AuditRecord(call, "support_conversation", str(conversation.id)))
    return ConversationDetail(
        conversation=_conversation(conversation), messages=[_message(first)], next_cursor=None
    )


async def post_message(
    deps: NotificationDeps, call: Invocation, conversation_id: str, body: str
) -> MessageView:
    principal = call.principal
    conversation = await _visible(deps, principal, conversation_id)
    message_id = uuid4()
    notify = None
    if conversation.user_id != principal.subject:
        # Support answered: the owner finds it in the inbox (and through Realtime), same transaction.
        title, text = support_reply(conversation.subject)
        notify = NewNotification(
            id=uuid4(),
            event_id=message_id,
            user_id=conversation.user_id,
            application_id=conversation.application_id,
            kind="support_reply",
            channel="in_app",
            title=title,
            body=text,
            status="sent",
        )
    async with deps.uow() as uow:
        posted = await deps.support.post(
            conversation.id, message_id, principal.subject, _author_role(principal), body, notify
        )
        if posted is None:
            raise Conflict(
                f"support conversation {conversation.id} is closed and takes no more messages; open a new "
                "one with open_support_conversation"
            )
        told = []
        if notify is not None and notify.id is not None:
            told.append(notification_created(notify.id, notify.user_id, notify.kind, notify.application_id))
        await uow.record(AuditRecord(call, "support_message", str(posted.id)), told)
    return _message(posted)


async def get_conversation(
    deps: NotificationDeps, principal: Principal, conversation_id: str, limit: int, cursor: str | None
) -> ConversationDetail:
    conversation = await _visible(deps, principal, conversation_id)
    scope = keyset("support_messages", conversation=conversation.id)
    after = decode_cursor(scope, cursor) if cursor else None
    rows = await deps.support.messages(conversation.id, after, limit + 1)
    page = rows[:limit]
    await deps.support.mark_read(conversation.id, principal.subject)
    next_cursor = encode_cursor(scope, page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return ConversationDetail(
        conversation=_conversation(conversation),
        messages=[_message(m) for m in page],
        next_cursor=next_cursor,
    )


async def list_conversations(
    deps: NotificationDeps,
    principal: Principal,
    user_id: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> ConversationPage:
    if principal.role in SUPPORT_STAFF:
        owner = user_id
    elif user_id is not None and user_id != principal.subject:
        raise PermissionDenied("only operators list other users' conversations; leave user_id out")
    else:
        owner = principal.subject
    scope = keyset("support_conversations", owner=owner, status=status)
    after = decode_cursor(scope, cursor) if cursor else None
    rows = await deps.support.summaries(principal.subject, owner, status, after, limit + 1)
    page = rows[:limit]
    last = page[-1].conversation if len(rows) > limit else None
    next_cursor = None if last is None else encode_cursor(scope, last.updated_at, last.id)
    return ConversationPage(items=[_conversation(s.conversation, s) for s in page], next_cursor=next_cursor)


async def close_conversation(
    deps: NotificationDeps, call: Invocation, conversation_id: str
) -> ConversationView:
    """Idempotent: closing a closed conversation returns it as it is."""
    conversation = await _visible(deps, call.principal, conversation_id)
    if conversation.status == "closed":
        return _conversation(conversation)
    async with deps.uow() as uow:
        closed = await deps.support.close(conversation.id, call.principal.subject)
        if closed is None:  # pragma: no cover - conversations are never deleted
            raise _not_found(conversation_id)
        await uow.record(AuditRecord(call, "support_conversation", str(closed.id)))
    return _conversation(closed)
