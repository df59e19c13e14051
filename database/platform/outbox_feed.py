"""New outbox events for readers in any process (resource subscriptions, live updates): what changed,
and of the payload only the keys that say whose it is.

Identity values are taken at insert but become visible at commit, so a later id can be read before an
earlier one. The feed therefore re-reads a window of ids below the highest it has seen and reports each
event once: an event whose transaction commits after ``WINDOW`` later events have been read is missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

__all__ = ["Change", "OutboxFeed"]

WINDOW = 1000

_READ = """
SELECT id, aggregate_type, aggregate_id, event_type, occurred_at,
       payload->>'provider_id' AS provider_id, payload->>'application_id' AS application_id,
       payload->>'reference' AS reference, payload->>'user_id' AS user_id,
       payload->>'requester' AS requester
FROM caas_core.outbox
WHERE id > $1 AND aggregate_type = ANY($2::text[])
ORDER BY id
LIMIT 5000
"""


@dataclass(frozen=True, slots=True)
class Change:
    aggregate_type: str
    aggregate_id: str
    # What live updates tell and check: the event's name and time, and the payload's owner keys.
    event_type: str = ""
    occurred_at: datetime | None = None
    provider_id: str | None = None
    application_id: str | None = None
    reference: str | None = None
    # Whose it is, for events about one user's records (a notification).
    user_id: str | None = None
    # Who asked, as "<role>:<subject>", for a money move awaiting a person (a pending action).
    requester: str | None = None


@dataclass(slots=True)
class OutboxFeed:
    """Reads the events committed since the last read, from the newest event at ``start``."""

    aggregate_types: tuple[str, ...]
    # Ids at or below the floor are never reported: older than the start, or out of the window.
    _floor: int = 0
    _seen: set[int] = field(default_factory=set)

    async def start(self, pool: asyncpg.Pool) -> None:
        self._floor = int(await pool.fetchval("SELECT coalesce(max(id), 0) FROM caas_core.outbox"))
        self._seen.clear()

    async def read(self, pool: asyncpg.Pool) -> list[Change]:
        rows = await pool.fetch(_READ, self._floor, list(self.aggregate_types))
        fresh = [r for r in rows if r["id"] not in self._seen]
        self._seen.update(r["id"] for r in fresh)
        if self._seen:
            self._floor = max(self._floor, max(self._seen) - WINDOW)
            self._seen = {i for i in self._seen if i > self._floor}
        return [
            Change(
                r["aggregate_type"],
                r["aggregate_id"],
                r["event_type"],
                r["occurred_at"],
                r["provider_id"],
                r["application_id"],
                r["reference"],
                r["user_id"],
                r["requester"],
            )
            for r in fresh
        ]
