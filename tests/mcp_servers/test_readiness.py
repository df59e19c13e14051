"""``/ready`` checks the Supabase APIs the server depends on, not only its databases (issue 10, item 9):
with SUPABASE_URL set (and no SUPABASE_DB_URL), PostgREST and Storage are probed, against real loopback
doubles of both, and either one down makes the server unready while ``/health`` stays 200."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import HttpUrl, SecretStr
from starlette.applications import Starlette
from starlette.routing import Route

from mcp_servers.composition import build_server
from mcp_servers.config import Settings
from mcp_servers.runtime import Runtime
from tests.helpers.common import serving
from tests.helpers.fake_storage import FakeStorage
from tests.helpers.postgrest_double import PostgrestDouble

KEY = "service-role-key-of-the-supabase-doubles"
BUCKET = "caas-documents"


@pytest.fixture
async def supabase(fresh_database: Any) -> AsyncIterator[tuple[PostgrestDouble, FakeStorage]]:
    """One loopback "Supabase project": PostgREST and Storage doubles behind one URL, as SUPABASE_URL is."""
    rest, storage = PostgrestDouble(await fresh_database(), KEY), FakeStorage(KEY, BUCKET)
    app = Starlette(
        routes=[
            Route("/rest/v1/{table}", rest.handle, methods=["GET", "HEAD", "POST", "PATCH", "DELETE"]),
            Route("/storage/v1/bucket/{bucket}", storage.describe_bucket, methods=["GET"]),
        ]
    )
    async with serving(app, lifespan="off") as url:
        rest.url = storage.url = url
        yield rest, storage


async def status(http: httpx.AsyncClient, wanted: int) -> dict[str, Any]:
    started = time.monotonic()
    while (response := await http.get("/ready")).status_code != wanted:
        assert time.monotonic() - started < 5, f"/ready not {wanted} within 5 s: {response.text}"
        await asyncio.sleep(0.1)
    return dict(response.json()["dependencies"])


async def test_ready_is_503_while_postgrest_or_storage_is_down_and_health_stays_200(
    settings: Settings, supabase: tuple[PostgrestDouble, FakeStorage], tmp_path: Path
) -> None:
    rest, storage = supabase
    over_http = settings.model_copy(
        update={
            "database_url": SecretStr(rest.dsn),
            "direct_url": None,  # a database of its own, direct (the pooled run set another)
            "database_pooled": None,
            "supabase_db_url": None,
            "supabase_url": HttpUrl(rest.url),
            "supabase_service_role_key": SecretStr(KEY),
            "supabase_storage_bucket": BUCKET,
            "data_dir": tmp_path,
        }
    )
    server = build_server(Runtime(over_http))
    async with serving(server.http_app(path="/mcp")) as url, httpx.AsyncClient(base_url=url) as http:
        deps = await status(http, 200)
        assert deps["supabase_rest"]["status"] == "up"
        assert deps["supabase_storage"]["status"] == "up"
        rest.down = True
        assert (await status(http, 503))["supabase_rest"]["status"] == "down"
        assert (await http.get("/health")).status_code == 200
        rest.down = False
        await status(http, 200)
        storage.mode = "status"
        deps = await status(http, 503)
        assert deps["supabase_storage"]["status"] == "down"
        assert deps["supabase_rest"]["status"] == "up"
        health = await http.get("/health")
        assert health.status_code == 200
        assert health.json()["dependencies"]["supabase_storage"]["status"] == "down"
