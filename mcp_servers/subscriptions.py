"""``resources/subscribe`` (2025-11-25 era): ``notifications/resources/updated`` when an application or
a loan changes, whichever process changed it.

Every change to an application or a loan writes an outbox event in its own transaction, so the outbox
is the one place that sees all processes' changes. While anyone is subscribed, each server reads the
new events (``database.platform.outbox_feed``) when a commit notifies it (``mcp_servers.outbox_wakeup``,
polling every ``CAAS_SUBSCRIPTION_POLL_SECONDS`` only while its LISTEN is down) and tells each
subscribed session about the addresses it subscribed to. Subscribing checks that the caller may read the
record (the resource's roles and ownership), so a subscription cannot reveal that a record exists or
when it changes. A session that has gone away is dropped at its first failed notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError

from database.platform.outbox_feed import Change, OutboxFeed
from mcp_servers.outbox_wakeup import Waiter, outbox_wakeup
from mcp_servers.runtime import Runtime
from tools.credit import applications
from tools.loans import loans
from tools.platform.errors import DomainError

__all__ = ["Subscriptions", "withdraw_subscriptions"]

log = logging.getLogger("caas.subscriptions")

# The addresses one can subscribe to, and the outbox aggregate each one follows.
_APPLICATION = re.compile(r"^caas://applications/([^/]+)(?:/timeline)?$")
_LOAN = re.compile(r"^caas://loans/([^/]+)(?:/schedule)?$")
Key = tuple[str, str]


class Subscriptions:
    """Who subscribed to what on this server, and the loop that tells them."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        # Keyed by the client's connection: each request gets a ServerSession of its own, while a
        # subscription lasts as long as the connection. Any of its sessions notifies on the connection.
        self._watch: dict[Key, dict[object, set[str]]] = {}
        self._sessions: dict[object, ServerSession] = {}
        self._feed = OutboxFeed(("application", "loan"))
        self._wake = anyio.Event()
        self._waiter: Waiter | None = None

    def install(self, server: Any) -> None:
        """Serve resources/subscribe and resources/unsubscribe on ``server`` (a FastMCP server)."""
        low = server._mcp_server
        low.add_request_handler("resources/subscribe", mcp_types.SubscribeRequestParams, self._subscribe)
        low.add_request_handler(
            "resources/unsubscribe", mcp_types.UnsubscribeRequestParams, self._unsubscribe
        )

    async def _key(self, uri: str) -> Key:
        # Subscriptions are credit's (its server or the composed one); imported where they are served.
        from mcp_servers.credit import applications as application_tools
        from mcp_servers.loans import loans as loan_tools

        caller = self._runtime.principals.current()
        deps = self._runtime.deps
        try:
            if found := _APPLICATION.match(uri):
                if caller.role in application_tools.READERS:
                    app = await applications.get_application(deps.credit, caller, found[1])
                    return ("application", str(app.id))
            elif found := _LOAN.match(uri):
                if caller.role in loan_tools.READERS:
                    loan = await loans.get_loan(deps.loans, caller, found[1])
                    return ("loan", str(loan.id))
            else:
                raise MCPError(
                    mcp_types.INVALID_PARAMS,
                    "invalid_argument: only caas://applications/{application}[/timeline] and "
                    "caas://loans/{loan}[/schedule] can be subscribed to",
                )
        except DomainError as exc:
            raise MCPError(mcp_types.INVALID_PARAMS, f"{exc.code}: {exc.message}") from None
        raise MCPError(
            mcp_types.INVALID_PARAMS,
            f"permission_denied: you are signed in as {caller.role}, which may not read {uri}",
        )

    async def _subscribe(self, ctx: Any, params: mcp_types.SubscribeRequestParams) -> mcp_types.EmptyResult:
        key = await self._key(str(params.uri))
        if not any(self._watch.values()) and self._runtime.core_pool is not None:
            # From here on: a change committed once this subscription is answered is never before the feed.
            await self._feed.start(self._runtime.core_pool)
        connection = _connection(ctx.session)
        self._sessions[connection] = ctx.session
        self._watch.setdefault(key, {}).setdefault(connection, set()).add(str(params.uri))
        self._wake.set()
        return mcp_types.EmptyResult()

    async def _unsubscribe(
        self, ctx: Any, params: mcp_types.UnsubscribeRequestParams
    ) -> mcp_types.EmptyResult:
        uri, connection = str(params.uri), _connection(ctx.session)
        for key, watchers in list(self._watch.items()):
            uris = watchers.get(connection)
            if uris is not None and uri in uris:
                uris.discard(uri)
                if not uris:
                    del watchers[connection]
                if not watchers:
                    del self._watch[key]
        if not any(connection in watchers for watchers in self._watch.values()):
            self._sessions.pop(connection, None)
        if not any(self._watch.values()) and self._waiter is not None:
            self._waiter.wake()  # the reader goes idle (and closes the listener) now
        return mcp_types.EmptyResult()

    async def _tell(self, changes: list[Change]) -> None:
        for change in changes:
            watchers = self._watch.get((change.aggregate_type, change.aggregate_id), {})
            for connection, uris in list(watchers.items()):
                try:
                    for uri in sorted(uris):
                        await self._sessions[connection].send_resource_updated(uri)
                except Exception:  # the client went away: forget its subscriptions
                    log.debug("dropping the subscriptions of a closed connection")
                    self._sessions.pop(connection, None)
                    for watched in self._watch.values():
                        watched.pop(connection, None)

    async def _run(self) -> None:
        pool = self._runtime.core_pool
        assert pool is not None
        while True:
            if not any(self._watch.values()):
                self._wake = anyio.Event()
                await self._wake.wait()
            async with outbox_wakeup(self._runtime).waiter() as self._waiter:
                while any(self._watch.values()):
                    try:
                        await self._tell(await self._feed.read(pool))
                    except Exception as exc:  # a database hiccup must not end the subscriptions
                        log.warning("could not read the outbox for subscriptions: %s", type(exc).__name__)
                    await self._waiter.wait()
            self._waiter = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # A plain task rather than a task group: fastmcp may leave the lifespan in another task than the
        # one that entered it, which a cancel scope does not allow.
        task = asyncio.get_running_loop().create_task(self._run(), name="caas-subscriptions")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _connection(session: ServerSession) -> object:
    # The SDK has no public handle on the connection a request came in on.
    return getattr(session, "_connection", session)


def withdraw_subscriptions(server: Any) -> None:
    """Stop offering resources/subscribe on ``server`` (the capability follows the handlers)."""
    for method in ("resources/subscribe", "resources/unsubscribe"):
        server._mcp_server._request_handlers.pop(method, None)
