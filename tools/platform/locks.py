"""In-process locks: by key, and a bulkhead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["Bulkhead", "BulkheadFull", "KeyedLocks"]


class KeyedLocks:
    """One lock per key, kept while anyone holds or awaits it.

    Copies of one webhook arriving together queue here, in this process, instead of each taking a
    pooled connection to wait on the inbox row: fifty copies would otherwise hold every connection
    while the first, which needs one more for its effect, waits for a free one. (Copies that reach
    other processes wait on the inbox row with those processes' own connections.)
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class BulkheadFull(Exception):
    """No place came free within the bulkhead's patience."""


class Bulkhead:
    """At most ``size`` holders at once in this process; a caller waits up to ``patience`` seconds for a
    place, then gets ``BulkheadFull``.

    For work that holds a pooled connection while it waits on another system: without a bound, that
    system being slow takes every connection of the process, and every other call waits behind it.
    """

    def __init__(self, size: int, patience: float) -> None:
        if size < 1:
            raise ValueError("a bulkhead needs at least one place")
        self.size, self.patience = size, patience
        self._places = asyncio.Semaphore(size)

    @asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(self._places.acquire(), self.patience)
        except TimeoutError:
            raise BulkheadFull from None
        try:
            yield
        finally:
            self._places.release()
