"""The guarded transport against a real HTTP server on loopback, with the DNS (and in one case the
socket layer) played by the test: a name that resolves to an internal address is refused before any
connection, a name whose connection lands on an internal address (rebinding between check and use) is
refused after it, and with local receivers allowed the same server is reached."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator

import httpcore
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.marketplace.webhook_sender import HttpxWebhookSender
from adapters.platform import outbound
from adapters.platform.outbound import RefusedAddress, guarded_transport
from tests.helpers.common import serving
from tools.marketplace.ports import WebhookRefused


class Hits:
    def __init__(self) -> None:
        self.count = 0

    async def endpoint(self, request: Request) -> Response:
        self.count += 1
        return Response(status_code=204)


@pytest.fixture(scope="module")
async def local() -> AsyncIterator[tuple[Hits, int]]:
    hits = Hits()
    app = Starlette(routes=[Route("/hook", hits.endpoint, methods=["POST"])])
    async with serving(app) as url:
        yield hits, httpx.URL(url).port or 80


def dns(*answers: str) -> typing.Any:
    async def resolve(host: str, port: int) -> list[str]:
        return list(answers)

    return resolve


class Rebound(httpcore.AsyncNetworkBackend):
    """The network delivers every connection to loopback, whatever address was asked for: what a
    DNS answer that changes between the check and the connection (or a NAT in between) does."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.asked: list[str] = []

    async def connect_tcp(self, host: str, port: int, *args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        self.asked.append(host)
        return await self.inner.connect_tcp("127.0.0.1", port, *args, **kwargs)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def _post(transport: httpx.AsyncHTTPTransport, url: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport, trust_env=False) as http:
        return await http.post(url, content=b"{}")


@pytest.mark.parametrize("internal", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::ffff:127.0.0.1"])
async def test_a_name_resolving_to_an_internal_address_is_refused_before_connecting(
    local: tuple[Hits, int], internal: str
) -> None:
    hits, port = local
    before = hits.count
    transport = guarded_transport(allow_local=False, resolver=dns("93.184.216.34", internal))
    with pytest.raises(httpx.ConnectError) as caught:
        await _post(transport, f"http://lender.example.com:{port}/hook")
    assert isinstance(caught.value.__cause__, RefusedAddress)
    assert hits.count == before


async def test_a_connection_that_lands_on_loopback_is_refused_though_the_name_resolved_public(
    local: tuple[Hits, int],
) -> None:
    hits, port = local
    before = hits.count
    network = Rebound()
    transport = guarded_transport(allow_local=False, resolver=dns("93.184.216.34"), backend=network)
    with pytest.raises(httpx.ConnectError) as caught:
        await _post(transport, f"http://lender.example.com:{port}/hook")
    assert isinstance(caught.value.__cause__, RefusedAddress)
    assert network.asked == ["93.184.216.34"]  # it connected to the judged address, not the name
    assert hits.count == before  # nothing was sent on the connection


async def test_with_local_receivers_allowed_loopback_is_reached(local: tuple[Hits, int]) -> None:
    hits, port = local
    before = hits.count
    transport = guarded_transport(allow_local=True, resolver=dns("127.0.0.1"))
    assert (await _post(transport, f"http://lender.example.com:{port}/hook")).status_code == 204
    assert hits.count == before + 1


async def test_the_sender_refuses_internal_receivers_without_sending(local: tuple[Hits, int]) -> None:
    hits, port = local
    before = hits.count
    strict = HttpxWebhookSender(allow_local=False, timeout_seconds=2)
    try:
        for url in (
            f"http://127.0.0.1:{port}/hook",  # plain http, loopback
            f"https://127.0.0.1:{port}/hook",
            f"https://localhost:{port}/hook",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::ffff:10.0.0.5]/hook",
        ):
            with pytest.raises(WebhookRefused):
                await strict.post(url, b"{}", {})
    finally:
        await strict.aclose()
    assert hits.count == before


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "203.0.113.9"])
async def test_an_address_is_not_looked_up(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    async def no_dns(*args: object, **kwargs: object) -> list[object]:
        raise AssertionError("getaddrinfo called for an address")

    monkeypatch.setattr(outbound.anyio, "getaddrinfo", no_dns)
    assert await outbound._system_resolver(host, 443) == [host]
    with pytest.raises(AssertionError):  # a name still is
        await outbound._system_resolver("receiver.example", 443)
