"""Running the deployment files' programs in tests: host names resolved in a private /etc/hosts (so the
shipped files are checked as they are, with the names compose gives), ``caas serve`` processes on free
ports, and waiting for a URL to answer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx

from tests.helpers.common import REPO_ROOT, SERVICE_KEY, caas_command, caas_env, free_port

DEPLOY = REPO_ROOT / "deploy"


def program(name: str) -> str:
    """The path of a program the deployment tests run; its absence fails the test with how to install it
    (``.ci/run`` installs them from Debian's packages)."""
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None
    )
    assert found, f"{name} is not installed: apt-get install -y nginx prometheus docker-compose (see .ci/run)"
    return found


def with_hosts(command: Sequence[str], hosts: dict[str, str], workdir: Path) -> list[str]:
    """``command`` run in a mount namespace of its own whose /etc/hosts maps ``hosts`` (name -> address;
    a name listed twice resolves to both): the machine's /etc/hosts is never touched."""
    lines = ["127.0.0.1 localhost", *(f"{address} {name}" for name, address in hosts.items())]
    path = workdir / "hosts"
    path.write_text("\n".join(lines) + "\n")
    # Unprivileged runs map themselves to root inside a user namespace to be allowed the bind mount.
    unshare = ["unshare", "--mount", *(["--map-root-user"] if os.geteuid() != 0 else [])]
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return [*unshare, "sh", "-c", script, str(path), *command]


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


@contextlib.asynccontextmanager
async def caas_serve(
    workdir: Path, name: str, *args: str, **env: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """``caas serve ARGS`` on a free loopback port (its log in ``workdir/<name>.log``); yields the
    process and port once /ready answers, and stops it with SIGTERM."""
    port = free_port()
    os.makedirs(workdir, exist_ok=True)
    with (workdir / f"{name}.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *caas_command(),
            "serve",
            *args,
            "--port",
            str(port),
            env=caas_env(
                CAAS_DATA_DIR=str(workdir / f"{name}-data"),
                CAAS_SERVICE_API_KEY=SERVICE_KEY,
                CAAS_REGISTRY="false",
                CAAS_WORKERS="false",
                CAAS_POOL_MIN_SIZE="1",
                CAAS_POOL_MAX_SIZE="4",
                **env,
            ),
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        await wait_ready(f"http://127.0.0.1:{port}/ready", proc)
        yield proc, port
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
