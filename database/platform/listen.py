"""LISTEN on PostgreSQL's notifications (migration 0024: ``caas_outbox`` on an outbox insert,
``caas_jobs`` with the queue's name on a job insert), so idle workers wake on commit instead of polling.

LISTEN belongs to a session: it needs a connection of its own, never one from the pool (a pooled
connection goes back to other callers, and PgBouncer in transaction mode drops a session's LISTEN).
``connect_listener`` is the one place that opens it; the DSN it is given is the runtime's
``listener_dsn``, which names the direct (non-pooled) URL when there is one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import anyio
import asyncpg

__all__ = ["CHANNELS", "connect_listener", "listen"]

log = logging.getLogger("caas.listen")

# The channels the workers wake on (migration 0024 sends them).
CHANNELS = ("caas_outbox", "caas_jobs")


async def connect_listener(dsn: str) -> asyncpg.Connection:
    """A connection of its own for LISTEN (see the module's note on which DSN)."""
    return await asyncpg.connect(dsn, server_settings={"application_name": "caas-listener"})


async def listen(
    dsn: str,
    on_notify: Callable[[str, str], None],
    *,
    on_listening: Callable[[int | None], None],
    channels: Iterable[str] = CHANNELS,
    check_every: float = 10.0,
    retry_after: float = 1.0,
) -> None:
    """Call ``on_notify(channel, payload)`` for each notification until cancelled. A dropped connection
    is reopened (after ``retry_after``, doubling to 30 s); ``on_listening(backend pid)`` runs after each
    (re)connect, since notifications sent while no one listened are lost and the caller must look for
    itself, and ``on_listening(None)`` when the connection is lost (the caller polls faster meanwhile)."""
    delay = retry_after
    while True:
        try:
            conn = await connect_listener(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("listener cannot connect (%s); retrying in %.0f s", type(exc).__name__, delay)
            await anyio.sleep(delay)
            delay = min(30.0, delay * 2)
            continue
        try:
            await _serve(conn, on_notify, on_listening, channels, check_every)
            delay = retry_after
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("listener connection lost (%s); reconnecting", type(exc).__name__)
        finally:
            on_listening(None)
            conn.terminate()  # immediate, no await: safe even while being cancelled
        await anyio.sleep(delay)


async def _serve(
    conn: asyncpg.Connection,
    on_notify: Callable[[str, str], None],
    on_listening: Callable[[int | None], None],
    channels: Iterable[str],
    check_every: float,
) -> None:
    lost = anyio.Event()

    def notified(_conn: object, _pid: int, channel: str, payload: object) -> None:
        on_notify(channel, str(payload))

    conn.add_termination_listener(lambda _conn: lost.set())
    for channel in channels:
        await conn.add_listener(channel, notified)
    on_listening(conn.get_server_pid())
    while not lost.is_set():
        # A half-open TCP connection never reports its end: a ping that does not come back does.
        with anyio.move_on_after(check_every):
            await lost.wait()
        if not lost.is_set():
            with anyio.fail_after(check_every):
                await conn.execute("SELECT 1")
    raise ConnectionResetError("the listener's connection closed")
