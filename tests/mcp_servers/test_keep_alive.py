"""A real ``caas serve`` keeps an idle connection open longer than its clients do (httpx 5 s, nginx's
upstream keep-alive 60 s), so it is always the client that closes one: a request sent on a connection the
server was closing at that instant would get no answer (a 502 through nginx, a ReadError direct)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mcp_servers.platform.serving import KEEP_ALIVE_S
from tests.helpers.caas_process import serve_process
from tests.helpers.common import caas_env
from tests.helpers.raw_http import get_status, held_connection

pytestmark = pytest.mark.subprocess


def test_the_server_outlasts_the_keep_alive_of_httpx_and_nginx() -> None:
    assert KEEP_ALIVE_S > 60


async def test_an_idle_connection_is_still_open_after_httpxs_keep_alive_has_run_out(
    fresh_database: Any, tmp_path: Path
) -> None:
    env = caas_env(
        CAAS_DATA_DIR=str(tmp_path / "data"),
        CAAS_REGISTRY="false",
        CAAS_WORKERS="false",
        CAAS_SANDBOX="true",
        NEON_DATABASE_URL=await fresh_database(),
        SUPABASE_DB_URL=await fresh_database(),
    )
    async with (
        serve_process((), env, tmp_path) as (_, port),
        held_connection(f"http://127.0.0.1:{port}") as conn,
    ):
        host = f"127.0.0.1:{port}"
        assert await get_status(conn, host, "/health") == b"HTTP/1.1 200 OK"
        await asyncio.sleep(6.5)  # beyond uvicorn's default of 5 s, which closed it
        assert await get_status(conn, host, "/health") == b"HTTP/1.1 200 OK"
