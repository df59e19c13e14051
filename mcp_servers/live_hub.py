"""Live updates' one reader of the outbox per process: while anyone is connected, it reads the new events
when a commit notifies it (``mcp_servers.outbox_wakeup``: the process's one LISTEN, polling only while
that is down) and hands each connection the ones its caller may see (checked per event, per caller), so
a thousand open dashboards cost one query a commit, not a thousand.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import anyio

from database.platform.outbox_feed import OutboxFeed
from mcp_servers.live_access import ENTITIES, live_message, may_see
from mcp_servers.outbox_wakeup import Waiter, outbox_wakeup
from mcp_servers.runtime import Runtime
from tools.platform.principal import Principal

__all__ = ["Listener", "LiveHub"]

log = logging.getLogger("caas.live")

# Messages a connection may have waiting; one that falls this far behind is ended (it reconnects).
BACKLOG = 1000


@dataclass(eq=False, slots=True)
class Listener:
    """One connection: who is listening, until when its token is good, and its messages waiting."""

    caller: Principal
    expires_at: float | None
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(BACKLOG))
    overflowed: bool = False

    @property
    def ended(self) -> bool:
        expired = self.expires_at is not None and time.time() >= self.expires_at
        return expired or self.overflowed

    async def next(self, wait: float) -> list[dict[str, Any]]:
        """The messages waiting, after up to ``wait`` seconds for the first."""
        with anyio.move_on_after(wait):
            messages = [await self.queue.get()]
            while not self.queue.empty():
                messages.append(self.queue.get_nowait())
            return messages
        return []


class LiveHub:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._feed = OutboxFeed(ENTITIES)
        self._listeners: set[Listener] = set()
        self._started = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._waiter: Waiter | None = None

    async def join(self, caller: Principal, expires_at: float | None) -> Listener:
        """A listener told every change committed from now on that ``caller`` may see."""
        pool = self._runtime.core_pool
        assert pool is not None  # routes are served inside the runtime's session
        async with self._lock:
            if not self._started:
                await self._feed.start(pool)
                self._started = True
        listener = Listener(caller, expires_at)
        self._listeners.add(listener)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="caas-live")
        return listener

    def leave(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        if not self._listeners and self._waiter is not None:
            self._waiter.wake()  # the reader ends now rather than at its next fallback read

    async def _run(self) -> None:
        # Closing the listener awaits: someone may join meanwhile, and this task is still theirs.
        while self._listeners:
            async with outbox_wakeup(self._runtime).waiter() as self._waiter:
                await self._follow()
            self._waiter = None
        # Nobody left: the next one to join starts the feed afresh (no await between check and reset).
        self._started = False

    async def _follow(self) -> None:
        pool = self._runtime.core_pool
        assert pool is not None
        assert self._waiter is not None
        while self._listeners:
            try:
                changes = await self._feed.read(pool)
            except Exception as exc:  # a database hiccup must not end the streams; the next read catches up
                log.warning("could not read the outbox for live updates: %s", type(exc).__name__)
                changes = []
            for change in changes:
                message = live_message(change)
                for listener in list(self._listeners):
                    if await may_see(self._runtime.deps, listener.caller, change):
                        try:
                            listener.queue.put_nowait(message)
                        except asyncio.QueueFull:
                            listener.overflowed = True
                            self._listeners.discard(listener)
            await self._waiter.wait()
