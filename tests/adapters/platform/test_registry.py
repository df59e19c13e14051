"""The registry client against a registry served over real loopback HTTP (contract §3)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

import pytest

from adapters.platform.registry import HttpServiceRegistry
from tests.helpers.common import free_port, serving
from tests.helpers.registry import RegistryDouble
from tools.platform.ports import (
    RegisteredTool,
    RegistryRejected,
    RegistryTimeout,
    RegistryUnavailable,
    ServiceConfig,
    ServiceNotRegistered,
)

CONFIG = ServiceConfig(
    url="http://10.0.0.5:3013/mcp",
    health_url="http://10.0.0.5:3013/health",
    metrics_url="http://10.0.0.5:3013/metrics",
    version="0.1.0",
    tools=(
        RegisteredTool("credit_get_loan", "Read a loan", {"readOnlyHint": True, "idempotentHint": False}),
        RegisteredTool("credit_submit_application", "Submit", {"readOnlyHint": False}),
    ),
    tags=("caas", "credit"),
)


@pytest.fixture
def double() -> RegistryDouble:
    return RegistryDouble()


@pytest.fixture
async def registry(double: RegistryDouble) -> AsyncIterator[HttpServiceRegistry]:
    async with serving(double.app()) as url:
        client = HttpServiceRegistry(url, api_key="registry-key", timeout=5)
        try:
            yield client
        finally:
            await client.aclose()


async def test_activate_sends_the_contract_config_and_status_reads_it_back_as_active(
    registry: HttpServiceRegistry, double: RegistryDouble
) -> None:
    await registry.activate("caas", CONFIG)

    stored = double.services["caas"].config
    assert stored == {
        "url": "http://10.0.0.5:3013/mcp",
        "transport": "streamable-http",
        "health_url": "http://10.0.0.5:3013/health",
        "metrics_url": "http://10.0.0.5:3013/metrics",
        "version": "0.1.0",
        "tools": [
            {
                "name": "credit_get_loan",
                "description": "Read a loan",
                "annotations": {"readOnlyHint": True, "idempotentHint": False},
            },
            {
                "name": "credit_submit_application",
                "description": "Submit",
                "annotations": {"readOnlyHint": False},
            },
        ],
        "tags": ["caas", "credit"],
    }
    status = await registry.status("caas")
    assert (status.service, status.active, status.status) == ("caas", True, "active")
    assert status.activated_at is not None
    assert status.health["status"] == "healthy"


async def test_every_call_carries_a_fresh_request_id_and_the_bearer_key(
    registry: HttpServiceRegistry, double: RegistryDouble
) -> None:
    await registry.activate("caas", CONFIG)
    await registry.heartbeat("caas")
    ids = [headers["x-request-id"] for _, _, headers in double.calls]
    assert len(set(ids)) == 2
    assert {headers["authorization"] for _, _, headers in double.calls} == {"Bearer registry-key"}


async def test_heartbeat_keeps_a_registered_service_alive(
    registry: HttpServiceRegistry, double: RegistryDouble
) -> None:
    await registry.activate("caas-credit", CONFIG)
    await registry.heartbeat("caas-credit")
    await registry.heartbeat("caas-credit")
    assert double.services["caas-credit"].heartbeats == 2


async def test_heartbeat_and_status_of_a_service_the_registry_forgot_raise_not_registered(
    registry: HttpServiceRegistry, double: RegistryDouble
) -> None:
    await registry.activate("caas", CONFIG)
    double.forget()
    with pytest.raises(ServiceNotRegistered):
        await registry.heartbeat("caas")
    with pytest.raises(ServiceNotRegistered):
        await registry.status("caas")


async def test_deactivate_leaves_the_service_listed_as_inactive(
    registry: HttpServiceRegistry, double: RegistryDouble
) -> None:
    await registry.activate("caas", CONFIG)
    await registry.deactivate("caas")
    status = await registry.status("caas")
    assert (status.active, status.status) == (False, "inactive")


async def test_activating_again_replaces_the_entry(
    registry: HttpServiceRegistry, double: RegistryDouble
) -> None:
    await registry.activate("caas", CONFIG)
    await registry.activate("caas", dataclasses.replace(CONFIG, version="0.2.0"))
    assert double.services["caas"].config["version"] == "0.2.0"
    assert double.activations["caas"] == 2


async def test_a_5xx_is_unavailable_and_a_4xx_is_a_refusal_with_its_status_and_code(
    registry: HttpServiceRegistry, double: RegistryDouble
) -> None:
    double.fail_with = 503
    with pytest.raises(RegistryUnavailable):
        await registry.activate("caas", CONFIG)
    double.fail_with = 400
    with pytest.raises(RegistryRejected) as refused:
        await registry.activate("caas", CONFIG)
    assert (refused.value.status, refused.value.code) == (400, "invalid")


async def test_a_wrong_services_path_is_a_refusal_not_an_unknown_service(double: RegistryDouble) -> None:
    async with serving(double.app()) as url:
        client = HttpServiceRegistry(url, services_path="/api/v9/registry", timeout=5)
        try:
            with pytest.raises(RegistryRejected) as refused:
                await client.activate("caas", CONFIG)
        finally:
            await client.aclose()
    assert refused.value.status == 404


async def test_the_services_path_is_configurable(double: RegistryDouble) -> None:
    moved = RegistryDouble(prefix="/registry/v2/services")
    async with serving(moved.app()) as url:
        client = HttpServiceRegistry(url, services_path="registry/v2/services/", timeout=5)
        try:
            await client.activate("caas", CONFIG)
        finally:
            await client.aclose()
    assert "caas" in moved.services


async def test_a_closed_port_is_unavailable() -> None:
    client = HttpServiceRegistry(f"http://127.0.0.1:{free_port()}", timeout=5)
    try:
        with pytest.raises(RegistryUnavailable):
            await client.heartbeat("caas")
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections and reads, but never answers."""
    release = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def test_a_registry_that_never_answers_times_out_as_a_timeout() -> None:
    async with silent_server() as url:
        client = HttpServiceRegistry(url, timeout=0.2)
        try:
            with pytest.raises(RegistryTimeout):
                await client.activate("caas", CONFIG)
        finally:
            await client.aclose()
