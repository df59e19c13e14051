"""Listings built from optional filters: numbered parameters, a keyset cursor and a page limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

__all__ = ["Filters"]


class Filters:
    """Collects WHERE clauses and their parameters; ``page`` renders the newest-first keyset query."""

    def __init__(self, *args: Any) -> None:
        self.args: list[Any] = list(args)
        self.clauses: list[str] = []

    def arg(self, value: Any) -> str:
        """Add a parameter and return its placeholder."""
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def keyset(self, columns: tuple[str, str], after: tuple[datetime, UUID] | None) -> None:
        """Rows strictly after the cursor in (time, id) descending order."""
        if after is not None:
            self.add(f"({columns[0]}, {columns[1]}) < ({self.arg(after[0])}, {self.arg(after[1])})")

    def page(self, select: str, columns: tuple[str, str], limit: int) -> str:
        where = " WHERE " + " AND ".join(self.clauses) if self.clauses else ""
        return f"{select}{where} ORDER BY {columns[0]} DESC, {columns[1]} DESC LIMIT {self.arg(limit)}"
