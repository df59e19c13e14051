"""The sandbox's registry routes of contract section 3 over real loopback HTTP: activate, heartbeat,
status with a health check, deactivate, and the down switch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.sandbox import Sandbox
from tests.helpers.common import free_port
from tests.helpers.sandbox import Receiver


@pytest.fixture
async def registry(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.registry_url, timeout=10) as client:
        yield client


def config(health_url: str) -> dict[str, Any]:
    return {
        "config": {
            "url": "http://127.0.0.1:3013/mcp",
            "transport": "streamable-http",
            "health_url": health_url,
            "metrics_url": "http://127.0.0.1:3013/metrics",
            "version": "0.1.0",
            "tools": [
                {"name": "credit_get_loan", "description": "Read", "annotations": {"readOnlyHint": True}}
            ],
            "tags": ["caas"],
        }
    }


async def test_a_service_activates_heartbeats_shows_healthy_and_deactivates(
    registry: httpx.AsyncClient, sandbox: Sandbox, receiver: tuple[Receiver, str]
) -> None:
    activated = await registry.post("/api/services/caas/activate", json=config(f"{receiver[1]}/health"))
    assert activated.json()["status"] == "active"
    assert (await registry.post("/api/services/caas/heartbeat")).status_code == 200
    status = (await registry.get("/api/services/caas/status")).json()
    assert (status["service"], status["active"], status["status"]) == ("caas", True, "active")
    assert status["activatedAt"]
    assert status["health"]["status"] == "healthy"
    assert status["health"]["responseTime"] >= 0
    assert sandbox.registry.services["caas"].heartbeats == 1
    assert (await registry.post("/api/services/caas/deactivate")).json()["status"] == "inactive"
    status = (await registry.get("/api/services/caas/status")).json()
    assert (status["active"], status["status"]) == (False, "inactive")
    assert (await registry.post("/api/services/caas/heartbeat")).status_code == 404


async def test_a_service_whose_health_does_not_answer_is_unhealthy(registry: httpx.AsyncClient) -> None:
    await registry.post("/api/services/caas/activate", json=config(f"http://127.0.0.1:{free_port()}/health"))
    health = (await registry.get("/api/services/caas/status")).json()["health"]
    assert (health["status"], health["error"]) == ("unhealthy", "ConnectError")
    # A health_url that is no URL was a 500 on the status route (a probe's find).
    await registry.post("/api/services/caas/activate", json=config("http://[::1"))
    answer = await registry.get("/api/services/caas/status")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["health"]["status"], answer.json()["health"]["error"]) == (
        "unhealthy",
        "InvalidURL",
    )


async def test_re_activating_replaces_the_entry(registry: httpx.AsyncClient, sandbox: Sandbox) -> None:
    await registry.post("/api/services/caas/activate", json=config("http://a/health"))
    await registry.post("/api/services/caas/activate", json=config("http://b/health"))
    entry = sandbox.registry.services["caas"]
    assert (entry.config["health_url"], entry.activations) == ("http://b/health", 2)
    listed = (await registry.get("/sandbox/registry/services")).json()
    assert [s["service"] for s in listed] == ["caas"]


async def test_unknown_services_and_bad_bodies_are_refused(registry: httpx.AsyncClient) -> None:
    assert (await registry.get("/api/services/nobody/status")).status_code == 404
    assert (await registry.post("/api/services/nobody/heartbeat")).status_code == 404
    assert (await registry.post("/api/services/nobody/deactivate")).status_code == 404
    bad = await registry.post("/api/services/caas/activate", json={"config": {"no": "url"}})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_request")


async def test_the_registry_down_switch_makes_every_route_503_until_it_is_up(
    registry: httpx.AsyncClient,
) -> None:
    assert (await registry.post("/sandbox/registry/down")).json()["down"] is True
    assert (
        await registry.post("/api/services/caas/activate", json=config("http://a/health"))
    ).status_code == 503
    assert (await registry.get("/api/services/caas/status")).status_code == 503
    await registry.post("/sandbox/registry/up")
    assert (
        await registry.post("/api/services/caas/activate", json=config("http://a/health"))
    ).status_code == 200
