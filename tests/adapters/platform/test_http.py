"""The platform's HTTP clients keep no cookies (adapters/platform/http.py), and every client the product
opens is one of them."""

from __future__ import annotations

import ast
import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from adapters.platform.http import HttpClient
from tests.helpers.common import serving

ROOT = Path(__file__).resolve().parents[3]


def _app(seen: list[str | None]) -> Starlette:
    async def sets(request: Request) -> Response:
        seen.append(request.headers.get("cookie"))
        return Response("ok", headers={"Set-Cookie": "sid=someone-elses; Path=/"})

    async def moves(request: Request) -> Response:
        seen.append(request.headers.get("cookie"))
        answer = RedirectResponse("/echo", status_code=303)
        answer.set_cookie("hop", "carried-over")
        return answer

    async def echo(request: Request) -> Response:
        seen.append(request.headers.get("cookie"))
        return Response("ok")

    return Starlette(routes=[Route("/sets", sets), Route("/moves", moves), Route("/echo", echo)])


async def test_an_answers_cookies_are_kept_by_neither_the_client_nor_a_redirect() -> None:
    seen: list[str | None] = []
    async with serving(_app(seen)) as url, HttpClient(follow_redirects=True) as http:
        assert (await http.get(f"{url}/sets")).headers["set-cookie"].startswith("sid=")
        await http.get(f"{url}/echo")
        await http.get(f"{url}/moves")  # followed to /echo
        await http.get(f"{url}/echo", headers={"Cookie": "mine=1"})  # a caller's own header goes
        assert not http.cookies
    assert seen == [None, None, None, None, "mine=1"]

    # What httpx alone does, which is what the clients were: the same server, the cookie sent back.
    seen.clear()
    async with serving(_app(seen)) as url, httpx.AsyncClient() as plain:
        await plain.get(f"{url}/sets")
        await plain.get(f"{url}/echo")
    assert seen == [None, "sid=someone-elses"]


def test_cookies_cannot_be_given_to_it_or_set_on_it() -> None:
    with pytest.raises(TypeError, match="no cookies"):
        HttpClient(cookies={"a": "b"})
    http = HttpClient()
    with pytest.raises(TypeError, match="no cookies"):
        http.cookies.set("a", "b")
    with pytest.raises(TypeError, match="no cookies"):
        http.cookies = {"a": "b"}  # type: ignore[assignment]


@asynccontextmanager
async def _raw_server(
    close_after_answer: bool, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, list[int]]]:
    """Answers 200 with keep-alive; with ``close_after_answer`` it then closes the connection at once,
    without saying so (as a server whose idle timeout is shorter than the client's). Yields its port
    and a list that grows by one for each connection."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
                if close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1], connections
    finally:
        server.close()


async def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    async with _raw_server(close_after_answer=True) as (port, connections), HttpClient() as http:
        for _ in range(3):
            assert (await http.get(f"http://127.0.0.1:{port}/")).status_code == 200
            await asyncio.sleep(0.05)  # the close has arrived: the pool must see it
    assert len(connections) == 3
    async with _raw_server(close_after_answer=False) as (port, connections), HttpClient() as http:
        for _ in range(3):
            assert (await http.get(f"http://127.0.0.1:{port}/")).status_code == 200
            await asyncio.sleep(0.05)
    assert len(connections) == 1  # kept alive, reused


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_is_verified_with_the_authority_given_and_its_connection_reused(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    async with _raw_server(close_after_answer=False, tls=tls) as (port, connections):
        async with HttpClient(verify=ssl.create_default_context(cafile=str(cert))) as http:
            for _ in range(2):
                assert (await http.get(f"https://127.0.0.1:{port}/")).status_code == 200
        assert len(connections) == 1
        async with HttpClient() as http:  # the system's authorities do not know this certificate
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(f"https://127.0.0.1:{port}/")


def test_what_its_pool_cannot_do_is_refused_rather_than_ignored() -> None:
    for option in ({"proxy": "http://proxy:3128"}, {"http2": True}, {"uds": "/tmp/s"}):
        with pytest.raises(TypeError, match="give it a transport"):
            HttpClient(**option)


def _opened_clients(path: Path) -> list[str]:
    """``httpx.AsyncClient(...)``/``httpx.Client(...)`` calls and imports of them from httpx."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "httpx":
            if node.attr in {"AsyncClient", "Client"}:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} httpx.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "httpx":
            names = {a.name for a in node.names} & {"AsyncClient", "Client"}
            found += [f"{path.relative_to(ROOT)}:{node.lineno} from httpx import {n}" for n in names]
    return found


def test_every_http_client_the_product_opens_is_the_platforms() -> None:
    ours = ROOT / "adapters" / "platform" / "http.py"
    product = [
        p for layer in ("adapters", "database", "mcp_servers", "tools") for p in (ROOT / layer).rglob("*.py")
    ]
    assert len(product) > 100
    assert [hit for p in product if p != ours for hit in _opened_clients(p)] == []
    assert _opened_clients(ours)  # the check sees what it looks for
