"""deploy/ecosystem.config.cjs with the real pm2 (issue 12, part 4): started from a directory that is not
the repository, every server this build has answers /ready on its plan port against a fresh database,
the worker runs, each process logs JSON to its own file, and ``pm2 stop`` ends them all cleanly.

The file puts servers on the plan's ports, so those must be free: the test says which one is not. pm2
is the version deploy/pm2/package-lock.json pins, installed with ``npm ci``; its home is the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcp_servers.composition import PLAN_PORTS, SERVICES
from mcp_servers.fronts import FRONT_PORTS
from tests.helpers.caas_process import wait_ready
from tests.helpers.common import caas_command, caas_env, free_port
from tests.helpers.deploy import DEPLOY

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

PM2_DIR = DEPLOY / "pm2"
ECOSYSTEM = DEPLOY / "ecosystem.config.cjs"


@pytest.fixture(scope="module")
def pm2() -> Path:
    """pm2 at the version package.json pins, installed once with ``npm ci`` and then reused."""
    pinned = json.loads((PM2_DIR / "package.json").read_text())["dependencies"]["pm2"]
    installed = PM2_DIR / "node_modules" / "pm2" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != pinned:
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=PM2_DIR, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-2000:]
    return PM2_DIR / "node_modules" / ".bin" / "pm2"


def ecosystem_apps() -> list[dict[str, Any]]:
    script = f"console.log(JSON.stringify(require({json.dumps(str(ECOSYSTEM))}).apps))"
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60, check=True)
    apps: list[dict[str, Any]] = json.loads(done.stdout)
    return apps


def port_of(app: dict[str, Any]) -> int | None:
    args = app["args"]
    return int(args[args.index("--port") + 1]) if "--port" in args else None


def test_the_ecosystem_runs_every_server_of_the_plan_on_its_port_and_a_worker() -> None:
    apps = {app["name"]: app for app in ecosystem_apps()}
    servers = {name: port_of(app) for name, app in apps.items() if app["args"][0] == "serve"}
    assert servers == {
        **{("caas" if s == "caas" else f"caas-{s}"): port for s, port in PLAN_PORTS.items()},
        **{f"caas-front-{f}": port for f, port in FRONT_PORTS.items()},
    }
    for front in FRONT_PORTS:
        assert apps[f"caas-front-{front}"]["args"][:3] == ["serve", "--front", front]
    assert apps["caas-worker"]["args"] == ["worker"]
    for app in apps.values():
        assert Path(app["cwd"]) == DEPLOY.parent  # wherever pm2 is started from
        assert app["kill_timeout"] > 20_000  # more than CAAS_SHUTDOWN_GRACE_S (20 s)
        assert app["env"]["CAAS_WORKERS"] == "false" and app["env"]["CAAS_LOG_FORMAT"] == "json"
        assert app["error_file"].endswith(f"{app['name']}.log")


def check_free(ports: dict[str, int]) -> None:
    for name, port in ports.items():
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                pytest.fail(
                    f"port {port} ({name}) is in use: the ecosystem runs on the plan's ports; free it"
                )


def served() -> list[str]:
    """The apps of this build: the composed server, each service SERVICES has, the fronts, the worker."""
    fronts = [f"caas-front-{front}" for front in FRONT_PORTS]
    return ["caas", *(f"caas-{s}" for s in SERVICES), *fronts, "caas-worker"]


@contextlib.asynccontextmanager
async def sandbox(work: Path, secrets: dict[str, str]) -> AsyncIterator[dict[str, str]]:
    """A ``caas sandbox`` (the gateway and registry) on free ports, posting webhooks to payments."""
    gateway, registry = free_port(), free_port()
    args = [
        "--port",
        str(gateway),
        "--registry-port",
        str(registry),
        "--webhook-url",
        "http://127.0.0.1:3006",
    ]
    with (work / "sandbox.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *caas_command(), "sandbox", *args, env=caas_env(**secrets), cwd=work, stdout=log, stderr=log
        )
    try:
        await wait_ready(f"http://127.0.0.1:{gateway}/health", proc, within=60)
        yield {
            "ONASIS_GATEWAY_URL": f"http://127.0.0.1:{gateway}",
            "MCP_SERVER_URL": f"http://127.0.0.1:{registry}",
        }
    finally:
        proc.terminate()
        await proc.wait()


def run_pm2(pm2: Path, env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([str(pm2), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@contextlib.contextmanager
def pm2_home(pm2: Path, env: dict[str, str], cwd: Path) -> Iterator[None]:
    try:
        yield
    finally:
        subprocess.run([str(pm2), "kill"], env=env, cwd=cwd, capture_output=True, timeout=120)


async def test_pm2_starts_every_server_healthy_and_stops_them_cleanly(
    pm2: Path, fresh_database: Any, tmp_path: Path
) -> None:
    names = served()
    ports = {app["name"]: port for app in ecosystem_apps() if app["name"] in names and (port := port_of(app))}
    check_free(ports)
    secrets = {
        "PAYSTACK_SECRET_KEY": "sk_test_" + uuid.uuid4().hex,
        "STRIPE_WEBHOOK_SECRET": "whsec_" + uuid.uuid4().hex,
    }
    logs = tmp_path / "logs"
    async with sandbox(tmp_path, secrets) as gateway:
        env = caas_env(
            PM2_HOME=str(tmp_path / "pm2-home"),
            CAAS_LOG_DIR=str(logs),
            CAAS_DATA_DIR=str(tmp_path / "data"),
            NEON_DATABASE_URL=await fresh_database(),
            CAAS_POOL_MIN_SIZE="1",
            CAAS_POOL_MAX_SIZE="3",
            **gateway,
            **secrets,
        )
        with pm2_home(pm2, env, tmp_path):
            run_pm2(pm2, env, tmp_path, "start", str(ECOSYSTEM), "--only", ",".join(names))
            await asyncio.gather(
                *(wait_ready(f"http://127.0.0.1:{port}/ready", within=240) for port in ports.values())
            )
            listed = {p["name"]: p["pm2_env"] for p in json.loads(run_pm2(pm2, env, tmp_path, "jlist"))}
            assert set(listed) == set(names)
            assert {name: (e["status"], e["restart_time"]) for name, e in listed.items()} == {
                name: ("online", 0) for name in names
            }
            for name in names:  # JSON lines of the right process in the right file
                first = json.loads((logs / f"{name}.log").read_text().splitlines()[0])
                assert first["level"] in {"INFO", "WARNING"} and "message" in first
            run_pm2(pm2, env, tmp_path, "stop", "all")
            stopped = {p["name"]: p["pm2_env"] for p in json.loads(run_pm2(pm2, env, tmp_path, "jlist"))}
            # Exit code 0: each drained within the grace period and stopped itself (pm2 never killed it).
            assert {name: (e["status"], e.get("exit_code")) for name, e in stopped.items()} == dict.fromkeys(
                names, ("stopped", 0)
            )
    async with httpx.AsyncClient(timeout=2) as http:
        for port in ports.values():
            with pytest.raises(httpx.TransportError):
                await http.get(f"http://127.0.0.1:{port}/health")
    for name in names:
        text = (logs / f"{name}.log").read_text()
        assert "Traceback" not in text, text[-2000:]
