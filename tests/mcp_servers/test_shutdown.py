"""Graceful shutdown of a real ``caas serve`` process (issue 10, item 8): on SIGTERM the call in flight
finishes with its result, new requests are answered 503, and the process exits 0."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.caas_process import serve_process
from tests.helpers.common import SERVICE_KEY, TcpProxy, caas_command, caas_env, dsn_proxy, free_port
from tests.helpers.pgbouncer import core_env

pytestmark = pytest.mark.subprocess

LIST = "credit_list_applications"
VERSION = "2026-07-28"


@asynccontextmanager
async def caas_serve(tmp_path: Path, **env: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``caas serve`` on a free port; yields the process and its base URL once /ready answers 200."""
    settings = caas_env(
        CAAS_DATA_DIR=str(tmp_path / "data"),
        CAAS_SERVICE_API_KEY=SERVICE_KEY,
        CAAS_REGISTRY="false",
        CAAS_SANDBOX="true",
        **env,
    )
    async with serve_process((), settings, tmp_path, errors=asyncio.subprocess.PIPE) as (proc, port):
        yield proc, f"http://127.0.0.1:{port}"


async def call_list(base: str) -> httpx.Response:
    """One ``tools/call`` as one HTTP request (MCP 2026-07-28). Not ``fastmcp.Client``: it sends
    requests of its own around the call (discovery, the tool list), which a draining server rightly
    refuses; the request in flight is what must finish."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": LIST,
            "arguments": {"limit": 1},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
            },
        },
    }
    headers = {
        "Authorization": f"Bearer {SERVICE_KEY}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": VERSION,
        "Mcp-Method": "tools/call",
        "Mcp-Name": LIST,
    }
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(f"{base}/mcp", json=body, headers=headers)


async def list_applications(base: str) -> dict[str, Any]:
    response = await call_list(base)
    assert response.status_code == 200, response.text
    return dict(response.json()["result"])


async def test_sigterm_lets_the_call_in_flight_finish_refuses_new_ones_with_503_and_exits_0(
    fresh_database: Any, tmp_path: Path
) -> None:
    core, supabase = await fresh_database(), await fresh_database()
    async with (
        dsn_proxy(core) as (proxy, core_dsn),
        caas_serve(tmp_path, NEON_DATABASE_URL=core_dsn, SUPABASE_DB_URL=supabase) as (proc, base),
    ):
        assert "items" in (await list_applications(base))["structuredContent"]  # at full speed
        # Each way through the proxy waits this long: a read is one round trip since a released
        # connection runs no reset query, and must still be in flight after the signal and the two
        # requests below, however slow the machine (at 1.0 s a loaded CI machine finished it first).
        slow_database(proxy, 2.0)
        call = asyncio.create_task(list_applications(base))
        await asyncio.sleep(1.0)
        assert not call.done(), "the call finished before the signal; the database is not slow enough"
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient(base_url=base) as http:
            late = await http.post(
                "/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={
                    "Authorization": f"Bearer {SERVICE_KEY}",
                    "Accept": "application/json, text/event-stream",
                },
            )
            assert late.status_code == 503
            assert (await http.get("/ready")).status_code == 503
        assert not call.done()
        result = await asyncio.wait_for(call, 30)
        assert result["isError"] is False
        assert "items" in result["structuredContent"]  # the whole answer, not an empty event stream
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert proc.stderr is not None
        assert b"Traceback" not in await proc.stderr.read()


async def test_the_grace_period_bounds_how_long_a_call_in_flight_keeps_the_process_up(
    fresh_database: Any, tmp_path: Path
) -> None:
    core, supabase = await fresh_database(), await fresh_database()
    async with (
        dsn_proxy(core) as (proxy, core_dsn),
        caas_serve(
            tmp_path, NEON_DATABASE_URL=core_dsn, SUPABASE_DB_URL=supabase, CAAS_SHUTDOWN_GRACE_S="1"
        ) as (proc, base),
    ):
        slow_database(proxy, 30)  # a call that would take minutes
        call = asyncio.create_task(call_list(base))
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        # The grace period, uvicorn's own two seconds and the database pools' closing; not 30 s.
        assert time.monotonic() - signalled < 15
        cut_off = await asyncio.wait_for(call, 5)
        assert cut_off.status_code == 503  # try elsewhere; never a 500


def slow_database(proxy: TcpProxy, seconds: float) -> None:
    proxy.delay = seconds


async def test_caas_worker_stops_on_sigterm_and_exits_0(fresh_database: Any, tmp_path: Path) -> None:
    env = caas_env(
        CAAS_DATA_DIR=str(tmp_path / "data"),
        **core_env(await fresh_database()),
        SUPABASE_DB_URL=await fresh_database(),
        ONASIS_GATEWAY_URL=f"http://127.0.0.1:{free_port()}",
    )
    proc = await asyncio.create_subprocess_exec(
        *caas_command(),
        "worker",
        env=env,
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        while b"worker running" not in (line := await asyncio.wait_for(proc.stderr.readline(), 60)):
            assert line, "caas worker exited before it ran"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0  # not killed by the signal (-15)
        assert b"Traceback" not in await proc.stderr.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
