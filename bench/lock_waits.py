#!/usr/bin/env python
"""What the journey's sessions wait on, sampled from pg_stat_activity while bench_journey.py runs.

Every ``--every`` seconds for ``--seconds``, each non-idle session of the bench's databases
(``caas_journey_*``) is counted by its wait event type (``CPU`` when it waits on nothing). Those
waiting on a lock are also counted by the lock and the first words of the statement that waits. The
figures are per sample: 0.30 ``Lock`` means that on average 0.3 sessions were waiting on a row or
object lock. ``Client`` is a transaction waiting for its client (caas serve or the worker) to send its
next statement.

    .venv/bin/python bench/bench_journey.py --dsn ... --journeys 96 --concurrency 16 --runs 1 &
    sleep 12; .venv/bin/python bench/lock_waits.py --dsn ... --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import time
from typing import Any

_SAMPLE = """
SELECT coalesce(wait_event_type, 'CPU') AS kind, wait_event,
       left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS statement
FROM pg_stat_activity
WHERE datname LIKE $1 AND state <> 'idle' AND pid <> pg_backend_pid()
"""
_HOLDERS = """
SELECT left(regexp_replace(w.query, '\\s+', ' ', 'g'), 40) AS waiting, h.state,
       coalesce(h.wait_event, 'CPU') AS holder_waits,
       left(regexp_replace(h.query, '\\s+', ' ', 'g'), 60) AS holder
FROM pg_stat_activity w CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b (pid)
JOIN pg_stat_activity h ON h.pid = b.pid
WHERE w.datname LIKE $1 AND w.wait_event_type = 'Lock'
"""


async def holders(conn: Any, like: str, seen: collections.Counter[tuple[str, ...]]) -> None:
    """Who holds what the waiting sessions wait for: its state, what it waits on, its statement."""
    for r in await conn.fetch(_HOLDERS, like):
        seen[tuple(str(r[k]).strip() for k in ("waiting", "state", "holder_waits", "holder"))] += 1


async def sample(dsn: str, seconds: float, every: float, like: str, with_holders: bool = False) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    kinds: collections.Counter[str] = collections.Counter()
    locks: collections.Counter[tuple[str, str]] = collections.Counter()
    held: collections.Counter[tuple[str, ...]] = collections.Counter()
    n, end = 0, time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            n += 1
            for r in await conn.fetch(_SAMPLE, like):
                kinds[r["kind"]] += 1
                if r["kind"] == "Lock":
                    locks[(r["wait_event"], r["statement"].strip())] += 1
            if with_holders:
                await holders(conn, like, held)
            await asyncio.sleep(every)
    finally:
        await conn.close()
    print(f"# {n} samples over {seconds:g} s; sessions per sample, by what they wait on")
    print(" | ".join(f"{k} {v / n:.2f}" for k, v in kinds.most_common()))
    print("\n| sessions per sample | lock | statement waiting |\n|---:|---|---|")
    for (lock, statement), v in locks.most_common(12):
        print(f"| {v / n:.3f} | {lock} | `{statement}` |")
    if with_holders:
        print("\n| per sample | waiting | holder's state | holder waits on | holder's statement |")
        print("|---:|---|---|---|---|")
        for (waiting, state, waits, holder), v in held.most_common(12):
            print(f"| {v / n:.3f} | `{waiting}` | {state} | {waits} | `{holder}` |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", default=os.environ.get("CAAS_BENCH_POSTGRES_URL"), help="admin DSN")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--every", type=float, default=0.01, help="seconds between samples")
    ap.add_argument("--databases", default="caas_journey_%", help="LIKE pattern of the sampled databases")
    ap.add_argument("--holders", action="store_true", help="also who holds what they wait for")
    opts = ap.parse_args()
    if not opts.dsn:
        ap.error("give --dsn or CAAS_BENCH_POSTGRES_URL")
    asyncio.run(sample(opts.dsn, opts.seconds, opts.every, opts.databases, opts.holders))


if __name__ == "__main__":
    main()
