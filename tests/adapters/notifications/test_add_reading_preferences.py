"""``NotificationStore.add_reading_preferences`` (a queued notice's in-app row and the user's preferences,
in one store transaction where the store can): through the Postgres store and through PostgREST, the
row stored as ``add`` stores it (the first one wins) and the preferences as ``preferences`` reads them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import asyncpg
import pytest

from adapters.notifications.postgrest_notifications import PostgrestNotificationStore
from adapters.platform.supabase_rest import SupabaseRest
from database.notifications.notifications import PgNotificationStore
from mcp_servers.runtime import Runtime
from tests.helpers.postgrest_double import DOUBLE_KEY, postgrest_double
from tests.helpers.statements import Counted
from tools.notifications.ports import NewNotification, NotificationStore, PreferenceRow


@pytest.fixture(params=["postgres", "postgrest"])
async def store(request: pytest.FixtureRequest, runtime: Runtime) -> AsyncIterator[NotificationStore]:
    assert runtime.targets is not None and runtime.supabase_pool is not None
    if request.param == "postgres":
        yield PgNotificationStore(runtime.supabase_pool)
        return
    async with postgrest_double(runtime.targets.supabase, DOUBLE_KEY) as double:
        rest = SupabaseRest(double.url, DOUBLE_KEY, timeout=10)
        try:
            yield PostgrestNotificationStore(rest)
        finally:
            await rest.aclose()


def _notice(user: str, event: uuid.UUID) -> NewNotification:
    return NewNotification(
        event_id=event,
        user_id=user,
        application_id=uuid.uuid5(uuid.NAMESPACE_URL, user),
        kind="loan.active",
        channel="in_app",
        title="Your loan is active",
        body="The money is on its way.",
        status="sent",
    )


async def test_the_in_app_row_is_added_once_and_the_users_preferences_come_with_it(
    store: NotificationStore,
) -> None:
    user, other = f"b-{uuid.uuid4().hex[:8]}", f"x-{uuid.uuid4().hex[:8]}"
    await store.set_preferences(
        user, [PreferenceRow("*", "sms", True), PreferenceRow("loan.active", "email", True)]
    )
    await store.set_preferences(other, [PreferenceRow("*", "email", True)])
    event = uuid.uuid4()

    row, prefs = await store.add_reading_preferences(_notice(user, event))
    again, prefs_again = await store.add_reading_preferences(
        replace(_notice(user, event), title="Another title")
    )

    assert (row.user_id, row.channel, row.kind, row.title, row.delivery_status) == (
        user,
        "in_app",
        "loan.active",
        "Your loan is active",
        "sent",
    )
    assert (again.id, again.title) == (row.id, "Your loan is active")
    assert [(p.kind, p.channel, p.enabled) for p in prefs] == [
        ("*", "sms", True),
        ("loan.active", "email", True),
    ]
    assert prefs == prefs_again == await store.preferences(user)
    assert [r.id for r in await store.inbox(user, False, None, 10)] == [row.id]
    _, none = await store.add_reading_preferences(_notice(f"n-{uuid.uuid4().hex[:8]}", uuid.uuid4()))
    assert none == []


class _CountingPool:
    """The store's pool, counting what its connections are sent."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool, self.sent = pool, 0

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Counted]:
        async with self.pool.acquire() as conn:
            counted = Counted(conn)
            yield counted
            self.sent += counted.sent


async def test_the_postgres_store_adds_the_row_and_reads_the_preferences_in_one_statement(
    runtime: Runtime,
) -> None:
    assert runtime.supabase_pool is not None
    pool = _CountingPool(runtime.supabase_pool)
    store = PgNotificationStore(pool)  # type: ignore[arg-type]
    user = f"c-{uuid.uuid4().hex[:8]}"
    await store.set_preferences(user, [PreferenceRow("*", "email", True)])
    pool.sent = 0
    row, prefs = await store.add_reading_preferences(_notice(user, uuid.uuid4()))
    # BEGIN with the service role, the one statement, COMMIT: the worker stores a notice per event.
    assert pool.sent == 3
    assert row.user_id == user and [(p.kind, p.channel, p.enabled) for p in prefs] == [("*", "email", True)]


async def test_a_row_a_concurrent_insert_committed_first_is_read_again_with_the_preferences(
    runtime: Runtime, supa: asyncpg.Connection
) -> None:
    assert runtime.supabase_pool is not None
    store = PgNotificationStore(runtime.supabase_pool)
    user, event = f"r-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    await store.set_preferences(user, [PreferenceRow("loan.active", "sms", True)])
    first = uuid.uuid4()
    other = supa.transaction()
    await other.start()
    await supa.execute(
        "INSERT INTO public.notifications (id, event_id, user_id, application_id, kind, channel, title, "
        "body, delivery_status) VALUES ($1, $2, $3, $4, 'loan.active', 'in_app', 'First', 'b', 'sent')",
        first, event, user, uuid.uuid5(uuid.NAMESPACE_URL, user),
    )  # fmt: skip
    # Blocks on the uncommitted row; once it commits, the statement's snapshot does not see it.
    adding = asyncio.create_task(store.add_reading_preferences(_notice(user, event)))
    await asyncio.sleep(0.3)
    assert not adding.done()
    await other.commit()
    row, prefs = await asyncio.wait_for(adding, 10)
    assert (row.id, row.title) == (first, "First")
    assert [(p.kind, p.channel, p.enabled) for p in prefs] == [("loan.active", "sms", True)]
