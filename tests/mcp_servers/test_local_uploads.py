"""The local upload route (mcp_servers/local_uploads.py) over HTTP: what a probe of every route found."""

from __future__ import annotations

import asyncio
import uuid

from mcp_servers.runtime import Runtime
from tests.helpers.common import make_jwt
from tests.helpers.payments import platform_over_http


async def test_an_upload_declaring_more_than_a_document_may_be_is_refused_at_once(runtime: Runtime) -> None:
    """A probe declared Content-Length: 99999999999 and sent 21 bytes: the route waited for the rest
    (25 s and more) where the webhooks refuse at once. It refuses on the declared length now."""
    token = make_jwt(f"b-{uuid.uuid4().hex[:8]}", role="borrower")
    async with platform_over_http(runtime) as base:
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = (
            f"PUT /documents/uploads/{uuid.uuid4()} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/pdf\r\n"
            "Content-Length: 99999999999\r\n\r\n"
        )
        writer.write(head.encode() + b"%PDF-1.7 a few bytes")
        await writer.drain()
        try:
            status = await asyncio.wait_for(reader.readline(), timeout=10)
        finally:
            writer.close()
    assert status.split()[1] == b"413", status
