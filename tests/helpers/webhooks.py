"""Helpers for the provider webhook tests: a lender's receiver (a real Starlette app served by uvicorn
on an ephemeral loopback port, recording every request and answering with the status codes a test
scripts), lenders of the test's market whose webhooks go to it, the delivery tools, and ``Hooks``: all of
them for one test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastmcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.common import serving
from tests.helpers.providers import INVITE, call, market_body, onboard, open_application, uid
from tools.marketplace.provider_webhooks import QUEUE
from tools.platform.principal import Role

LIST = "admin_list_webhook_deliveries"
# Longer than a test sender's timeout: the sender gives up first (a timeout).
STALL = 3.0
RETRY = "admin_retry_webhook_delivery"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """``url(name)`` is one lender's endpoint; ``answer(name, 500, 500)`` scripts its next answers
    (then 200); ``got[name]`` is what it received, in order."""

    def __init__(self) -> None:
        self.base = ""
        self.got: dict[str, list[Received]] = defaultdict(list)
        self.script: dict[str, list[int]] = defaultdict(list)
        self.hold: asyncio.Event | None = None  # when set by a test, requests wait for it
        self.stall: set[str] = set()  # lenders whose requests get no answer for STALL seconds
        self.app = Starlette(routes=[Route("/hooks/{name}", self._endpoint, methods=["POST"])])

    def url(self, name: str) -> str:
        return f"{self.base}/hooks/{name}"

    def answer(self, name: str, *codes: int) -> None:
        self.script[name].extend(codes)

    async def _endpoint(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        self.got[name].append(Received(dict(request.headers), body))
        if self.hold is not None:
            await self.hold.wait()
        if name in self.stall:
            await asyncio.sleep(STALL)
        code = self.script[name].pop(0) if self.script[name] else 200
        return Response(status_code=code, headers={"Retry-After": "1"} if code == 429 else None)


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    r = Receiver()
    async with serving(r.app) as url:
        r.base = url
        yield r


async def lender(client: Client, principal: Any, receiver: Receiver, country: str) -> tuple[str, str, str]:
    """A lender of the test's market whose webhooks go to the receiver: (id, secret, name)."""
    name = uid("lender")
    done = await onboard(client, principal, **market_body(country, webhook_url=receiver.url(name)))
    return str(done["provider"]["id"]), done["webhook_secret"], name


async def invite(client: Client, principal: Any, db: asyncpg.Connection, country: str) -> dict[str, Any]:
    """A new open application of the test's market, its eligible lenders invited."""
    app = await open_application(client, principal, db, country)
    principal(uid("op-match"), Role.OPERATOR)
    await call(client, INVITE, {"application": app["id"]})
    return app


async def invited_events(db: asyncpg.Connection, provider_id: str) -> list[uuid.UUID]:
    rows = await db.fetch(
        "SELECT event_id FROM caas_core.outbox WHERE event_type = 'provider.invited' "
        "AND payload ->> 'provider_id' = $1 ORDER BY id",
        provider_id,
    )
    return [r["event_id"] for r in rows]


async def due_now(db: asyncpg.Connection, clock: MovableClock, event_id: uuid.UUID) -> None:
    """Move the clock to the next attempt of the event's delivery, instead of waiting out the backoff."""
    due = await db.fetchval(
        "SELECT next_attempt_at FROM caas_core.jobs WHERE queue = $1 AND event_id = $2", QUEUE, event_id
    )
    clock.move(seconds=max(0.0, (due - clock.now()).total_seconds()))


async def deliveries(client: Client, principal: Any, **args: Any) -> list[dict[str, Any]]:
    """list_webhook_deliveries as an operator."""
    principal(uid("op"), Role.OPERATOR)
    return list((await call(client, LIST, args))["items"])


@dataclass(frozen=True)
class Hooks:
    """A webhook test's set-up (the ``hooks`` fixture): the MCP client and its caller, the system of
    record, the runtime, the lenders' receiver and the test's market; and the steps above with them."""

    client: Client
    principal: Any
    db: asyncpg.Connection
    runtime: Runtime
    receiver: Receiver
    country: str

    async def lender(self) -> tuple[str, str, str]:
        return await lender(self.client, self.principal, self.receiver, self.country)

    async def invite(self) -> dict[str, Any]:
        return await invite(self.client, self.principal, self.db, self.country)

    async def invited_events(self, provider_id: str) -> list[uuid.UUID]:
        return await invited_events(self.db, provider_id)

    async def deliveries(self, **args: Any) -> list[dict[str, Any]]:
        return await deliveries(self.client, self.principal, **args)
