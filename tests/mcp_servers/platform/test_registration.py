"""A served server keeps itself registered with the registry (the sandbox's, over real HTTP):
tools with annotations, heartbeats, deactivation on shutdown, and riding out registry outages."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from fastmcp import Client

from adapters.sandbox.registry import RegistryState, build_registry_app
from mcp_servers.composition import build_server
from mcp_servers.config import Settings, load_settings
from mcp_servers.platform.registration import (
    DEFAULT_REGISTRY_URL,
    public_url,
    registration,
    registry_url,
    service_config,
)
from mcp_servers.runtime import Runtime
from tests.helpers.common import (
    SERVICE_KEY,
    caas_command,
    caas_env,
    database_env,
    free_port,
    reserved_port,
    serving,
)
from tests.helpers.registry import eventually
from tools.platform.principal import Principal, Role
from tools.platform.registration import Registrar

FAST = {"registry_heartbeat_seconds": 0.05, "registry_retry_seconds": 0.05, "registry_timeout_seconds": 2.0}


@contextlib.asynccontextmanager
async def running(
    settings: Settings, registry_at: str, *, service: str | None = None, **overrides: Any
) -> AsyncIterator[tuple[str, Runtime, Registrar]]:
    """The server served over HTTP on a free port with registration on, as ``caas serve`` runs it."""
    runtime = Runtime(settings.model_copy(update={**FAST, "mcp_server_url": registry_at, **overrides}))
    async with runtime.session():
        server = build_server(runtime, service, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
        port = free_port()
        uv = uvicorn.Server(
            uvicorn.Config(
                server.http_app(path="/mcp", stateless_http=True),
                host="127.0.0.1",
                port=port,
                lifespan="on",
                log_level="warning",
            )
        )
        async with registration(
            runtime, server, service=service, host="127.0.0.1", port=port, serving=lambda: uv.started
        ) as registrar:
            task = asyncio.create_task(uv.serve())
            try:
                await eventually(lambda: uv.started or task.done())
                assert not task.done(), "uvicorn stopped at start-up"
                yield f"http://127.0.0.1:{port}", runtime, registrar
            finally:
                uv.should_exit = True
                await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def sandbox_registry(
    port: int | None = None, state: RegistryState | None = None, *, sock: socket.socket | None = None
) -> AsyncIterator[tuple[str, RegistryState]]:
    state = state if state is not None else RegistryState()
    async with serving(build_registry_app(state), port, sock=sock) as url:
        yield url, state


async def health(base_url: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url) as http:
        return await http.get("/health")


async def registry_state(base_url: str) -> str:
    return str((await health(base_url)).json()["registry"]["state"])


async def test_the_composed_server_registers_as_caas_with_every_tool_and_its_annotations(
    settings: Settings,
) -> None:
    async with sandbox_registry() as (registry, state), running(settings, registry) as (base, runtime, _):
        await eventually(lambda: "caas" in state.services)
        config = state.services["caas"].config
        server = build_server(runtime)
        listed = {t.name: t for t in await server.list_tools(run_middleware=False)}

    assert config["url"] == f"{base}/mcp"
    assert config["transport"] == "streamable-http"
    assert config["health_url"] == f"{base}/ready"  # the readiness probe: 503 while a dependency is down
    assert config["metrics_url"] == f"{base}/metrics"
    assert config["version"]
    assert "caas" in config["tags"]
    assert {t["name"] for t in config["tools"]} == set(listed)
    submit = next(t for t in config["tools"] if t["name"] == "credit_submit_application")
    assert submit["description"] == listed["credit_submit_application"].description
    assert submit["annotations"] == {
        "title": "Submit a credit application",
        "readOnlyHint": False,
        "destructiveHint": False,
        "idempotentHint": False,
        "openWorldHint": False,
    }
    assert next(t for t in config["tools"] if t["name"] == "credit_get_application")["annotations"][
        "readOnlyHint"
    ]


async def test_heartbeats_follow_and_health_shows_registered_then_shutdown_deactivates(
    settings: Settings,
) -> None:
    async with sandbox_registry() as (registry, state):
        async with running(settings, registry) as (base, _, registrar):
            await eventually(lambda: "caas" in state.services and state.services["caas"].heartbeats >= 2)
            response = await health(base)
            assert response.status_code == 200
            shown = response.json()["registry"]
            assert shown["state"] == "registered"
            assert shown["registry_url"] == registry
            assert shown["last_heartbeat_at"] is not None
            # The registry's own view, probing our /health as the real one does.
            async with httpx.AsyncClient() as http:
                status = (await http.get(f"{registry}/api/services/caas/status")).json()
            assert status["active"] is True
            assert status["health"]["status"] == "healthy"
        assert state.services["caas"].active is False
        assert registrar.state.value == "deactivated"


async def test_one_service_registers_as_caas_service_with_its_own_tools_only(settings: Settings) -> None:
    async with (
        sandbox_registry() as (registry, state),
        running(settings, registry, service="credit") as _,
    ):
        await eventually(lambda: "caas-credit" in state.services)
        names = {t["name"] for t in state.services["caas-credit"].config["tools"]}
    assert "submit_application" in names
    assert state.services["caas-credit"].config["tags"] == ["caas", "credit"]
    assert not any(n.startswith(("credit_", "risk_")) for n in names)
    assert "score_application" not in names


async def test_a_registry_down_at_start_neither_stops_the_service_nor_its_health_then_it_registers_once_up(
    settings: Settings,
) -> None:
    # Held from the start: under load another test took a free_port() number before the registry bound it.
    with reserved_port() as sock:
        await _down_then_up(settings, sock)


async def _down_then_up(settings: Settings, sock: socket.socket) -> None:
    registry = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with running(settings, registry) as (base, _, registrar):
        await eventually(lambda: registrar.attempts >= 2)
        response = await health(base)
        assert response.status_code == 200
        shown = response.json()["registry"]
        assert shown["state"] == "retrying"
        assert shown["last_error"] == "RegistryUnavailable"
        assert shown["attempts"] >= 2
        # Serving MCP meanwhile.
        async with Client(f"{base}/mcp", auth=SERVICE_KEY) as client:
            assert await client.list_tools()

        async with sandbox_registry(sock=sock) as (_, state):
            await eventually(lambda: "caas" in state.services)

            async def shown_registered() -> bool:
                return await registry_state(base) == "registered"

            await eventually(shown_registered)


async def test_a_registry_answering_503_shows_as_retrying_and_is_rejoined_when_it_recovers(
    settings: Settings,
) -> None:
    async with sandbox_registry() as (registry, state), running(settings, registry) as (base, _, registrar):
        await eventually(lambda: "caas" in state.services)
        state.down = True
        await eventually(lambda: registrar.state.value == "retrying")
        assert (await health(base)).json()["registry"]["last_error"] == "RegistryUnavailable"
        state.down = False
        await eventually(lambda: registrar.state.value == "registered")
        assert state.services["caas"].activations >= 2


async def test_a_registry_that_restarts_and_forgets_us_gets_us_back_after_a_heartbeat_404(
    settings: Settings,
) -> None:
    async with sandbox_registry() as (registry, state), running(settings, registry) as (_, _, registrar):
        await eventually(lambda: registrar.registrations == 1 and state.services["caas"].heartbeats >= 1)
        state.services.clear()  # what a restart of an in-memory registry does
        await eventually(lambda: registrar.registrations == 2 and "caas" in state.services)
        assert registrar.last_error == "ServiceNotRegistered"
        assert registrar.state.value == "registered"


async def test_a_registry_process_restarted_on_the_same_address_gets_us_back(settings: Settings) -> None:
    with reserved_port() as sock:
        port = sock.getsockname()[1]
        async with running(settings, f"http://127.0.0.1:{port}") as (base, _, registrar):
            async with sandbox_registry(sock=sock) as (_, first):
                await eventually(lambda: "caas" in first.services and registrar.state.value == "registered")
            # That registry process is gone; the service carries on and says so.
            await eventually(lambda: registrar.state.value == "retrying")
            assert (await health(base)).status_code == 200
            await _restarted(registrar, port)


async def _restarted(registrar: Registrar, port: int) -> None:
    with reserved_port(port) as sock:  # a new process, with no state, on the same address
        async with sandbox_registry(sock=sock) as (_, second):
            await eventually(lambda: "caas" in second.services and registrar.state.value == "registered")
        assert registrar.registrations >= 2


async def test_without_mcp_server_url_the_service_registers_with_the_sandbox_the_runtime_started(
    settings: Settings,
) -> None:
    if settings.onasis_gateway_url is not None:
        pytest.skip("the test settings configure a gateway, so no sandbox runs")
    async with running(settings, None) as (base, runtime, registrar):  # type: ignore[arg-type]
        assert runtime.sandbox is not None
        sandbox = runtime.sandbox
        await eventually(
            lambda: "caas" in sandbox.registry.services and registrar.state.value == "registered"
        )
        assert registrar.registry_url == sandbox.registry_url
        assert sandbox.registry.services["caas"].config["url"] == f"{base}/mcp"


async def test_credentials_in_mcp_server_url_never_show_in_health(settings: Settings) -> None:
    async with sandbox_registry() as (registry, _):
        with_password = registry.replace("http://", "http://caas:s3cret-pw@")
        async with running(settings, with_password) as (base, _, registrar):
            await eventually(lambda: registrar.state.value == "registered")
            shown = (await health(base)).text
    assert "s3cret-pw" not in shown
    assert registry in shown


async def test_with_registration_off_nothing_is_sent_and_health_says_disabled(settings: Settings) -> None:
    async with (
        sandbox_registry() as (registry, state),
        running(settings, registry, registry=False) as (base, _, _),
    ):
        assert await registry_state(base) == "disabled"
        await asyncio.sleep(0.2)  # several heartbeat intervals: still nothing sent
        assert state.services == {}


async def test_a_server_not_under_caas_serve_shows_the_registry_as_disabled(runtime: Runtime) -> None:
    from mcp_servers.platform.registration import registry_health

    assert registry_health(runtime) == {"state": "disabled"}


def test_the_registry_is_mcp_server_url_else_the_sandbox_registry_else_the_contract_default(
    settings: Settings,
) -> None:
    configured = SimpleNamespace(settings=settings.model_copy(update={"mcp_server_url": "http://reg:9/"}))
    assert registry_url(configured) == "http://reg:9"  # type: ignore[arg-type]
    unset = settings.model_copy(update={"mcp_server_url": None})
    with_sandbox = SimpleNamespace(
        settings=unset, sandbox=SimpleNamespace(registry_url="http://127.0.0.1:41234")
    )
    assert registry_url(with_sandbox) == "http://127.0.0.1:41234"  # type: ignore[arg-type]
    assert registry_url(SimpleNamespace(settings=unset, sandbox=None)) == DEFAULT_REGISTRY_URL  # type: ignore[arg-type]


def test_the_announced_url_is_caas_public_url_with_the_server_name_else_the_bind_address(
    settings: Settings,
) -> None:
    assert public_url(settings, "caas", "127.0.0.1", 3013) == "http://127.0.0.1:3013/mcp"
    assert public_url(settings, "caas", "::1", 3013) == "http://[::1]:3013/mcp"
    assert "0.0.0.0" not in public_url(settings, "caas", "0.0.0.0", 3013)
    templated = settings.model_copy(update={"public_url": "https://{service}.caas.example.com/mcp"})
    assert public_url(templated, "caas-risk", "0.0.0.0", 3005) == "https://caas-risk.caas.example.com/mcp"


async def test_readiness_and_metrics_are_announced_beside_a_public_mcp_url(runtime: Runtime) -> None:
    config = await service_config(
        build_server(runtime, "risk"), "https://risk.example.com/mcp", ["caas"], "1"
    )
    assert config.health_url == "https://risk.example.com/ready"
    assert config.metrics_url == "https://risk.example.com/metrics"


@pytest.mark.parametrize("value", ["ftp://x/mcp", "not a url", "https://x/mcp?token=1"])
def test_a_public_url_that_is_not_http_is_a_configuration_error_naming_it(value: str) -> None:
    from mcp_servers.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_settings(public_url=value)
    assert "CAAS_PUBLIC_URL" in str(caught.value)


@pytest.mark.subprocess
async def test_caas_serve_registers_and_deactivates_when_stopped_with_sigterm(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    assert settings.database_url is not None and settings.supabase_db_url is not None
    port = free_port()
    async with sandbox_registry() as (registry, state):
        proc = await asyncio.create_subprocess_exec(
            *caas_command(),
            "serve",
            "--port",
            str(port),
            env=caas_env(
                CAAS_DATA_DIR=str(tmp_path / "data"),
                **database_env(settings),
                MCP_SERVER_URL=registry,
                CAAS_WORKERS="false",  # the shared test database's queues belong to the other tests
                CAAS_REGISTRY_HEARTBEAT_SECONDS="0.1",
                CAAS_REGISTRY_RETRY_SECONDS="0.1",
                CAAS_SANDBOX="true",
            ),
            cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await eventually(lambda: "caas" in state.services or proc.returncode is not None, within=60)
            assert proc.returncode is None, "caas serve exited"
            entry = state.services["caas"]
            assert entry.config["url"] == f"http://127.0.0.1:{port}/mcp"
            await eventually(lambda: entry.heartbeats >= 1, within=60)
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, err.decode()
        assert state.services["caas"].active is False
