"""A sandbox on loopback cannot be driven by a web page (issue 10, item 3, the same class elsewhere):
its control routes move simulated money and redirect webhooks, so DNS rebinding (a foreign Host) is
421 and a cross-site request (a foreign Origin) is 403, on the gateway and on the registry."""

from __future__ import annotations

import httpx
import pytest

from adapters.payments.onasis_gateway import SANDBOX_HEADER
from adapters.sandbox import Sandbox


@pytest.mark.parametrize("which", ["gateway_url", "registry_url"])
async def test_a_foreign_host_is_421_and_a_foreign_origin_403(which: str) -> None:
    async with Sandbox() as sandbox, httpx.AsyncClient(base_url=getattr(sandbox, which)) as http:
        assert (await http.get("/health", headers={"Host": "rebound.attacker.example"})).status_code == 421
        assert (await http.get("/health", headers={"Origin": "https://attacker.example"})).status_code == 403
        assert (await http.get("/health", headers={"Host": "localhost"})).status_code == 200
        assert (await http.get("/health", headers={"Origin": "http://localhost:3013"})).status_code == 200
        # An Origin that is no URL was a 500 (a probe's find): refused as foreign.
        assert (await http.get("/health", headers={"Origin": "http://[::1"})).status_code == 403


async def test_a_cross_site_post_cannot_redirect_the_webhooks_but_the_pay_page_posts_to_itself() -> None:
    async with Sandbox() as sandbox, httpx.AsyncClient(base_url=sandbox.gateway_url) as http:
        hijack = await http.put(
            "/sandbox/webhook-target",
            json={"url": "https://attacker.example"},
            headers={"Origin": "https://attacker.example"},
        )
        assert hijack.status_code == 403
        assert sandbox.webhook_base_url is None
        same_origin = await http.get("/health", headers={"Origin": sandbox.gateway_url})
        assert same_origin.status_code == 200
        assert same_origin.headers[SANDBOX_HEADER] == "true"


async def test_a_sandbox_bound_beyond_loopback_leaves_hosts_to_its_network() -> None:
    async with Sandbox(host="0.0.0.0") as sandbox:
        port = sandbox.gateway_url.rsplit(":", 1)[1]
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{port}/health", headers={"Host": "sandbox.internal"})
        assert response.status_code == 200
