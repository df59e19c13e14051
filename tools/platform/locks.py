"""In-process locks by key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["KeyedLocks"]


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
