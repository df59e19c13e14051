"""The timed part of a bench_journey.py cell, and its bare floor measured once before the journeys or
in blocks between them.

The efficiency divides the floor's CPU per call by the journey's CPU per journey. On this machine the
floor alone moved from 2.1 to 3.3 ms per call between runs of one sitting, so one floor cell of a second
or two, measured before a journey cell of a minute, can be taken in a faster or a slower moment than
the journeys it is compared with. ``--blocks B`` splits the journeys into B blocks, each one preceded by
a floor block of 1/B of the floor's calls. Both then sample the same stretch of time. The floor's
CPU per call is the total over its blocks, and its p50/p99 come from all its calls together.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from bench_submit import run_cell
from submit_harness import CpuMeter, pct

__all__ = ["Floor", "Timed", "drain", "idle_cpu", "timed_blocks"]

PENDING_SQL = """SELECT (SELECT count(*) FROM caas_core.outbox WHERE published_at IS NULL)
    + (SELECT count(*) FROM caas_core.jobs WHERE done_at IS NULL AND failed_at IS NULL)"""
DRAIN_LIMIT_S = 300.0


class Floor:
    """The bare floor at one concurrency, ``calls`` over ``blocks`` blocks: ``measure`` runs a block,
    ``cell`` combines the blocks."""

    def __init__(self, url: str, mode: str, conc: int, calls: int, meter: CpuMeter, blocks: int = 1) -> None:
        self._url, self._mode, self._conc, self._meter = url, mode, conc, meter
        self._per_client = max(1, calls // (conc * blocks))
        self.blocks: list[dict[str, Any]] = []

    async def measure(self) -> None:
        before: dict[str, float] = {}

        async def before_timed() -> None:  # after the warm-up: only the timed calls' collections count
            before.update(await self._full_collections())

        opts = argparse.Namespace(
            warmup=5, auth="apikey", idempotency=False, keep_latencies=True, before_timed=before_timed
        )
        args = (self._conc, self._per_client, opts, self._meter)
        block = await run_cell("bare", self._url, self._mode, *args)
        after = await self._full_collections()
        block["gc_full"] = after["count"] - before["count"]
        block["gc_full_ms"] = round(after["ms_total"] - before["ms_total"], 1)
        self.blocks.append(block)

    async def _full_collections(self) -> dict[str, float]:
        """The floor server's full collections so far (submit_harness.FullCollections)."""
        async with httpx.AsyncClient() as http:
            answer = await http.get(self._url.removesuffix("/mcp") + "/health")
        return answer.json()["gc_full"]

    def cell(self) -> dict[str, Any]:
        # The floor's full collections during its blocks' timed calls: each stalls every call in
        # flight, so whether one falls in a block of a few hundred calls moves its p99.
        collections = {
            "gc_full_blocks": [b["gc_full"] for b in self.blocks],
            "gc_full_ms": round(sum(b["gc_full_ms"] for b in self.blocks), 1),
        }
        if len(self.blocks) == 1:
            one = {k: v for k, v in self.blocks[0].items() if k not in ("lat_ms", "gc_full")}
            return one | collections
        first, calls = self.blocks[0], sum(b["calls"] for b in self.blocks)
        wall = sum(b["wall_s"] for b in self.blocks)
        ms = sorted(x for b in self.blocks for x in b["lat_ms"])
        errors = [b["first_error"] for b in self.blocks if b["first_error"]]
        out = {k: first[k] for k in ("target", "mode", "protocol", "conc")}
        out |= {"calls": calls, "errors": sum(b["errors"] for b in self.blocks)}
        out |= {"first_error": errors[0] if errors else None, "wall_s": round(wall, 3)}
        out |= {"calls_per_s": round(calls / wall, 1), "p50_ms": round(pct(ms, 50), 2)}
        out |= {"p99_ms": round(pct(ms, 99), 2), "blocks": len(self.blocks)}
        for k in ("cpu_ms_server", "cpu_ms_driver", "cpu_ms_postgres"):
            out[k] = round(sum(b[k] * b["calls"] for b in self.blocks) / calls, 3)
        out["cpu_ms_server_blocks"] = [b["cpu_ms_server"] for b in self.blocks]
        return out | collections


@dataclass
class Timed:
    """A cell's timed journeys, summed over its blocks: CPU seconds per process and kind, the seconds
    of the journeys and of the drains after them, what is still pending, the requests sent."""

    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    journeys_s: float = 0.0
    drain_s: float = 0.0
    left: int = 0
    sent: collections.Counter[str] = field(default_factory=collections.Counter)

    def add_cpu(self, part: dict[str, dict[str, float]]) -> None:
        for proc, kinds in part.items():
            into = self.cpu.setdefault(proc, {})
            for kind, seconds in kinds.items():
                into[kind] = into.get(kind, 0.0) + seconds


async def timed_blocks(
    journeys: int,
    blocks: int,
    run: Callable[[int], Awaitable[None]],
    meters: dict[str, CpuMeter],
    env: dict[str, Any],
    floor: Floor | None,
) -> Timed:
    """``journeys`` journeys in ``blocks`` blocks (``run(n)`` runs n of them), each drained before the
    next and after a block of ``floor`` when it is given; the floor's time is in no block's."""
    t = Timed()
    for b in range(blocks):
        if floor is not None:
            await floor.measure()
        gc.collect()
        gc.freeze()  # keep the driver's own full collections out of the latency tail
        sent0 = collections.Counter(env["requests"])
        cpu0, t0 = {k: m.snap() for k, m in meters.items()}, time.perf_counter()
        await run(journeys * (b + 1) // blocks - journeys * b // blocks)
        t.journeys_s += time.perf_counter() - t0
        drain_s, t.left = await drain(env["db"])
        t.drain_s += drain_s
        t.add_cpu({k: CpuMeter.diff(cpu0[k], m.snap()) for k, m in meters.items()})
        t.sent += env["requests"] - sent0
        gc.unfreeze()
    return t


async def drain(db: Any) -> tuple[float, int]:
    """Until every outbox event is published and every job done or failed; (seconds, still pending)."""
    t0 = time.perf_counter()
    # Polled: the queues live in PostgreSQL and this driver is not one of their listeners.
    while (left := await db.fetchval(PENDING_SQL)) and time.perf_counter() - t0 < DRAIN_LIMIT_S:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return time.perf_counter() - t0, int(left)


async def idle_cpu(meters: dict[str, CpuMeter], seconds: float) -> dict[str, float]:
    """CPU ms per second of the caas server and the worker with nothing to do: the pollers' floor,
    which a slow journey pays for in full."""
    a = {k: m.snap() for k, m in meters.items()}
    await asyncio.sleep(seconds)
    b = {k: m.snap() for k, m in meters.items()}
    rate = {k: round(1000 * (b[k]["server"] - a[k]["server"]) / seconds, 2) for k in ("caas", "worker")}
    return {"idle_ms_per_s_server": rate["caas"], "idle_ms_per_s_worker": rate["worker"]}
