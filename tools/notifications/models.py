"""Inputs and outputs of the notification and support-chat tools."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from tools.notifications.domain.templates import Template
from tools.platform.models import Input, Output

__all__ = [
    "ChannelSettings",
    "ConversationDetail",
    "ConversationPage",
    "ConversationView",
    "MessageView",
    "NotificationPage",
    "NotificationPreferences",
    "NotificationView",
    "PreferenceOverride",
]

ExternalChannel = Literal["sms", "email"]


class NotificationView(Output):
    id: UUID
    kind: str = Field(description="The template: application_received, offer_received, repayment_due, ...")
    title: str
    body: str
    application_id: UUID | None
    created_at: datetime
    read_at: datetime | None = Field(description="When it was first marked read; null while unread.")


class NotificationPage(Output):
    user_id: str
    items: list[NotificationView]
    unread_count: int = Field(description="All unread in-app notifications of the user, not just this page.")
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class ChannelSettings(Output):
    in_app: bool = Field(default=True, description="Always on: the inbox keeps every notification.")
    sms: bool
    email: bool


class PreferenceOverride(Input):
    """One kind of notification sent (or not) on one channel, whatever the channel's general setting."""

    kind: Template = Field(description="Which notification (the template), e.g. repayment_due.")
    channel: ExternalChannel = Field(description="The channel this override is for.")
    enabled: bool = Field(description="true: send it on this channel; false: never.")


class NotificationPreferences(Output):
    user_id: str
    channels: ChannelSettings = Field(description="Every kind of notification, unless overridden.")
    overrides: list[PreferenceOverride]
    note: str = Field(
        default="SMS and email go to the phone number and email address on the borrower's application; "
        "nothing is sent on a channel the application has no contact for."
    )


class MessageView(Output):
    id: UUID
    conversation_id: UUID
    author_id: str
    author_role: Literal["borrower", "agent", "operator"]
    body: str
    created_at: datetime


class ConversationView(Output):
    id: UUID
    user_id: str = Field(description="Who opened it (its owner).")
    application_id: UUID | None
    subject: str
    status: Literal["open", "closed"]
    created_at: datetime
    updated_at: datetime = Field(description="When its last message was posted (or it was closed).")
    closed_at: datetime | None
    closed_by: str | None
    last_message: MessageView | None = None
    unread_count: int | None = Field(
        default=None, description="Messages from others since you last read it (listings only)."
    )


class ConversationPage(Output):
    items: list[ConversationView]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class ConversationDetail(Output):
    conversation: ConversationView
    messages: list[MessageView] = Field(description="Oldest first.")
    next_cursor: str | None = Field(
        description="More messages after these: pass as cursor to read on; null when these are the latest."
    )
