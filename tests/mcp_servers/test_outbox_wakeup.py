"""The outbox's readers wake on the ``caas_outbox`` notification of a commit (one LISTEN per process,
shared, open only while a reader waits) and read again when that connection is lost and reopened.

Each wait below is bounded well under ``FALLBACK_S``: a reader that was not woken by the notification
would still be asleep and the test fails."""

from __future__ import annotations

import anyio

from mcp_servers.outbox_wakeup import FALLBACK_S, OutboxWakeup, Waiter, outbox_wakeup
from mcp_servers.runtime import Runtime

WOKEN_WITHIN_S = FALLBACK_S / 3


async def commit_an_outbox_event(runtime: Runtime) -> None:
    assert runtime.core_pool is not None
    await runtime.core_pool.execute(
        "INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload) "
        "VALUES ('test', gen_random_uuid()::text, 'test.wakeup', '{}'::jsonb)"
    )


async def listening(wakeup: OutboxWakeup, waiter: Waiter, lost: int | None = None) -> int:
    """Until the listener is connected (on another connection than ``lost``); the wake that gave is taken."""
    with anyio.fail_after(30):
        while wakeup.listener_pid in (None, lost):
            await waiter.wait()  # connecting wakes it, in the same step as it sets listener_pid
    assert wakeup.listener_pid is not None
    return wakeup.listener_pid


async def backends(runtime: Runtime) -> set[int]:
    assert runtime.core_pool is not None
    rows = await runtime.core_pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    )
    return {row["pid"] for row in rows}


async def ended(runtime: Runtime, pid: int) -> bool:
    """Whether backend ``pid`` ends within 10 s (a closed socket's backend exits a moment later)."""
    for _ in range(200):
        if pid not in await backends(runtime):
            return True
        await anyio.sleep(0.05)
    return False


async def test_a_commit_wakes_every_reader_over_one_shared_listener_closed_after_the_last(
    runtime: Runtime,
) -> None:
    wakeup = outbox_wakeup(runtime)
    assert outbox_wakeup(runtime) is wakeup, "one per process"
    async with wakeup.waiter() as live, wakeup.waiter() as subscriptions:
        pid = await listening(wakeup, live)
        await subscriptions.wait()  # woken by the same connect
        await commit_an_outbox_event(runtime)
        with anyio.fail_after(WOKEN_WITHIN_S):
            await live.wait()
            await subscriptions.wait()
        assert wakeup.listener_pid == pid, "both readers share the one connection"
        assert pid in await backends(runtime)
    assert wakeup.listener_pid is None
    assert await ended(runtime, pid), "no listener is held while no reader waits"


async def test_a_reader_reads_again_when_the_listener_is_lost_and_when_it_is_back(runtime: Runtime) -> None:
    wakeup = outbox_wakeup(runtime)
    async with wakeup.waiter() as reader:
        first = await listening(wakeup, reader)
        assert runtime.core_pool is not None
        await runtime.core_pool.execute("SELECT pg_terminate_backend($1)", first)
        # Lost: woken at once (what is committed now is not notified), then polled until it is back.
        with anyio.fail_after(WOKEN_WITHIN_S):
            await reader.wait()
        await listening(wakeup, reader, lost=first)
        await commit_an_outbox_event(runtime)
        with anyio.fail_after(WOKEN_WITHIN_S):
            await reader.wait()
