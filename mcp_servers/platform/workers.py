"""The background workers: the outbox relay, one loop per queue that has a handler, and periodic
jobs (application expiry, loan aging). ``caas serve`` runs them beside the servers unless
``CAAS_WORKERS=false``; ``caas worker`` runs them alone. Any number may run at once: the database
hands each job to one of them (``tools.platform.jobs``).

Idle loops sleep until PostgreSQL tells them there is work: one LISTEN connection per process
(``database.platform.listen``) wakes the relay on an outbox insert and a queue's loop on a job insert
into it, on commit. Polling stays as the fallback for what no notification announces (a retry coming
due, a lease running out, a key's next job once another process finished the one before it): every
``fallback_poll`` seconds while the listener is connected, every ``poll`` seconds while it is not.
While it is connected a loop that found work does not look again before sleeping unless the work
says there is more (a full batch, a job waiting behind a finished one on its key): anything new
since it looked has notified it, and an empty look is a round trip for nothing.

Under load the notifications come faster than the looks they cause: every commit of a use case sends
one, so the relay used to look once per commit or two (about two events a look) and each queue
claimed a job or two at a time. A loop woken less than ``coalesce`` seconds after its last look began
waits out the rest of that time first, so the commits of that window are taken by one look (one
relay, one claim, one outcome write for many). The first wake after a quiet spell looks at once: an
idle worker adds no latency, and under load a job waits at most ``coalesce`` more. Nothing is lost:
the loop re-arms before it looks, and a look sees every commit that notified before it began.

A queue's loop runs up to ``concurrency`` jobs of a batch at once: a batch holds one job per ordering
key, so a burst of slow webhooks to different lenders drains side by side while each lender's own
events stay in order, and a running job holds no database connection."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import anyio
from prometheus_client import Counter, Gauge

from database.platform.listen import listen
from mcp_servers.platform.tracing import traced_handler
from tools.platform.jobs import (
    LEASE,
    BatchHandler,
    Handler,
    Job,
    JobStore,
    relay_outbox,
    run_batch,
    run_queue,
)
from tools.platform.ports import Clock, Invocation
from tools.platform.principal import Principal, Role

__all__ = ["Periodic", "Workers", "worker_invocation"]

log = logging.getLogger("caas.workers")

JOBS_RUN = Counter("caas_jobs_taken_total", "Jobs taken by this process's workers", ["queue"])
# Per process (queue lag is a database fact, the same in every process): which loops this one runs.
# Under --processes, /metrics sums the loops of the processes alive (mcp_servers.cluster).
LOOPS = Gauge(
    "caas_worker_loops",
    "Worker loops this process runs (1 per queue, periodic job)",
    ["loop"],
    multiprocess_mode="livesum",
)
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
    # How often an idle loop looks for work while no listener is connected (none configured, or its
    # connection is down), and while one is.
    poll: float = 0.5
    fallback_poll: float = 5.0
    batch: int = 20
    # Jobs of one queue run at once (CAAS_WORKER_CONCURRENCY).
    concurrency: int = 4
    # Outbox events one relay copies into the queues.
    relay_batch: int = 500
    lease: timedelta = LEASE
    # A loop woken this soon after its last look began waits until then (see the module's note); 0: never
    # (CAAS_WORKER_COALESCE_SECONDS).
    coalesce: float = 0.1
    # The DSN of the process's LISTEN connection (the runtime's listener_dsn); None: poll only.
    listen_dsn: str | None = None
    # Set by stop(): each loop finishes the job it holds and returns instead of taking another.
    stopping: bool = False
    # The backend pid of the connected LISTEN connection (pg_stat_activity), None while not listening.
    listener_pid: int | None = None
    # Per loop, set to wake it (a notification, stop()); replaced before each look for work, so a
    # notification that arrives while the loop works is not lost.
    _wakes: dict[str, anyio.Event] = field(default_factory=dict)

    async def run_periodic_once(self) -> tuple[list[str], list[str]]:
        """Each periodic job once (``caas worker --once``: they are idempotent, so a scheduler runs
        --once as often as the most frequent is due); the names of those that ran and failed."""
        ran, failed = [], []
        for job in self.periodic:
            try:
                await job.run()
            except Exception:
                log.exception("periodic %s failed", job.name)
                failed.append(job.name)
            else:
                ran.append(job.name)
        return ran, failed

    async def drain(self, *, rounds: int = 50) -> int:
        """Relay and run every queue until nothing is due (tests and ``caas worker --once``); returns
        how many items were taken."""
        taken = 0
        for _ in range(rounds):
            n = await relay_outbox(self.store, self.relay_batch) if self.relay else 0
            for queue, handler in self.handlers.items():
                traced = _traced(queue, handler)
                n += await run_queue(
                    self.store,
                    queue,
                    traced,
                    clock=self.clock,
                    limit=self.batch,
                    concurrency=self.concurrency,
                    lease=self.lease,
                )
            taken += n
            if n == 0:
                break
        return taken

    def stop(self) -> None:
        """Ask every loop to return after its current job (graceful shutdown)."""
        self.stopping = True
        for event in self._wakes.values():
            event.set()

    def wake(self, loop: str) -> None:
        """Wake ``loop`` (a queue, ``outbox``) if it sleeps; if it works, it looks again right after."""
        event = self._wakes.get(loop)
        if event is not None:
            event.set()

    def _notified(self, channel: str, payload: str) -> None:
        self.wake("outbox" if channel == "caas_outbox" else payload)

    @property
    def listening(self) -> bool:
        return self.listener_pid is not None

    def _listening(self, pid: int | None) -> None:
        self.listener_pid = pid
        if pid is None:
            return
        # Whatever was notified while no one listened is looked for now.
        for loop in list(self._wakes):
            self.wake(loop)

    async def _listen(self, dsn: str) -> None:
        try:
            await listen(dsn, self._notified, on_listening=self._listening)
        finally:
            self.listener_pid = None

    def _arm(self, name: str) -> None:
        self._wakes[name] = anyio.Event()

    async def _nap(self, name: str, seconds: float | None = None) -> None:
        # Sleeps end early on a notification or stop(), so a stopping worker never waits out a period.
        if self.stopping:
            return
        if seconds is None:
            seconds = self.fallback_poll if self.listening else self.poll
        event = self._wakes.get(name)
        if event is None:
            event = self._wakes[name] = anyio.Event()
        with anyio.move_on_after(seconds):
            await event.wait()

    async def run(self) -> None:
        """Run until stop() (or cancelled); a failing loop logs and backs off, it never stops the process."""
        loops = [*(["outbox"] if self.relay else []), *self.handlers, *(job.name for job in self.periodic)]
        for loop in loops:
            LOOPS.labels(loop).set(1)
        try:
            async with anyio.create_task_group() as listening:
                if self.listen_dsn is not None:
                    listening.start_soon(self._listen, self.listen_dsn)
                async with anyio.create_task_group() as tg:
                    if self.relay:
                        tg.start_soon(self._loop, "outbox", self._relay_once)
                    for queue, handler in self.handlers.items():
                        tg.start_soon(self._loop, queue, self._queue_once(queue, handler))
                    for job in self.periodic:
                        tg.start_soon(self._every, job)
                # Every loop has returned (stop()): the listener has no one left to wake.
                listening.cancel_scope.cancel()
        finally:
            for loop in loops:
                LOOPS.labels(loop).set(0)

    async def _relay_once(self) -> bool:
        n = await relay_outbox(self.store, self.relay_batch)
        return n >= self.relay_batch or (n > 0 and not self.listening)

    def _queue_once(self, queue: str, handler: Handler) -> Callable[[], Awaitable[bool]]:
        handler = _traced(queue, handler)  # a span per job (per batch) when tracing is on

        async def once() -> bool:
            taken = await run_batch(
                self.store,
                queue,
                handler,
                clock=self.clock,
                limit=self.batch,
                concurrency=self.concurrency,
                lease=self.lease,
                stopping=lambda: self.stopping,
            )
            JOBS_RUN.labels(queue).inc(taken.jobs)
            return taken.more or (taken.jobs > 0 and not self.listening)

        return once

    async def _loop(self, name: str, once: Callable[[], Awaitable[bool]]) -> None:
        # ``once`` returns whether to look again at once; else the loop sleeps until notified (armed
        # before the look, so a notification that comes while it works is not lost) or polled.
        failures = 0
        while not self.stopping:
            self._arm(name)
            began = anyio.current_time()
            try:
                more = await once()
                failures = 0
            except Exception:
                failures += 1
                log.exception("worker %s failed (%d in a row)", name, failures)
                await self._nap(name, min(30.0, self.poll * 2**failures))
                continue
            if not more:
                await self._nap(name)
                # Woken soon after the last look: what commits meanwhile joins the next one.
                if (rest := began + self.coalesce - anyio.current_time()) > 0 and not self.stopping:
                    await anyio.sleep(rest)

    async def _every(self, job: Periodic) -> None:
        while not self.stopping:
            self._arm(job.name)
            try:
                await job.run()
            except Exception:
                log.exception("periodic %s failed", job.name)
            await self._nap(job.name, job.every.total_seconds())


def _traced(queue: str, handler: Handler) -> Handler:
    """A span per job when tracing is on; a batch handler's batch in one span (``caas.jobs <queue>``)
    naming its jobs, so it still runs as a batch."""
    traced = traced_handler(queue, handler)
    if traced is handler or not isinstance(handler, BatchHandler):
        return traced
    from opentelemetry import trace

    tracer = trace.get_tracer("caas")

    async def run(jobs: list[Job]) -> Sequence[Exception | None]:
        ids = [j.id for j in jobs]
        with tracer.start_as_current_span(
            f"caas.jobs {queue}", attributes={"caas.queue": queue, "caas.job_ids": ids}
        ):
            return await handler.run(jobs)

    return BatchHandler(run)
