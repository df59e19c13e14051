"""The background workers: the outbox relay, one loop per queue that has a handler, and periodic
jobs (application expiry, loan aging). ``caas serve`` runs them beside the servers unless
``CAAS_WORKERS=false``; ``caas worker`` runs them alone. Any number may run at once: the database
hands each job to one of them (``tools.platform.jobs``)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import anyio
from prometheus_client import Counter, Gauge

from mcp_servers.platform.tracing import traced_handler
from tools.platform.jobs import Handler, JobStore, relay_outbox, run_queue
from tools.platform.ports import Clock, Invocation
from tools.platform.principal import Principal, Role

__all__ = ["Periodic", "Workers", "worker_invocation"]

log = logging.getLogger("caas.workers")

JOBS_RUN = Counter("caas_jobs_taken_total", "Jobs taken by this process's workers", ["queue"])
# Per process (queue lag is a database fact, the same in every process): which loops this one runs.
LOOPS = Gauge("caas_worker_loops", "Worker loops this process runs (1 per queue, periodic job)", ["loop"])
WORKER = Principal("caas-worker", Role.SERVICE)


def worker_invocation(task: str) -> Invocation:
    """Audit rows written by background work name the worker and the task, like a tool call."""
    return Invocation(WORKER, f"worker.{task}", hashlib.sha256(task.encode()).hexdigest())


@dataclass(frozen=True, slots=True)
class Periodic:
    name: str
    every: timedelta
    run: Callable[[], Awaitable[object]]


@dataclass(slots=True)
class Workers:
    store: JobStore
    # The runtime's clock: when a job is due, done, failed or retried.
    clock: Clock
    handlers: dict[str, Handler] = field(default_factory=dict)
    periodic: list[Periodic] = field(default_factory=list)
    # Whether this process relays the outbox into the queues (`caas worker --queues` may leave it out).
    relay: bool = True
    poll: float = 0.5
    batch: int = 20
    # Set by stop(): each loop finishes the job it holds and returns instead of taking another.
    stopping: bool = False
    _woken: anyio.Event | None = None

    async def drain(self, *, rounds: int = 50) -> int:
        """Relay and run every queue until nothing is due (tests and ``caas worker --once``); returns
        how many items were taken."""
        taken = 0
        for _ in range(rounds):
            n = await relay_outbox(self.store) if self.relay else 0
            for queue, handler in self.handlers.items():
                traced = traced_handler(queue, handler)
                n += await run_queue(self.store, queue, traced, clock=self.clock, limit=self.batch)
            taken += n
            if n == 0:
                break
        return taken

    def stop(self) -> None:
        """Ask every loop to return after its current job (graceful shutdown)."""
        self.stopping = True
        if self._woken is not None:
            self._woken.set()

    async def _nap(self, seconds: float) -> None:
        # Sleeps end early on stop() so a stopping worker never waits out a long period.
        if self._woken is None:
            self._woken = anyio.Event()
        if self.stopping:
            return
        with anyio.move_on_after(seconds):
            await self._woken.wait()

    async def run(self) -> None:
        """Run until stop() (or cancelled); a failing loop logs and backs off, it never stops the process."""
        loops = [*(["outbox"] if self.relay else []), *self.handlers, *(job.name for job in self.periodic)]
        for loop in loops:
            LOOPS.labels(loop).set(1)
        try:
            async with anyio.create_task_group() as tg:
                if self.relay:
                    tg.start_soon(self._loop, "outbox", self._relay_once)
                for queue, handler in self.handlers.items():
                    tg.start_soon(self._loop, queue, self._queue_once(queue, handler))
                for job in self.periodic:
                    tg.start_soon(self._every, job)
        finally:
            for loop in loops:
                LOOPS.labels(loop).set(0)

    async def _relay_once(self) -> int:
        return await relay_outbox(self.store)

    def _queue_once(self, queue: str, handler: Handler) -> Callable[[], Awaitable[int]]:
        handler = traced_handler(queue, handler)  # a span per job when tracing is on

        async def once() -> int:
            n = await run_queue(
                self.store, queue, handler, clock=self.clock, limit=self.batch, stopping=lambda: self.stopping
            )
            JOBS_RUN.labels(queue).inc(n)
            return n

        return once

    async def _loop(self, name: str, once: Callable[[], Awaitable[int]]) -> None:
        failures = 0
        while not self.stopping:
            try:
                n = await once()
                failures = 0
            except Exception:
                failures += 1
                log.exception("worker %s failed (%d in a row)", name, failures)
                await self._nap(min(30.0, self.poll * 2**failures))
                continue
            if n == 0:
                await self._nap(self.poll)

    async def _every(self, job: Periodic) -> None:
        while not self.stopping:
            try:
                await job.run()
            except Exception:
                log.exception("periodic %s failed", job.name)
            await self._nap(job.every.total_seconds())
