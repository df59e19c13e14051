"""The sandbox's JSON routes (the vendor API and its control routes) with hostile bodies (issue 10,
item 2): too deep, too large, or holding text that cannot be stored are a 400 or 413, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.sandbox import Sandbox
from adapters.sandbox.gateway import MAX_BODY

ROUTES = ["/api/v1/payments/transfer", "/api/v1/payments/initialize", "/sandbox/webhook-target"]
BODIES = {
    "30,000 levels": (b'{"url": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", 400),
    "40 levels": (b'{"url": ' + b"[" * 40 + b"]" * 40 + b"}", 400),
    "NUL in a string": (b'{"url": "http://x/\\u0000", "reference": "a\\u0000"}', 400),
    "lone surrogate": (b'{"reference": "\\ud800"}', 400),
    "over the size limit": (b'{"pad": "' + b"a" * MAX_BODY + b'"}', 413),
}


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.gateway_url, timeout=10) as client:
        yield client


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case", BODIES.values(), ids=list(BODIES))
async def test_a_hostile_body_is_refused_with_a_4xx(
    http: httpx.AsyncClient, route: str, case: tuple[bytes, int]
) -> None:
    body, status = case
    response = await http.post(route, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text


@pytest.mark.parametrize("route", ROUTES[:2])
@pytest.mark.parametrize("simulate", [["x"], {"a": 1}, 7, True])
async def test_an_outcome_to_simulate_that_is_no_name_is_a_400(
    http: httpx.AsyncClient, route: str, simulate: object
) -> None:
    # A list or an object was a 500 (a probe's find: unhashable in the set of outcomes).
    body = {"amount": 1000, "currency": "NGN", "reference": "r-1", "metadata": {"simulate": simulate}}
    response = await http.post(route, json=body)
    assert response.status_code == 400, response.text
    assert "unknown sandbox outcome" in response.text


@pytest.mark.parametrize("case", BODIES.values(), ids=list(BODIES))
async def test_a_hostile_registry_activation_is_refused_with_a_4xx(
    sandbox: Sandbox, case: tuple[bytes, int]
) -> None:
    body, status = case
    async with httpx.AsyncClient(base_url=sandbox.registry_url, timeout=10) as registry:
        response = await registry.post("/api/services/caas/activate", content=body)
    assert response.status_code == status, response.text
