"""Notifications and support chat through PostgREST: supabase-py's async client against a real
loopback double of PostgREST running each request in the Supabase test database. The same steps
through the PostgREST stores and through the Postgres stores leave the same rows; concurrent
duplicates still make one row; PostgREST down or refusing the key is a retry, never a crash."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from adapters.notifications.postgrest_notifications import PostgrestNotificationStore
from adapters.notifications.postgrest_support_chat import PostgrestSupportStore
from adapters.platform.supabase_rest import SupabaseRest, SupabaseUnavailable
from database.notifications.notifications import PgNotificationStore
from database.notifications.support_chat import PgSupportStore
from mcp_servers.config import load_settings
from mcp_servers.runtime import Runtime
from mcp_servers.supabase_wiring import supabase_stores
from tests.helpers.common import free_port
from tests.helpers.postgrest_double import DOUBLE_KEY, PostgrestDouble
from tools.notifications.ports import NewNotification, NotificationStore, PreferenceRow, SupportStore
from tools.platform.errors import Unavailable
from tools.platform.jobs import RetryLater


@pytest.fixture
def notes(rest: SupabaseRest) -> PostgrestNotificationStore:
    return PostgrestNotificationStore(rest)


@pytest.fixture
def chat(rest: SupabaseRest, notes: PostgrestNotificationStore) -> PostgrestSupportStore:
    return PostgrestSupportStore(rest, notes)


def notice(
    user: str, event: uuid.UUID, channel: str = "in_app", kind: str = "application_received"
) -> NewNotification:
    return NewNotification(
        event_id=event,
        user_id=user,
        application_id=uuid.uuid5(uuid.NAMESPACE_URL, user),
        kind=kind,
        channel=channel,
        title=f"About {kind}",
        body=f"Your {kind} news",
        status="sent" if channel == "in_app" else "pending",
    )


async def scenario(notes: NotificationStore, chat: SupportStore, supa: asyncpg.Connection) -> dict[str, Any]:
    """Every port operation once or more, with what it returned and the rows it left, in terms that do
    not depend on ids or clocks (users are named by their part)."""
    tag = uuid.uuid4().hex[:8]
    people = {f"b-{tag}": "borrower", f"x-{tag}": "stranger", f"op-{tag}": "operator"}
    return {
        **await notifications_are_added_delivered_paged_read_and_preferred(notes, people),
        **await a_conversation_is_opened_answered_paged_and_closed(chat, people),
        **await the_rows_left_behind(supa, people),
    }


async def notifications_are_added_delivered_paged_read_and_preferred(
    notes: NotificationStore, people: dict[str, str]
) -> dict[str, Any]:
    borrower, stranger, _ = people
    seen: dict[str, Any] = {}
    events = [uuid.uuid4() for _ in range(4)]
    first = await notes.add(notice(borrower, events[0]))
    again = await notes.add(replace(notice(borrower, events[0]), title="A second title"))
    seen["first_row_wins"] = (again.id == first.id, again.title)
    sms = await notes.add(notice(borrower, events[0], "sms"))
    await notes.delivered(sms.id, "pending", None, "GatewayTimeout: no answer")
    await notes.delivered(sms.id, "sent", "msg-1", None)
    await notes.delivered(sms.id, "failed", None, "too late: already sent")
    email = await notes.add(notice(borrower, events[0], "email"))
    await notes.delivered(email.id, "failed", None, "GatewayRejected: bad address")
    for n, event in enumerate(events[1:]):
        await notes.add(notice(borrower, event, kind=f"kind_{n}"))
    await notes.add(notice(stranger, events[1]))
    pages, cursor = [], None
    while True:
        page = await notes.inbox(borrower, False, cursor, 2)
        pages.append([r.kind for r in page])
        if len(page) < 2:
            break
        cursor = (page[-1].created_at, page[-1].id)
    seen["inbox_pages"] = pages
    marked = await notes.mark_read(borrower, first.id)
    twice = await notes.mark_read(borrower, first.id)
    assert marked is not None and twice is not None and marked.read_at is not None
    seen["mark_read"] = (
        twice.read_at == marked.read_at,
        await notes.mark_read(stranger, first.id),
        await notes.mark_read(borrower, sms.id),
    )
    unread = await notes.inbox(borrower, True, None, 10)
    seen["unread"] = (await notes.unread_count(borrower), [r.kind for r in unread])
    await notes.set_preferences(
        borrower, [PreferenceRow("*", "sms", True), PreferenceRow("loan.active", "email", True)]
    )
    prefs = await notes.set_preferences(borrower, [PreferenceRow("*", "sms", False)])
    seen["preferences"] = [(p.kind, p.channel, p.enabled, p.updated_at is not None) for p in prefs]
    seen["no_preferences"] = await notes.set_preferences(stranger, [])
    return seen


async def a_conversation_is_opened_answered_paged_and_closed(
    chat: SupportStore, people: dict[str, str]
) -> dict[str, Any]:
    borrower, stranger, operator = people
    seen: dict[str, Any] = {}
    conversation, opening = await chat.open(borrower, None, "Where is my money?", "borrower", "A week now.")
    seen["opened"] = (conversation.status, opening.author_role, opening.conversation_id == conversation.id)
    reply_id = uuid.uuid4()
    reply = await chat.post(
        conversation.id,
        reply_id,
        operator,
        "operator",
        "On its way.",
        notice(borrower, reply_id, kind="support_reply"),
    )
    assert reply is not None
    owner_view = await chat.summaries(borrower, borrower, None, None, 10)
    seen["owner_sees"] = [
        (s.conversation.subject, s.last_message and s.last_message.body, s.unread_count) for s in owner_view
    ]
    await chat.mark_read(conversation.id, borrower)
    seen["after_reading"] = [s.unread_count for s in await chat.summaries(borrower, borrower, None, None, 10)]
    await chat.post(conversation.id, uuid.uuid4(), borrower, "borrower", "Thanks.", None)
    seen["operator_sees"] = [
        (s.unread_count, s.last_message and s.last_message.body)
        for s in await chat.summaries(operator, borrower, "open", None, 10)
    ]
    head = await chat.messages(conversation.id, None, 2)
    tail = await chat.messages(conversation.id, (head[-1].created_at, head[-1].id), 2)
    seen["messages"] = ([m.body for m in head], [m.body for m in tail])
    later, _ = await chat.open(borrower, None, "Second question", "borrower", "Another thing.")
    [newest] = await chat.summaries(borrower, borrower, None, None, 1)
    older = await chat.summaries(
        borrower, borrower, None, (newest.conversation.updated_at, newest.conversation.id), 5
    )
    seen["conversation_pages"] = (newest.conversation.id == later.id, [s.conversation.subject for s in older])
    closed = await chat.close(conversation.id, operator)
    closed_again = await chat.close(conversation.id, stranger)
    refused = await chat.post(conversation.id, uuid.uuid4(), borrower, "borrower", "Hello?", None)
    assert closed is not None and closed_again is not None
    seen["closing"] = (
        closed.status,
        people[closed.closed_by or ""],
        closed_again.closed_at == closed.closed_at,
        closed_again.closed_by == closed.closed_by,
        refused,
    )
    seen["by_status"] = (
        [s.conversation.subject for s in await chat.summaries(operator, borrower, "closed", None, 10)],
        [s.conversation.subject for s in await chat.summaries(operator, borrower, "open", None, 10)],
    )
    fetched = await chat.get(conversation.id)
    seen["get"] = (
        fetched == closed_again,
        await chat.get(uuid.uuid4()),
        await chat.close(uuid.uuid4(), operator),
    )
    return seen


async def the_rows_left_behind(supa: asyncpg.Connection, people: dict[str, str]) -> dict[str, Any]:
    borrower, _, _ = people
    seen: dict[str, Any] = {}
    seen["notification_rows"] = [
        (people[r["user_id"]], *(v for k, v in r.items() if k != "user_id"))
        for r in await supa.fetch(
            """SELECT user_id, kind, channel, title, body, delivery_status, attempts, provider_message_id,
                      last_error, read_at IS NOT NULL AS read
               FROM public.notifications WHERE user_id = ANY($1) ORDER BY created_at, channel""",
            list(people),
        )
    ]
    seen["support_rows"] = [
        (people[r["author_id"]], r["author_role"], r["body"], r["subject"], r["status"])
        for r in await supa.fetch(
            """SELECT m.author_id, m.author_role, m.body, c.subject, c.status
               FROM public.support_messages m JOIN public.support_conversations c ON c.id = m.conversation_id
               WHERE c.user_id = $1 ORDER BY m.created_at""",
            borrower,
        )
    ]
    seen["read_markers"] = sorted(
        (people[r["reader_id"]], r["subject"])
        for r in await supa.fetch(
            """SELECT r.reader_id, c.subject FROM public.support_conversation_reads r
               JOIN public.support_conversations c ON c.id = r.conversation_id WHERE c.user_id = $1""",
            borrower,
        )
    )
    return seen


async def test_the_postgrest_stores_leave_the_same_rows_and_answers_as_the_postgres_stores(
    runtime: Runtime, supa: asyncpg.Connection, notes: PostgrestNotificationStore, chat: PostgrestSupportStore
) -> None:
    assert runtime.supabase_pool is not None
    pool = runtime.supabase_pool
    direct = await scenario(PgNotificationStore(pool), PgSupportStore(pool), supa)
    over_rest = await scenario(notes, chat, supa)
    assert over_rest == direct
    # And the story itself is the one the port promises.
    assert direct["first_row_wins"] == (True, "About application_received")
    assert direct["inbox_pages"] == [["kind_2", "kind_1"], ["kind_0", "application_received"], []]
    assert direct["unread"] == (3, ["kind_2", "kind_1", "kind_0"])
    assert [row[1:3] + row[5:9] for row in direct["notification_rows"][:3]] == [
        ("application_received", "in_app", "sent", 0, None, None),
        ("application_received", "sms", "sent", 2, "msg-1", None),
        ("application_received", "email", "failed", 1, None, "GatewayRejected: bad address"),
    ]
    assert direct["owner_sees"] == [("Where is my money?", "On its way.", 1)]
    assert direct["after_reading"] == [0] and direct["operator_sees"] == [(1, "Thanks.")]
    assert direct["closing"] == ("closed", "operator", True, True, None)


async def test_the_postgrest_stores_send_keyed_conditional_requests_with_the_service_key(
    postgrest: PostgrestDouble, notes: PostgrestNotificationStore
) -> None:
    user = f"b-{uuid.uuid4().hex[:8]}"
    row = await notes.add(notice(user, uuid.uuid4(), "sms"))
    await notes.delivered(row.id, "sent", "msg-9", None)
    insert, read, patch = postgrest.requests_to("notifications")
    assert insert.method == "POST" and ("on_conflict", "event_id,user_id,channel") in insert.params
    assert "resolution=ignore-duplicates" in insert.headers["prefer"]
    assert read.method == "GET"
    assert patch.method == "PATCH" and {("delivery_status", "eq.pending"), ("attempts", "eq.0")} <= set(
        patch.params
    )
    assert patch.body == {
        "delivery_status": "sent",
        "last_error": None,
        "attempts": 1,
        "provider_message_id": "msg-9",
    }
    assert all(
        r.headers["apikey"] == DOUBLE_KEY and r.headers["authorization"] == f"Bearer {DOUBLE_KEY}"
        for r in postgrest.seen
    )


async def test_concurrent_adds_of_one_event_make_one_row_that_every_caller_gets(
    supa: asyncpg.Connection, notes: PostgrestNotificationStore
) -> None:
    new = notice(f"b-{uuid.uuid4().hex[:8]}", uuid.uuid4())
    stored = await asyncio.gather(*(notes.add(new) for _ in range(20)))
    assert len({r.id for r in stored}) == 1
    count = await supa.fetchval("SELECT count(*) FROM public.notifications WHERE user_id = $1", new.user_id)
    assert count == 1


async def test_concurrent_send_attempts_are_each_counted_once(
    supa: asyncpg.Connection, notes: PostgrestNotificationStore
) -> None:
    row = await notes.add(notice(f"b-{uuid.uuid4().hex[:8]}", uuid.uuid4(), "email"))
    await asyncio.gather(*(notes.delivered(row.id, "pending", None, f"try {n}") for n in range(5)))
    stored = await supa.fetchrow(
        "SELECT attempts, delivery_status FROM public.notifications WHERE id = $1", row.id
    )
    assert stored is not None and (stored["attempts"], stored["delivery_status"]) == (5, "pending")


async def test_postgrest_down_is_unavailable_to_tools_and_a_retry_to_the_queue(
    postgrest: PostgrestDouble, notes: PostgrestNotificationStore, chat: PostgrestSupportStore
) -> None:
    user = f"b-{uuid.uuid4().hex[:8]}"
    postgrest.down = True
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: notes.add(notice(user, uuid.uuid4())),
        lambda: notes.inbox(user, False, None, 5),
        lambda: notes.unread_count(user),
        lambda: notes.set_preferences(user, [PreferenceRow("*", "sms", True)]),
        lambda: chat.open(user, None, "Help", "borrower", "Hello"),
        lambda: chat.summaries(user, user, None, None, 5),
    ]
    for call in calls:
        with pytest.raises(SupabaseUnavailable) as caught:
            await call()
        assert isinstance(caught.value, Unavailable) and caught.value.code == "unavailable"
        assert isinstance(caught.value, RetryLater) and caught.value.delay is None
    postgrest.down = False
    assert (await notes.add(notice(user, uuid.uuid4()))).user_id == user


async def test_a_refused_key_and_an_unreachable_postgrest_are_clear_errors(
    postgrest: PostgrestDouble,
) -> None:
    for url, key, expected in (
        (postgrest.url, "not-the-key", "SUPABASE_SERVICE_ROLE_KEY"),
        (f"http://127.0.0.1:{free_port()}", DOUBLE_KEY, "not reachable"),
    ):
        connection = SupabaseRest(url, key, timeout=5)
        try:
            with pytest.raises(SupabaseUnavailable) as caught:
                await PostgrestNotificationStore(connection).unread_count("someone")
        finally:
            await connection.aclose()
        assert expected in caught.value.message
    connection = SupabaseRest(postgrest.url, "not-the-key", timeout=5)
    try:
        with pytest.raises(RetryLater, match="PGRST301"):
            await PostgrestNotificationStore(connection).preferences("someone")
    finally:
        await connection.aclose()


async def test_a_message_that_cannot_be_stored_takes_its_new_conversation_away(
    supa: asyncpg.Connection, chat: PostgrestSupportStore
) -> None:
    user = f"b-{uuid.uuid4().hex[:8]}"
    with pytest.raises(SupabaseUnavailable):
        # The body breaks the table's length check: the conversation went in, its message did not.
        await chat.open(user, None, "Too long", "borrower", "x" * 5000)
    assert (
        await supa.fetchval("SELECT count(*) FROM public.support_conversations WHERE user_id = $1", user) == 0
    )


async def test_the_stores_are_chosen_by_the_same_rule_as_the_status_mirror(
    tmp_path, runtime: Runtime
) -> None:
    assert runtime.supabase_pool is not None
    core = "postgresql://caas@127.0.0.1:5432/core"
    rest = {"supabase_url": "https://project.supabase.co", "supabase_service_role_key": DOUBLE_KEY}
    cases = [
        ({}, PgNotificationStore),
        ({"database_url": core, **rest}, PostgrestNotificationStore),
        (
            {"database_url": core, "supabase_db_url": "postgresql://postgres@127.0.0.1:5432/sb", **rest},
            PgNotificationStore,
        ),
        ({"database_url": core}, PgNotificationStore),
    ]
    for overrides, expected in cases:
        notifications, support, connection = supabase_stores(
            load_settings(data_dir=tmp_path, **overrides), runtime.supabase_pool
        )
        try:
            assert type(notifications) is expected, overrides
            assert type(support) is (
                PostgrestSupportStore if expected is PostgrestNotificationStore else PgSupportStore
            )
            assert (connection is not None) is (expected is PostgrestNotificationStore)
        finally:
            if connection is not None:
                await connection.aclose()
