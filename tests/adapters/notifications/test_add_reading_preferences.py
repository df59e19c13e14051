"""``NotificationStore.add_reading_preferences`` (a queued notice's in-app row and the user's preferences,
in one store transaction where the store can): through the Postgres store and through PostgREST, the
row stored as ``add`` stores it (the first one wins) and the preferences as ``preferences`` reads them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from adapters.notifications.postgrest_notifications import PostgrestNotificationStore
from adapters.platform.supabase_rest import SupabaseRest
from database.notifications.notifications import PgNotificationStore
from mcp_servers.runtime import Runtime
from tests.helpers.postgrest_double import DOUBLE_KEY, postgrest_double
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
