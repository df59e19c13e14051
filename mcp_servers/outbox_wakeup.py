"""When the outbox's readers in this process (live updates, resource subscriptions) read again: on the
``caas_outbox`` notification that every committed outbox insert sends (migration 0024), over one LISTEN
connection per process shared by all of them, open only while one of them is waiting.

A notification tells that something was committed, not what: the readers still read by id
(``database.platform.outbox_feed``), so a notification lost or merged with another loses nothing. They
are lost while the listener is not connected, so a reader also reads when the listener (re)connects,
every ``CAAS_SUBSCRIPTION_POLL_SECONDS`` while it is not connected (no direct URL reachable, a
PgBouncer in front, a restart of PostgreSQL), and every ``FALLBACK_S`` regardless, in case a connection
died without saying so between two of the listener's pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from database.platform.listen import listen
from mcp_servers.runtime import Runtime

__all__ = ["FALLBACK_S", "OutboxWakeup", "Waiter", "outbox_wakeup"]

log = logging.getLogger("caas.live")

CHANNEL = "caas_outbox"
FALLBACK_S = 30.0

_BY_RUNTIME: weakref.WeakKeyDictionary[Runtime, OutboxWakeup] = weakref.WeakKeyDictionary()


def outbox_wakeup(runtime: Runtime) -> OutboxWakeup:
    """The one ``OutboxWakeup`` of ``runtime`` (of this process, outside tests)."""
    found = _BY_RUNTIME.get(runtime)
    if found is None:
        found = _BY_RUNTIME[runtime] = OutboxWakeup(runtime)
    return found


class Waiter:
    """One reader's wake-up: set by every notification, cleared when the reader wakes."""

    def __init__(self, wakeup: OutboxWakeup) -> None:
        self._wakeup = wakeup
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        """Until the next notification (or a missed one's poll); cleared before the caller reads, so a
        commit during that read wakes the next wait at once."""
        wakeup = self._wakeup
        timeout = FALLBACK_S if wakeup.listening else wakeup.poll_seconds
        with anyio.move_on_after(timeout):
            await self._event.wait()
        self._event.clear()


class OutboxWakeup:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._waiters: set[Waiter] = set()
        self._task: asyncio.Task[None] | None = None
        # The backend pid of the listener's connection while it listens.
        self.listener_pid: int | None = None

    @property
    def listening(self) -> bool:
        return self.listener_pid is not None

    @property
    def poll_seconds(self) -> float:
        return self._runtime.settings.subscription_poll_seconds

    @asynccontextmanager
    async def waiter(self) -> AsyncIterator[Waiter]:
        """A waiter for one reader; the first one opens the listener, the last one closes it."""
        waiter = Waiter(self)
        self._waiters.add(waiter)
        if self._task is None or self._task.done():
            # A plain task, as the readers' own: they start and end in different tasks than the lifespan.
            self._task = asyncio.get_running_loop().create_task(self._listen(), name="caas-outbox-listen")
        try:
            yield waiter
        finally:
            self._waiters.discard(waiter)
            if not self._waiters and self._task is not None:
                task, self._task = self._task, None
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _wake_all(self) -> None:
        for waiter in self._waiters:
            waiter.wake()

    def _listening(self, pid: int | None) -> None:
        self.listener_pid = pid
        # Connected: what was committed while no one listened is read now. Lost: the readers go back to
        # polling at once rather than after the rest of a fallback wait.
        self._wake_all()

    async def _listen(self) -> None:
        try:
            dsn = self._runtime.listener_dsn
        except RuntimeError:  # not started (in-process tests without a database): poll only
            return
        await listen(dsn, lambda _c, _p: self._wake_all(), on_listening=self._listening, channels=(CHANNEL,))
