"""A user's own notifications and channel preferences (the ``notifications`` server's tools)."""

from __future__ import annotations

from uuid import UUID

from tools.notifications.domain.templates import Template
from tools.notifications.models import (
    ChannelSettings,
    NotificationPage,
    NotificationPreferences,
    NotificationView,
    PreferenceOverride,
)
from tools.notifications.notifications import NotificationDeps
from tools.notifications.ports import NotificationRecord, PreferenceRow
from tools.platform.cursor import decode_cursor, encode_cursor, keyset
from tools.platform.errors import InvalidArgument, NotFound, PermissionDenied
from tools.platform.ports import AuditRecord, Invocation
from tools.platform.principal import Principal, Role

__all__ = [
    "READ_OTHERS",
    "get_preferences",
    "list_notifications",
    "mark_notification_read",
    "set_preferences",
]

# Who may read someone else's inbox (support and the platform's own services); everyone else reads
# their own.
READ_OTHERS = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})


def _view(r: NotificationRecord) -> NotificationView:
    return NotificationView(
        id=r.id,
        kind=r.kind,
        title=r.title,
        body=r.body,
        application_id=r.application_id,
        created_at=r.created_at,
        read_at=r.read_at,
    )


def _whose(principal: Principal, user_id: str | None) -> str:
    if user_id is None or user_id == principal.subject:
        return principal.subject
    if principal.role not in READ_OTHERS:
        raise PermissionDenied(
            "only operators, admins and services read another user's notifications; leave user_id "
            "out to read your own"
        )
    return user_id


async def list_notifications(
    deps: NotificationDeps,
    principal: Principal,
    user_id: str | None,
    unread_only: bool,
    limit: int,
    cursor: str | None,
) -> NotificationPage:
    whose = _whose(principal, user_id)
    scope = keyset("notifications", user=whose, unread_only=unread_only)
    after = decode_cursor(scope, cursor) if cursor else None
    rows = await deps.store.inbox(whose, unread_only, after, limit + 1)
    page = rows[:limit]
    next_cursor = encode_cursor(scope, page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return NotificationPage(
        user_id=whose,
        items=[_view(r) for r in page],
        unread_count=await deps.store.unread_count(whose),
        next_cursor=next_cursor,
    )


async def mark_notification_read(
    deps: NotificationDeps, principal: Principal, notification_id: str
) -> NotificationView:
    """Only one's own notification; someone else's answers not_found, exactly like a missing one."""
    missing = NotFound(
        f"no notification '{notification_id}' of yours; call list_notifications to see your notifications"
    )
    try:
        ident = UUID(notification_id)
    except ValueError:
        raise missing from None
    record = await deps.store.mark_read(principal.subject, ident)
    if record is None:
        raise missing
    return _view(record)


def _preferences(user_id: str, rows: list[PreferenceRow]) -> NotificationPreferences:
    general = {r.channel: r.enabled for r in rows if r.kind == "*"}
    kinds = {t.value for t in Template}
    return NotificationPreferences(
        user_id=user_id,
        channels=ChannelSettings(sms=general.get("sms", False), email=general.get("email", False)),
        overrides=[
            PreferenceOverride(kind=Template(r.kind), channel=r.channel, enabled=r.enabled)
            for r in sorted(rows, key=lambda r: (r.kind, r.channel))
            if r.kind != "*" and r.kind in kinds and r.channel in ("sms", "email")
        ],
    )


async def get_preferences(deps: NotificationDeps, principal: Principal) -> NotificationPreferences:
    return _preferences(principal.subject, await deps.store.preferences(principal.subject))


async def set_preferences(
    deps: NotificationDeps,
    call: Invocation,
    sms: bool | None,
    email: bool | None,
    overrides: list[PreferenceOverride] | None,
) -> NotificationPreferences:
    rows = [
        PreferenceRow("*", channel, on) for channel, on in (("sms", sms), ("email", email)) if on is not None
    ]
    seen: set[tuple[str, str]] = set()
    for o in overrides or []:
        key = (o.kind.value, o.channel)
        if key in seen:
            raise InvalidArgument(f"overrides name {o.kind.value}/{o.channel} twice; give each pair once")
        seen.add(key)
        rows.append(PreferenceRow(o.kind.value, o.channel, o.enabled))
    if not rows:
        raise InvalidArgument("nothing to change: give sms, email or overrides")
    user = call.principal.subject
    # The audit row (system of record) commits after the preferences (Supabase): a failure between the
    # two leaves a change without its audit row, never an audit row without its change.
    async with deps.uow() as uow:
        stored = await deps.store.set_preferences(user, rows)
        await uow.record(AuditRecord(call, "notification_preferences", user))
    return _preferences(user, stored)
