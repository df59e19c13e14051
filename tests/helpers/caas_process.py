"""``caas`` as a separate process, as an operator runs it: a command to completion, or ``caas serve``
until the test is done with it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.helpers.common import caas_command, caas_env, free_port


async def run(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *caas_command(),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 300)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@asynccontextmanager
async def caas_serve(env: dict[str, str], cwd: Path) -> AsyncIterator[str]:
    """``caas serve`` on a free port with its workers; yields its /mcp URL once /ready answers 200."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *caas_command(), "serve", "--port", str(port), env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            deadline = time.monotonic() + 90
            while True:
                assert proc.returncode is None, "caas serve exited before it was ready"
                assert time.monotonic() < deadline, "caas serve not ready within 90 s"
                try:
                    if (await http.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.3)
        yield f"{base}/mcp"
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def demo_environment(fresh_database: Callable[[], Awaitable[str]], data_dir: Path) -> dict[str, str]:
    """``caas serve`` and ``caas demo``'s environment on two new databases of the test's PostgreSQL."""
    # The test's PostgreSQL stands in for the embedded one (the CI smoke runs the embedded default);
    # local tokens and simulated money are what the embedded default turns on by itself.
    core, supabase = await fresh_database(), await fresh_database()
    return caas_env(
        CAAS_DATA_DIR=str(data_dir),
        NEON_DATABASE_URL=core,
        SUPABASE_DB_URL=supabase,
        CAAS_SANDBOX="true",
        CAAS_LOCAL_TOKENS="true",
        CAAS_REGISTRY="false",
    )
