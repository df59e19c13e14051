"""The PostgREST double of this folder's tests: a real loopback server running each request against the
Supabase test database, and the writers that talk to it with the double's service-role key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from adapters.notifications.supabase_sync import PostgrestStatusMirror
from adapters.platform.supabase_rest import SupabaseRest
from mcp_servers.runtime import Runtime
from tests.helpers.postgrest_double import DOUBLE_KEY, PostgrestDouble, postgrest_double


@pytest.fixture
async def postgrest(runtime: Runtime) -> AsyncIterator[PostgrestDouble]:
    """A PostgREST double of its own (its record of requests starts empty)."""
    assert runtime.targets is not None
    async with postgrest_double(runtime.targets.supabase, DOUBLE_KEY) as double:
        yield double


@pytest.fixture
async def rest(postgrest: PostgrestDouble) -> AsyncIterator[SupabaseRest]:
    """supabase-py's async client of the double, as the notification and support stores use it."""
    async with aclosing(SupabaseRest(postgrest.url, DOUBLE_KEY, timeout=10)) as connection:
        yield connection


@pytest.fixture
async def rest_mirror(postgrest: PostgrestDouble) -> AsyncIterator[PostgrestStatusMirror]:
    """The status mirror's PostgREST writer, against the double."""
    async with aclosing(PostgrestStatusMirror(postgrest.url, DOUBLE_KEY, timeout=10)) as mirror:
        yield mirror
