"""``caas`` as a separate process, as an operator runs it: a command to completion, or ``caas serve``
until the test is done with it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import httpx

from tests.helpers.common import caas_command, caas_env, free_port
from tests.helpers.pgbouncer import core_env

Output = int | IO[Any] | None  # what asyncio.create_subprocess_exec takes for stdout and stderr


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


async def wait_ready(url: str, proc: asyncio.subprocess.Process | None = None, within: float = 120) -> None:
    """Until ``url`` answers 200 (the process, if given, must stay up meanwhile)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            assert proc is None or proc.returncode is None, f"the process behind {url} exited"
            assert time.monotonic() < deadline, f"{url} did not answer 200 within {within:.0f} s"
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.3)


@asynccontextmanager
async def serve_process(
    args: Sequence[str], env: dict[str, str], cwd: Path, *, output: Output = None, errors: Output = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """``caas serve --port P ARGS`` on a free loopback port; yields the process and P once /ready answers
    200, then stops it as an operator would (SIGTERM; SIGKILL after 30 s)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *caas_command(), "serve", "--port", str(port), *args,
        env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=errors,
    )  # fmt: skip
    try:
        await wait_ready(f"http://127.0.0.1:{port}/ready", proc, within=90)
        yield proc, port
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@asynccontextmanager
async def caas_serve(env: dict[str, str], cwd: Path) -> AsyncIterator[str]:
    """``caas serve`` on a free port with its workers; yields its /mcp URL once /ready answers 200."""
    async with serve_process((), env, cwd) as (_, port):
        yield f"http://127.0.0.1:{port}/mcp"


async def demo_environment(fresh_database: Callable[[], Awaitable[str]], data_dir: Path) -> dict[str, str]:
    """``caas serve`` and ``caas demo``'s environment on two new databases of the test's PostgreSQL."""
    # The test's PostgreSQL stands in for the embedded one (the CI smoke runs the embedded default);
    # local tokens and simulated money are what the embedded default turns on by itself. In the pooled
    # run the request pools go through PgBouncer (core_env).
    core, supabase = await fresh_database(), await fresh_database()
    return caas_env(
        CAAS_DATA_DIR=str(data_dir),
        **core_env(core),
        SUPABASE_DB_URL=supabase,
        CAAS_SANDBOX="true",
        CAAS_LOCAL_TOKENS="true",
        CAAS_REGISTRY="false",
    )
