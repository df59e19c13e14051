"""For the gateway and sandbox tests: a webhook receiver (served with tests.helpers.common.serving) that
records the raw bytes and headers of every POST (the platform's side, stubbed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """``/webhooks/{vendor}`` answers with the next status of ``statuses`` (then 200)."""

    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.received.append(Received(request.url.path, await request.body(), dict(request.headers)))
            status = self.statuses.pop(0) if self.statuses else 200
            return JSONResponse({"ok": status == 200}, status_code=status)

        async def health(_: Request) -> Response:
            return JSONResponse({"status": "ok"})

        return Starlette(
            routes=[
                Route("/webhooks/{vendor}", hook, methods=["POST"]),
                Route("/health", health, methods=["GET"]),
            ]
        )

    def for_reference(self, reference: str) -> list[Received]:
        return [r for r in self.received if reference.encode() in r.body]


async def eventually(check: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.02)
