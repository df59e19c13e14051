"""A WebSocket handshake the server cannot read gets a status line (mcp_servers.platform.ws_protocol):
a header holding non-ASCII bytes or a request line over 8 kB was a connection dropped without one,
left in uvicorn's set of connections for a shutdown to wait on (a probe's find)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn

from mcp_servers.composition import build_server
from mcp_servers.config import Settings
from mcp_servers.platform.serving import ShutdownGate, http_app, server_config
from mcp_servers.runtime import Runtime
from tests.helpers.common import SERVICE_KEY, free_port
from tools.platform.principal import Principal, Role

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


@pytest.fixture
async def served(settings: Settings, runtime: Runtime) -> AsyncIterator[tuple[uvicorn.Server, int]]:
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
    settings = settings.model_copy(update={"http_sessions": False})
    port = free_port()
    config = server_config(
        http_app(server, settings, "127.0.0.1", ShutdownGate()), settings, "127.0.0.1", port
    )
    config.lifespan = "off"  # the runtime's session is the test's
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:
        assert not task.done(), task
        await asyncio.sleep(0.02)
    try:
        yield served, port
    finally:
        served.should_exit = True
        await asyncio.wait_for(task, 15)


async def handshake(port: int, path: bytes, protocol: bytes | None = None) -> bytes:
    """The status line the server answers an upgrade request with (empty: none)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [
        b"GET " + path + b" HTTP/1.1",
        b"Host: 127.0.0.1:%d" % port,
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + KEY,
        b"Sec-WebSocket-Version: 13",
    ]
    if protocol is not None:
        head.append(b"Sec-WebSocket-Protocol: " + protocol)
    writer.write(b"\r\n".join(head) + b"\r\n\r\n")
    try:
        return (await asyncio.wait_for(reader.readline(), 10)).strip()
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("path", "protocol"),
    [
        pytest.param(b"/live/ws", b"\xff", id="a protocol that is not ASCII"),
        pytest.param(b"/live/ws", b"chat\xc3\xa9", id="a protocol in UTF-8"),
        pytest.param(b"/live/ws?pad=" + b"a" * 9000, None, id="a request line over 8 kB"),
    ],
)
async def test_an_unreadable_handshake_is_a_400_and_leaves_no_connection(
    served: tuple[uvicorn.Server, int], path: bytes, protocol: bytes | None
) -> None:
    server, port = served
    assert await handshake(port, path, protocol) == b"HTTP/1.1 400 Bad Request"
    for _ in range(100):
        if not server.server_state.connections:
            break
        await asyncio.sleep(0.05)
    assert not server.server_state.connections


async def test_a_readable_handshake_is_still_accepted(served: tuple[uvicorn.Server, int]) -> None:
    _, port = served
    assert await handshake(port, b"/live/ws", b"chat") == b"HTTP/1.1 101 Switching Protocols"
