"""A real loopback HTTP server standing in for Supabase Storage's signed-upload endpoint."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support import free_port

Mode = Literal["ok", "status", "hang", "no_token", "not_json"]


@dataclass
class SeenRequest:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeStorage:
    url: str = ""
    mode: Mode = "ok"
    status: int = 500
    seen: list[SeenRequest] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def sign(self, request: Request) -> Response:
        raw = request.scope.get("raw_path", b"").decode()
        self.seen.append(SeenRequest(request.method, raw, dict(request.headers), await request.body()))
        if self.mode == "hang":
            await self.release.wait()  # until the test is over; the client gives up first
        if self.mode == "status":
            body = {
                "statusCode": str(self.status),
                "error": "Bucket not found",
                "message": "Bucket not found",
            }
            return JSONResponse(body, status_code=self.status)
        if self.mode == "not_json":
            return PlainTextResponse("<html>gateway</html>")
        if self.mode == "no_token":
            return JSONResponse({"url": "/object/upload/sign/b/p"})
        token = secrets.token_urlsafe(16)
        self.tokens.append(token)
        relative = raw.removeprefix("/storage/v1")
        return JSONResponse({"url": f"{relative}?token={token}"})


@asynccontextmanager
async def fake_storage() -> AsyncIterator[FakeStorage]:
    fake = FakeStorage()
    app = Starlette(routes=[Route("/storage/v1/object/upload/sign/{rest:path}", fake.sign, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off", ws="none"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "the fake Supabase Storage did not start"
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        fake.release.set()
        server.should_exit = True
        await task
