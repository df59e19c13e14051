"""Helpers shared by the tests: a valid application, error codes, tokens, a TCP proxy."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
import uvicorn
from starlette.types import ASGIApp

from tests.helpers.errors import error_code as error_code  # the tests import it from here too

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"
JWT_ISSUER = "https://test.supabase.co/auth/v1"
JWT_AUDIENCE = "authenticated"
SERVICE_KEY = "service-key-for-tests-0123456789"

# The personal data every test application carries; a test scans the database and the logs for them.
TEST_DOB = "1987-03-14"
TEST_NATIONAL_ID = "48213957610"
TEST_ACCOUNT_NUMBER = "0123987456"

# Encryption keys for the test run (a configured database needs configured keys).
PII_ENV = {
    "CAAS_PII_KEYS": "test-k1:" + base64.b64encode(b"k" * 32).decode(),
    "CAAS_PII_ACTIVE_KEY_ID": "test-k1",
    "CAAS_PII_INDEX_KEY": base64.b64encode(b"i" * 32).decode(),
}
REPO_ROOT = Path(__file__).resolve().parents[2]


def application(**overrides: Any) -> dict[str, Any]:
    """A valid submit_application payload; keyword arguments replace top-level fields."""
    body: dict[str, Any] = {
        "applicant": {
            "full_name": "Adaeze Okafor",
            "email": "adaeze@example.com",
            "phone": "+2348012345678",
            "country": "NG",
            "date_of_birth": TEST_DOB,
            "national_id": TEST_NATIONAL_ID,
            "bank_account": {"bank_code": "058", "account_number": TEST_ACCOUNT_NUMBER},
        },
        "currency": "NGN",
        "amount": "250000.00",
        "term_months": 12,
        "purpose": "business",
        "monthly_income": "450000.00",
        "monthly_obligations": "35000.00",
        "employment": {"status": "employed", "employer_name": "Dangote Cement", "months_in_employment": 30},
    }
    body.update(overrides)
    return body


def make_jwt(subject: str, *, role: str | None = None, provider_id: str | None = None, **claims: Any) -> str:
    """A Supabase-style access token: the CaaS role sits in app_metadata."""
    now = int(time.time())
    app_metadata: dict[str, Any] = {}
    if role is not None:
        app_metadata["caas_role"] = role
    if provider_id is not None:
        app_metadata["provider_id"] = provider_id
    payload = {
        "sub": subject,
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "role": "authenticated",
        "app_metadata": app_metadata,
        **claims,
    }
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def reserved_port(port: int = 0) -> Iterator[socket.socket]:
    """A loopback port held bound but not listening: connecting to it is refused, as to a server that
    is down, and no other test can take it meanwhile (a free_port() number is anyone's until bound).
    Serve on it later with ``serving(app, sock=...)``."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with sock:
        sock.bind(("127.0.0.1", port))
        yield sock


class TcpProxy:
    """A loopback TCP proxy a test can cut, to make a database unreachable without stopping it."""

    def __init__(self, target_host: str, target_port: int, *, unix_socket: str | None = None) -> None:
        self.target = (target_host, target_port)
        self.unix_socket = unix_socket  # when set, connect upstream to this socket file instead
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.delay = 0.0  # seconds added before each chunk is passed on: a slow database

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.unix_socket is not None:
                up_reader, up_writer = await asyncio.open_unix_connection(self.unix_socket)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # Before wait_closed: since Python 3.12.1 it waits for open connections to finish.
        for w in self._writers:
            w.close()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()


@contextlib.asynccontextmanager
async def tcp_proxy(host: str, port: int, *, unix_socket: str | None = None) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(host, port, unix_socket=unix_socket)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.cut()


@contextlib.asynccontextmanager
async def dsn_proxy(dsn: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A cuttable proxy in front of the server of ``dsn`` (TCP, or a unix socket given as
    ``?host=/dir`` as the embedded server does), and the same DSN routed through it."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    socket_dir = query.pop("host", None)
    port = parts.port or int(query.pop("port", 5432))
    if socket_dir is not None and socket_dir.startswith("/"):
        target = ("127.0.0.1", port)
        unix_socket: str | None = f"{socket_dir}/.s.PGSQL.{port}"
    else:
        target = (parts.hostname or socket_dir or "127.0.0.1", port)
        unix_socket = None
    async with tcp_proxy(*target, unix_socket=unix_socket) as proxy:
        user = parts.username or "postgres"
        password = f":{parts.password}" if parts.password else ""
        netloc = f"{user}{password}@127.0.0.1:{proxy.port}"
        yield proxy, urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))


def caas_command() -> list[str]:
    """The installed ``caas`` console script next to this interpreter (else ``python -m``)."""
    script = Path(sys.executable).with_name("caas")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mcp_servers.cli"]


def database_env(settings: Any) -> dict[str, str]:
    """The test run's databases as a child process reads them: NEON_DATABASE_URL (through PgBouncer
    in the pooled run), NEON_DIRECT_URL when set, SUPABASE_DB_URL."""
    env = {"NEON_DATABASE_URL": settings.database_url.get_secret_value()}
    if settings.direct_url is not None:
        env["NEON_DIRECT_URL"] = settings.direct_url.get_secret_value()
    if settings.supabase_db_url is not None:
        env["SUPABASE_DB_URL"] = settings.supabase_db_url.get_secret_value()
    return env


def caas_env(**variables: str) -> dict[str, str]:
    """This environment without any CaaS, database or FastMCP setting, plus ``variables``.

    Run the command with a scratch ``cwd`` too, so no developer ``.env`` is read.
    """
    prefixes = ("CAAS_", "NEON_", "SUPABASE_", "FASTMCP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.update(PII_ENV)
    env.update(variables)
    return env


@contextlib.asynccontextmanager
async def serving(
    app: ASGIApp, port: int | None = None, *, lifespan: str = "on", sock: socket.socket | None = None
) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` (a free one if None), or on the bound ``sock``
    (``reserved_port``), on this event loop; yields its base URL."""
    port = int(sock.getsockname()[1]) if sock is not None else port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan=lifespan, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=None if sock is None else [sock]))
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def every_page(client: Any, tool: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Each page ``tool`` answers ``args`` with, following next_cursor until it is null."""
    pages, cursor = [], None
    while True:
        page = (
            await client.call_tool(tool, args | ({"cursor": cursor} if cursor else {}))
        ).structured_content
        pages.append(page)
        if (cursor := page["next_cursor"]) is None:
            return pages
