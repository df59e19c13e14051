"""One HTTP/1.1 request on a connection the test holds open itself (httpx would quietly open a new one
when the server had closed it), to see whether a server kept an idle connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit


@asynccontextmanager
async def held_connection(base_url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def get_status(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], host: str, path: str) -> bytes:
    """GET ``path`` on the held connection: its status line, or b"" when the server had closed it."""
    reader, writer = conn
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""
    lines = head.split(b"\r\n")
    lengths = [int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length")]
    await reader.readexactly(lengths[0] if lengths else 0)
    return lines[0]
