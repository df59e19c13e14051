"""Counting the statements a repository sends (issue 14: each round trip costs server CPU)."""

from __future__ import annotations

from typing import Any

import asyncpg


class Counted:
    """A connection that counts the statements sent through it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn, self.sent = conn, 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.conn, name)

        async def counted(*args: Any) -> Any:
            self.sent += 1
            return await method(*args)

        return counted
