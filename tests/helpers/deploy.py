"""Running the deployment files' programs in tests: host names resolved in a private /etc/hosts (so the
shipped files are checked as they are, with the names compose gives), ``caas serve`` processes on free
ports, and waiting for a URL to answer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from tests.helpers.caas_process import serve_process
from tests.helpers.common import REPO_ROOT, SERVICE_KEY, caas_env

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


@contextlib.asynccontextmanager
async def caas_serve(
    workdir: Path, name: str, *args: str, **env: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """``caas serve ARGS`` on a free loopback port (its log in ``workdir/<name>.log``); yields the
    process and port once /ready answers, and stops it with SIGTERM."""
    os.makedirs(workdir, exist_ok=True)
    settings = caas_env(
        CAAS_DATA_DIR=str(workdir / f"{name}-data"),
        CAAS_SERVICE_API_KEY=SERVICE_KEY,
        CAAS_REGISTRY="false",
        CAAS_WORKERS="false",
        CAAS_POOL_MIN_SIZE="1",
        CAAS_POOL_MAX_SIZE="4",
        **env,
    )
    with (workdir / f"{name}.log").open("wb") as log:
        async with serve_process(args, settings, workdir, output=log, errors=log) as served:
            yield served
