#!/usr/bin/env python
"""Background workers under a burst of webhook jobs: database connections held while jobs run, and
the latency from the commit of a job to its webhook reaching the receiver.

For each checkout (`--checkouts`, default this repository; pass the old one first to measure before
and after in one run) a worker runs as a child process of that checkout's own virtual environment, on
a fresh database migrated by that checkout: the checkout's own `PgJobStore` and `Workers` (claim,
outcome, polling or LISTEN, whatever that version does), the product's pool (`database.pool`) and its
default poll (`CAAS_WORKER_POLL_SECONDS` 0.5 s), one queue, `bench_webhooks`. Its handler stands in
for `deliver_provider_webhook`: one POST through httpx (10 s timeout) to a receiver in this process
(Starlette on uvicorn, loopback) that answers after `--delay-ms` (a lender's slow endpoint). The
queue machinery is the product's; the webhook body and signing are not.

Two phases:
- trickle: `--trickle` jobs, each inserted and committed alone, 0.1-1.1 s after the previous one
  arrived (uniform, so an insert lands anywhere in a 0.5 s poll's cycle, not in step with it);
  latency = the receiver's arrival time minus the time the commit returned (one machine, one clock).
- burst: `--burst` jobs committed in one transaction. While they drain, pg_stat_activity is sampled
  every 20 ms for the worker's backends: *held* counts those inside a transaction (xact_start
  set), *open* all of them. The table gives the largest held and the mean held
  over the drain, the drain time, and commit-to-delivered p50/p99. The backends are all those on the
  bench's database but the bench's own: the worker's pool and, after, its LISTEN connection. The
  worker's CPU (psutil user+system, 10 ms ticks) from the insert until every job is marked done,
  per job, is the last column: the queue's machinery and the handler's httpx POST.

    .venv/bin/python bench/bench_workers.py --dsn postgresql://postgres@127.0.0.1:5432/postgres \\
        --checkouts ../main,. --runs 3 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
QUEUE = "bench_webhooks"
APP = "caas-bench-worker"

# Runs in the checkout under test (its modules, its venv): migrate, then run its workers on one queue.
WORKER = """
import sys, anyio, httpx
from database.pool import create_pool
from database.platform.jobs import PgJobStore
from mcp_servers.platform.workers import Workers
from mcp_servers.runtime import prepare_schema
from tools.platform.ports import SystemClock

dsn, receiver, app = sys.argv[1:4]

async def main():
    await prepare_schema(dsn, "core", True)
    pool = await create_pool(dsn, min_size=2, max_size=4, application_name=app)
    http = httpx.AsyncClient(timeout=10.0)

    async def deliver(job):
        response = await http.post(receiver, json={"job": job.id, "event_type": job.event_type})
        response.raise_for_status()

    extra = {"listen_dsn": dsn} if "listen_dsn" in Workers.__dataclass_fields__ else {}
    workers = Workers(store=PgJobStore(pool), clock=SystemClock(), handlers={"QUEUE": deliver},
                      relay=False, poll=0.5, **extra)
    print("ready", flush=True)
    await workers.run()

anyio.run(main)
""".replace("QUEUE", QUEUE)


class Receiver:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrived: dict[int, float] = {}
        self.app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        body = await request.json()
        self.arrived.setdefault(int(body["job"]), time.time())
        await asyncio.sleep(self.delay)
        return Response(status_code=204)


async def serve_receiver(receiver: Receiver) -> tuple[uvicorn.Server, str]:
    config = uvicorn.Config(receiver.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    asyncio.get_running_loop().create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook"


def with_db(dsn: str, name: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"


async def insert(conn: asyncpg.Connection, n: int) -> tuple[list[int], float]:
    """``n`` jobs in one transaction; returns their ids and the time the commit returned."""
    async with conn.transaction():
        rows = await conn.fetch(
            "INSERT INTO caas_core.jobs (queue, event_id, event_type, payload) "
            "SELECT $1, gen_random_uuid(), 'provider.invited', '{}'::jsonb FROM generate_series(1, $2) "
            "RETURNING id",
            QUEUE,
            n,
        )
    return [r["id"] for r in rows], time.time()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait_for(receiver: Receiver, ids: list[int], within: float) -> None:
    deadline = time.monotonic() + within
    while not all(i in receiver.arrived for i in ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(i in receiver.arrived for i in ids)}/{len(ids)} webhooks arrived")
        await asyncio.sleep(0.01)


async def trickle(conn: asyncpg.Connection, receiver: Receiver, n: int) -> list[float]:
    latencies = []
    for _ in range(n):
        (job,), committed = await insert(conn, 1)
        await wait_for(receiver, [job], 30)
        latencies.append((receiver.arrived[job] - committed) * 1000)
        await asyncio.sleep(random.uniform(0.1, 1.1))
    return latencies


def cpu_ms(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return (t.user + t.system) * 1000


async def burst(
    conn: asyncpg.Connection, receiver: Receiver, n: int, worker: psutil.Process
) -> dict[str, float]:
    held: list[int] = []
    opened: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE xact_start IS NOT NULL) AS held, count(*) AS open "
                "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            assert row is not None
            held.append(row["held"])
            opened.append(row["open"])
            await asyncio.sleep(0.02)

    cpu_before = cpu_ms(worker)
    ids, committed = await insert(conn, n)
    sampler = asyncio.create_task(sample())
    await wait_for(receiver, ids, 600)
    drained = time.time() - committed
    done.set()
    await sampler
    # Until the last outcome is recorded (the last webhook arrived before it).
    while await conn.fetchval(  # noqa: ASYNC110 - the database state: no event to wait on
        "SELECT count(*) FROM caas_core.jobs WHERE done_at IS NULL"
    ):
        await asyncio.sleep(0.01)
    cpu_per_job = (cpu_ms(worker) - cpu_before) / n
    latencies = [(receiver.arrived[i] - committed) * 1000 for i in ids]
    return {
        "held_max": max(held),
        "held_mean": statistics.fmean(held),
        "open_max": max(opened),
        "drain_s": drained,
        "p50_ms": pct(latencies, 0.5),
        "p99_ms": pct(latencies, 0.99),
        "cpu_ms_per_job": cpu_per_job,
    }


async def measure(checkout: Path, commit: str, dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    name = f"bench_workers_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    receiver = Receiver(args.delay_ms / 1000)
    server, url = await serve_receiver(receiver)
    python = checkout / ".venv" / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    child = await asyncio.create_subprocess_exec(
        str(python), "-c", WORKER, with_db(dsn, name), url, APP, cwd=checkout, env=env, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        line = await child.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"the worker of {checkout} did not start")
        conn = await asyncpg.connect(with_db(dsn, name))
        try:
            await asyncio.sleep(1)  # the loops have looked once and sleep (or listen)
            lat = await trickle(conn, receiver, args.trickle)
            result = await burst(conn, receiver, args.burst, psutil.Process(child.pid))
        finally:
            await conn.close()
        return {
            "checkout": str(checkout),
            "commit": commit,
            "trickle_p50_ms": pct(lat, 0.5),
            "trickle_p99_ms": pct(lat, 0.99),
            "trickle_max_ms": max(lat),
            **{f"burst_{k}": v for k, v in result.items()},
        }
    finally:
        child.terminate()
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
        server.should_exit = True
        await asyncio.sleep(0.2)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


COLUMNS = (
    ("commit", "checkout", "{}"),
    ("trickle_p50_ms", "trickle commit->webhook p50 ms", "{:.1f}"),
    ("trickle_p99_ms", "p99 ms", "{:.1f}"),
    ("burst_held_max", "burst: connections in a transaction, max", "{}"),
    ("burst_held_mean", "mean", "{:.2f}"),
    ("burst_open_max", "worker backends open, max", "{}"),
    ("burst_drain_s", "drain s", "{:.2f}"),
    ("burst_p50_ms", "burst commit->webhook p50 ms", "{:.0f}"),
    ("burst_p99_ms", "p99 ms", "{:.0f}"),
    ("burst_cpu_ms_per_job", "burst: worker CPU ms per job", "{:.2f}"),
)


def table(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|"
    body = ["| " + " | ".join(fmt.format(r[key]) for key, _, fmt in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def commit_of(checkout: Path) -> str:
    out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True)
    dirty = subprocess.run(["git", "-C", str(checkout), "diff", "--quiet", "HEAD"], check=False).returncode
    return out.stdout.decode().strip() + ("+changes" if dirty else "")


async def bench(checkouts: list[tuple[Path, str]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each checkout ``--runs`` times, alternating (drift hits both), then each figure's median."""
    runs: dict[Path, list[dict[str, Any]]] = {path: [] for path, _ in checkouts}
    for _ in range(args.runs):
        for path, commit in checkouts:
            runs[path].append(await measure(path, commit, args.dsn, args))
    return [
        {
            key: statistics.median(r[key] for r in results) if isinstance(value, int | float) else value
            for key, value in results[0].items()
        }
        for results in runs.values()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--dsn", default=os.environ.get("CAAS_BENCH_POSTGRES_URL") or os.environ.get("CAAS_TEST_POSTGRES_URL")
    )
    parser.add_argument("--checkouts", default=".", help="comma-separated; each needs its own .venv")
    parser.add_argument("--trickle", type=int, default=40)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--delay-ms", type=float, default=100.0, help="the receiver's answer time")
    parser.add_argument("--runs", type=int, default=1, help="medians of this many runs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not args.dsn:
        parser.error("--dsn (or $CAAS_BENCH_POSTGRES_URL) is required")
    checkouts = [(Path(c).resolve(), commit_of(Path(c))) for c in args.checkouts.split(",")]
    rows = asyncio.run(bench(checkouts, args))
    sys.stdout.write(table(rows) + "\n")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
