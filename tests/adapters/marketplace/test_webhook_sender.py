"""The webhook sender against a real HTTP server: what it sends, what it reads back, and that timeouts,
refused connections and redirects become answers or errors rather than hangs or surprises."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from adapters.marketplace.webhook_sender import HttpxWebhookSender
from tests.helpers.common import free_port
from tests.mcp_servers.test_http import serving
from tools.marketplace.ports import WebhookSendError


class Server:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        self.release = asyncio.Event()
        self.app = Starlette(
            routes=[
                Route("/busy", self.busy, methods=["POST"]),
                Route("/moved", self.moved, methods=["POST"]),
                Route("/slow", self.slow, methods=["POST"]),
                Route("/ok", self.ok, methods=["POST"]),
                Route("/sets-cookie", self.sets_cookie, methods=["POST"]),
            ]
        )
        self.client_ports: list[int] = []

    async def _seen(self, request: Request) -> None:
        self.seen.append((request.url.path, dict(request.headers), await request.body()))

    async def busy(self, request: Request) -> Response:
        await self._seen(request)
        return Response("x" * 100_000, status_code=429, headers={"Retry-After": "7"})

    async def moved(self, request: Request) -> Response:
        await self._seen(request)
        return RedirectResponse("/busy", status_code=307)

    async def ok(self, request: Request) -> Response:
        await self._seen(request)
        assert request.client is not None
        self.client_ports.append(request.client.port)  # one per connection: a reused one repeats
        return Response("thanks", status_code=200)

    async def sets_cookie(self, request: Request) -> Response:
        await self._seen(request)
        return Response(status_code=200, headers={"Set-Cookie": "sid=lender-a-session; Path=/"})

    async def slow(self, request: Request) -> Response:
        await self._seen(request)
        await self.release.wait()
        return Response(status_code=200)


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[tuple[Server, str]]:
    s = Server()
    async with serving(s.app) as url:
        yield s, url
        s.release.set()


@pytest.fixture
async def sender() -> AsyncIterator[HttpxWebhookSender]:
    s = HttpxWebhookSender(allow_local=True, timeout_seconds=0.5, user_agent="CaaS-Webhooks/test")
    yield s
    await s.aclose()


async def test_it_posts_the_exact_bytes_and_headers_and_reads_only_the_status_and_retry_after(
    server: tuple[Server, str], sender: HttpxWebhookSender
) -> None:
    s, url = server
    body = b'{"id":"e-1","type":"provider.invited"}'
    answer = await sender.post(
        f"{url}/busy", body, {"X-CaaS-Event-Id": "e-1", "Content-Type": "application/json"}
    )
    assert (answer.status_code, answer.retry_after) == (429, "7")
    path, headers, got = s.seen[-1]
    assert (path, got) == ("/busy", body)
    assert headers["x-caas-event-id"] == "e-1"
    assert headers["user-agent"] == "CaaS-Webhooks/test"


async def test_a_receivers_cookie_is_never_sent_with_a_webhook_to_another_lender(
    server: tuple[Server, str], sender: HttpxWebhookSender
) -> None:
    # One client posts every lender's events: two lenders' receivers on one host (a webhook service)
    # must not see each other's cookies, nor a receiver its own on the next event.
    s, url = server
    await sender.post(f"{url}/sets-cookie", b"{}", {"X-CaaS-Event-Id": "e-a"})
    await sender.post(f"{url}/ok", b"{}", {"X-CaaS-Event-Id": "e-b"})
    await sender.post(f"{url}/sets-cookie", b"{}", {"X-CaaS-Event-Id": "e-a2"})
    assert [h.get("cookie") for _, h, _ in s.seen[-3:]] == [None, None, None]


async def test_a_redirect_is_an_answer_and_is_not_followed(
    server: tuple[Server, str], sender: HttpxWebhookSender
) -> None:
    s, url = server
    before = len(s.seen)
    answer = await sender.post(f"{url}/moved", b"{}", {})
    assert answer.status_code == 307
    assert [p for p, _, _ in s.seen[before:]] == ["/moved"]


async def test_a_receiver_that_does_not_answer_in_time_is_a_send_error(
    server: tuple[Server, str], sender: HttpxWebhookSender
) -> None:
    _, url = server
    with pytest.raises(WebhookSendError) as caught:
        await sender.post(f"{url}/slow", b"{}", {})
    assert str(caught.value) == "no answer within 0.5 s"


async def test_nothing_listening_is_a_send_error_naming_only_the_kind_of_failure(
    sender: HttpxWebhookSender,
) -> None:
    with pytest.raises(WebhookSendError) as caught:
        await sender.post(f"http://127.0.0.1:{free_port()}/hook", b"{}", {})
    assert str(caught.value) == "could not reach the receiver (ConnectError)"


async def _raw_server(answer: bytes, drip: float) -> tuple[asyncio.Server, int]:
    """A receiver that answers ``answer`` byte by byte, ``drip`` seconds apart, after the request."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        step = 1 if drip else len(answer)
        try:
            for i in range(0, len(answer), step):
                writer.write(answer[i : i + step])
                await writer.drain()
                await asyncio.sleep(drip)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_receiver_dripping_its_answer_is_cut_off_at_the_total_timeout(
    sender: HttpxWebhookSender,
) -> None:
    # Each byte comes well within the 0.5 s read timeout; only the bound on the whole request stops it.
    server, port = await _raw_server(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n", 0.05)
    try:
        with pytest.raises(WebhookSendError) as caught:
            await sender.post(f"http://127.0.0.1:{port}/hook", b"{}", {})
    finally:
        server.close()
    assert str(caught.value) == "no answer within 0.5 s"


async def test_a_receiver_sending_endless_headers_is_a_send_error_not_a_memory_sink(
    sender: HttpxWebhookSender,
) -> None:
    server, port = await _raw_server(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n", 0)
    try:
        with pytest.raises(WebhookSendError):
            await sender.post(f"http://127.0.0.1:{port}/hook", b"{}", {})
    finally:
        server.close()


async def test_webhooks_to_one_receiver_reuse_the_connection_unless_an_answer_is_too_long(
    server: tuple[Server, str], sender: HttpxWebhookSender
) -> None:
    s, url = server
    for _ in range(3):
        assert (await sender.post(f"{url}/ok", b"{}", {})).status_code == 200
    assert len(set(s.client_ports[-3:])) == 1  # one connection, kept alive
    # 100,000 bytes of body are not read to keep a connection: it is closed, the next one is new.
    assert (await sender.post(f"{url}/busy", b"{}", {})).status_code == 429
    assert (await sender.post(f"{url}/ok", b"{}", {})).status_code == 200
    assert s.client_ports[-1] != s.client_ports[-2]


async def test_an_answer_whose_body_drips_past_the_deadline_still_counts(sender: HttpxWebhookSender) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\n")
        try:
            for _ in range(100):  # 5 s of body against the 0.5 s bound on the whole request
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.write(b"x")
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        answer = await sender.post(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook", b"{}", {})
    finally:
        server.close()
    assert answer.status_code == 202
