"""The notifications server when Supabase is reachable only over HTTP: a runtime configured with
NEON_DATABASE_URL, SUPABASE_URL and the service-role key (no SUPABASE_DB_URL), with a real loopback
double of PostgREST as the Supabase project. The support-chat and notification behaviours of
test_support_chat.py and test_notifications.py run again here, unchanged, through MCP clients; on top,
PostgREST down or refusing the key is an ``unavailable`` tool error and a retried job, never a crash.

The behaviours that need KYC documents (Supabase Storage) are covered against Storage's own double in
test_documents_supabase.py; the ones here need none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastmcp import Client, FastMCP
from pydantic import HttpUrl, SecretStr

from adapters.notifications.postgrest_notifications import PostgrestNotificationStore
from adapters.notifications.postgrest_support_chat import PostgrestSupportStore
from mcp_servers.composition import build_server
from mcp_servers.config import Settings
from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.errors import error_of
from tests.helpers.notifications import LIST, OPEN, call, inbox, refused, settle, uid
from tests.helpers.postgrest_double import PostgrestDouble, postgrest_double
from tests.helpers.risk import submitted

# Collected here again: the same behaviours, this time over PostgREST (the fixtures below).
from tests.mcp_servers.notifications.test_notifications import (  # noqa: F401
    test_a_borrower_can_neither_see_nor_mark_another_borrowers_notifications,
    test_a_failing_channel_is_retried_alone_and_sent_once,
    test_a_redelivered_event_does_not_notify_twice,
    test_marking_read_is_idempotent_and_the_unread_filter_follows_it,
    test_preferences_default_to_in_app_only_and_keep_what_is_left_out,
    test_with_sms_on_the_borrower_gets_an_sms_through_the_gateway_and_no_email,
)
from tests.mcp_servers.notifications.test_support_chat import (  # noqa: F401
    test_a_borrower_opens_a_conversation_and_reads_it_back,
    test_a_closed_conversation_refuses_messages_and_closing_again_changes_nothing,
    test_an_operator_answers_and_the_owner_is_notified_and_sees_it_unread,
    test_another_borrower_can_neither_read_nor_post_nor_find_a_conversation,
    test_messages_read_a_page_at_a_time_oldest_first,
    test_who_may_open_a_conversation_and_about_which_application,
)
from tools.platform.principal import Role

KEY = "service-role-key-of-the-postgrest-double"


@pytest.fixture(scope="module")
async def postgrest(fresh_database) -> AsyncIterator[PostgrestDouble]:  # type: ignore[no-untyped-def]
    # The double serves the Supabase tables from the database the runtime also uses as its system of
    # record (where the runtime puts them when SUPABASE_DB_URL is unset); the runtime itself only
    # reaches them over HTTP.
    dsn = await fresh_database()
    async with postgrest_double(dsn, KEY) as double:
        yield double


@pytest.fixture(scope="module")
async def runtime(
    settings: Settings,
    postgrest: PostgrestDouble,
    tmp_path_factory: pytest.TempPathFactory,
    session_clock: MovableClock,
) -> AsyncIterator[Runtime]:
    over_http = settings.model_copy(
        update={
            "database_url": SecretStr(postgrest.dsn),
            "direct_url": None,  # a database of its own, direct (the pooled run set another)
            "database_pooled": None,
            "supabase_db_url": None,
            "supabase_url": HttpUrl(postgrest.url),
            "supabase_service_role_key": SecretStr(KEY),
            "data_dir": Path(tmp_path_factory.mktemp("postgrest-data")),
        }
    )
    rt = Runtime(over_http, clock=session_clock)  # the clock the ``clock`` fixture moves
    async with rt.session():
        yield rt


@pytest.fixture(scope="module")
def server(runtime: Runtime) -> FastMCP:
    return build_server(runtime)


async def test_with_only_the_supabase_url_and_key_notifications_and_chat_go_over_postgrest(
    client: Client, principal: Any, runtime: Runtime, postgrest: PostgrestDouble
) -> None:
    assert isinstance(runtime.deps.notifications.store, PostgrestNotificationStore)
    assert isinstance(runtime.deps.notifications.support, PostgrestSupportStore)
    before = len(postgrest.seen)
    app = await submitted(client, principal)
    await settle(runtime)
    await call(client, OPEN, {"subject": "Hello", "message": "Is anyone there?"})
    tables = {r.table for r in postgrest.seen[before:]}
    assert {"notifications", "support_conversations", "support_messages", "application_status"} <= tables
    assert [n["kind"] for n in await inbox(client, principal, app["borrower_id"])] == ["application_received"]


async def test_postgrest_down_is_unavailable_to_the_tools_and_the_notification_job_retries(
    client: Client,
    principal: Any,
    runtime: Runtime,
    postgrest: PostgrestDouble,
    core_db: asyncpg.Connection,
    clock: MovableClock,
) -> None:
    app = await submitted(client, principal)
    postgrest.down = True
    try:
        assert await refused(client, LIST, {}) == "unavailable"
        assert await refused(client, OPEN, {"subject": "Hello", "message": "Anyone?"}) == "unavailable"
        await settle(runtime)
        job = await core_db.fetchrow(
            "SELECT done_at, attempts, last_error FROM caas_core.jobs "
            "WHERE queue = 'notifications' AND payload ->> 'application_id' = $1",
            app["id"],
        )
        assert job is not None and (job["done_at"], job["attempts"]) == (None, 1)
        assert "Supabase" in job["last_error"]  # a RetryLater: its reason is kept, no traceback
    finally:
        postgrest.down = False
    # Supabase is back and the clock is past the retries' backoff: the borrower is told once.
    clock.move(minutes=1)
    await settle(runtime)
    assert [n["kind"] for n in await inbox(client, principal, app["borrower_id"])] == ["application_received"]


async def test_a_refused_service_role_key_is_an_unavailable_error_that_names_the_setting(
    client: Client, principal: Any, postgrest: PostgrestDouble
) -> None:
    principal(uid("b-key"), Role.BORROWER)
    postgrest.key = "a-rotated-key"
    try:
        result = await client.call_tool(LIST, {}, raise_on_error=False)
    finally:
        postgrest.key = KEY
    error = error_of(result)
    assert error is not None
    assert error["code"] == "unavailable"
    assert "SUPABASE_SERVICE_ROLE_KEY" in error["message"] and KEY not in error["message"]
    assert (await call(client, LIST, {}))["items"] == []
