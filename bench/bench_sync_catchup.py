#!/usr/bin/env python
"""Supabase sync catch-up after an outage: an hour of outbox events accumulated while the sync worker
was stopped, then `caas worker --queues outbox,supabase_sync` started and timed until the mirror has
caught up (every event relayed and every supabase_sync job done).

A fresh pair of databases on one PostgreSQL (`--dsn` or `$CAAS_BENCH_POSTGRES_URL`): the system of
record and a Supabase-shaped one (hosted defaults, then our supabase migrations). Supabase is reached
over HTTP, as when only SUPABASE_URL and the service-role key are set: the worker's PostgREST writer
(supabase-py) against the stand-in PostgREST of the tests (`tests/helpers/postgrest_double.py`, a real
loopback HTTP server in this process, given a connection pool here). The events are those the use
cases write for an application (tests/helpers/supabase.py: the status steps, two documents, then
repayments up to `--events-per-application`), `--events-per-hour` of them (default one hour at 1M
applications a month, ~40 events each: 1e6 / 730 h x 40 = 54.8k), all routed to supabase_sync.

Reported: catch-up time (from the worker's start), events/s over the drain (first to last event
applied), the worker's CPU over the drain (start-up apart: ms per event, and share of one core), the
stand-in's CPU (this process), jobs failed. The mirror is checked: one activity row per event.
Databases are dropped and the worker stopped by PID at the end.

    .venv/bin/python bench/bench_sync_catchup.py --dsn postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/bench_sync_catchup.py --events-per-hour 5000 --json out.json   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import asyncpg  # noqa: E402
import psutil  # noqa: E402
from submit_harness import admin_exec, start_child, stop_child, with_db  # noqa: E402

from database import migrate  # noqa: E402
from database.pool import configure_connection  # noqa: E402
from tests.helpers.common import PII_ENV  # noqa: E402
from tests.helpers.postgrest_double import postgrest_double  # noqa: E402
from tests.helpers.supabase import STEPS, Journey, apply_hosted_defaults  # noqa: E402

MONTHLY_APPLICATIONS = 1_000_000
EVENTS_PER_APPLICATION = 40
DEFAULT_EVENTS = round(MONTHLY_APPLICATIONS / (365 * 24 / 12) * EVENTS_PER_APPLICATION)
LIMIT_S = 3600.0
PROGRESS_SQL = """SELECT (SELECT count(*) FROM caas_core.outbox WHERE published_at IS NULL) AS unrelayed,
    (SELECT count(*) FROM caas_core.jobs WHERE queue = 'supabase_sync' AND done_at IS NOT NULL) AS done,
    (SELECT count(*) FROM caas_core.jobs WHERE queue = 'supabase_sync' AND failed_at IS NOT NULL) AS failed,
    (SELECT count(*) FROM caas_core.jobs WHERE queue = 'supabase_sync'
        AND done_at IS NULL AND failed_at IS NULL) AS pending"""


def journey_events(per_application: int) -> list[tuple[str, dict[str, Any]]]:
    """One application's events in the order its use cases write them."""
    j = Journey()
    events = [getattr(j, kind)(*args) for kind, args, _ in STEPS[:9]]
    for document in (uuid.uuid4(), uuid.uuid4()):
        events += [j.document(document, "pending"), j.document(document, "verified")]
    events += [getattr(j, kind)(*args) for kind, args, _ in STEPS[9:-1]]
    while len(events) < per_application - 1:
        events.append(j.repayment("active"))
    events.append(j.repayment("closed"))
    return events[:per_application]


async def accumulate(core: asyncpg.Connection, total: int, per_application: int) -> int:
    """``total`` events of ``total / per_application`` applications, interleaved as they would arrive
    over the hour (each application's own events stay in their order)."""
    journeys = [journey_events(per_application) for _ in range(-(-total // per_application))]
    records: list[tuple[Any, ...]] = []
    step = 0
    while len(records) < total:
        for events in journeys:
            if step < len(events) and len(records) < total:
                event_type, payload = events[step]
                aggregate = event_type.split(".")[0]
                records.append((uuid.uuid4(), aggregate, payload["application_id"], event_type, payload))
        step += 1
    await core.executemany(
        "INSERT INTO caas_core.outbox (event_id, aggregate_type, aggregate_id, event_type, payload)"
        " VALUES ($1, $2, $3, $4, $5)",
        records,
    )
    return len(records)


def worker_env(
    core_dsn: str, rest_url: str, key: str, work: Path, opts: argparse.Namespace
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAAS_", "NEON_", "SUPABASE_"))}
    env |= PII_ENV | {"PYTHONPATH": str(ROOT)}
    env |= {
        "NEON_DATABASE_URL": core_dsn,
        "SUPABASE_URL": rest_url,
        "SUPABASE_SERVICE_ROLE_KEY": key,
        "CAAS_DATA_DIR": str(work / "caas-data"),
        "CAAS_REGISTRY": "false",
    }
    return env


async def drain(core: asyncpg.Connection, proc: Any, log: Path, total: int) -> dict[str, float]:
    start = time.monotonic()
    first = None
    meter = psutil.Process(proc.pid)
    startup_cpu = 0.0
    while True:
        if proc.poll() is not None:
            text = await asyncio.to_thread(log.read_text)
            raise RuntimeError(f"caas worker exited rc={proc.returncode}: {text[-2000:]}")
        row = await core.fetchrow(PROGRESS_SQL)
        now = time.monotonic()
        if first is None and row["done"] > 0:
            first = now
            cpu = meter.cpu_times()
            startup_cpu = cpu.user + cpu.system  # imports and start-up, not the catch-up
        if row["unrelayed"] == 0 and row["pending"] == 0 and row["done"] + row["failed"] >= total:
            first = first or now
            return {
                "catch_up_s": now - start,
                "first_s": first - start,
                "failed": row["failed"],
                "startup_cpu_s": startup_cpu,
            }
        if now - start > LIMIT_S:
            raise RuntimeError(f"not caught up after {LIMIT_S:.0f}s: {dict(row)}")
        await asyncio.sleep(0.2)


async def run(opts: argparse.Namespace, admin: str) -> dict[str, Any]:
    tag = secrets.token_hex(4)
    dbs = {"core": f"caas_bench_sync_{tag}", "supabase": f"caas_bench_sync_{tag}_supa"}
    await admin_exec(admin, *(f'CREATE DATABASE "{d}"' for d in dbs.values()))
    proc = None
    try:
        core_dsn, supa_dsn = with_db(admin, dbs["core"]), with_db(admin, dbs["supabase"])
        await apply_hosted_defaults(supa_dsn)
        for dsn, target in ((core_dsn, "core"), (supa_dsn, "supabase")):
            conn = await asyncpg.connect(dsn)
            try:
                await migrate.migrate(conn, target)  # type: ignore[arg-type]
            finally:
                await conn.close()
        core = await asyncpg.connect(core_dsn)
        await configure_connection(core)
        total = await accumulate(core, opts.events_per_hour, opts.events_per_application)
        key = "bench-service-role-" + secrets.token_hex(8)
        async with (
            asyncpg.create_pool(supa_dsn, min_size=2, max_size=opts.stand_in_pool) as pool,
            postgrest_double(supa_dsn, key) as double,
        ):
            double.pool, double.record = pool, False
            with tempfile.TemporaryDirectory(prefix="caas-bench-sync-") as tmp:
                work, log = Path(tmp), Path(tmp) / "worker.log"
                cmd = [sys.executable, "-m", "mcp_servers.cli", "worker", "--queues", "outbox,supabase_sync"]
                driver0 = os.times()
                proc = start_child(cmd, log, worker_env(core_dsn, double.url, key, work, opts))
                timing = await drain(core, proc, log, total)
                cpu = psutil.Process(proc.pid).cpu_times()
                driver1 = os.times()
                stop_child(proc)
        supa = await asyncpg.connect(supa_dsn)
        try:
            activities = await supa.fetchval("SELECT count(*) FROM public.user_activities")
        finally:
            await supa.close()
        await core.close()
    finally:
        if proc is not None:
            stop_child(proc)
        await admin_exec(admin, *(f'DROP DATABASE IF EXISTS "{d}" WITH (FORCE)' for d in dbs.values()))
    worker_s = cpu.user + cpu.system - timing["startup_cpu_s"]
    drain_s = timing["catch_up_s"] - timing["first_s"]
    stand_in_s = (driver1.user + driver1.system) - (driver0.user + driver0.system)
    return {
        "events": total,
        "applications": -(-total // opts.events_per_application),
        "catch_up_s": round(timing["catch_up_s"], 2),
        "startup_s": round(timing["first_s"], 2),
        "events_per_s": round(total / drain_s, 1) if drain_s > 0 else None,
        "worker_startup_cpu_s": round(timing["startup_cpu_s"], 2),
        "worker_cpu_s": round(worker_s, 2),
        "worker_cpu_ms_per_event": round(1000 * worker_s / total, 3),
        "worker_core_share": round(worker_s / drain_s, 2) if drain_s > 0 else None,
        "stand_in_and_driver_cpu_s": round(stand_in_s, 2),
        "jobs_failed": timing["failed"],
        "mirror_activities": activities,
        "load_1_at_end": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", default=os.environ.get("CAAS_BENCH_POSTGRES_URL"))
    ap.add_argument("--events-per-hour", type=int, default=DEFAULT_EVENTS)
    ap.add_argument("--events-per-application", type=int, default=EVENTS_PER_APPLICATION)
    ap.add_argument("--stand-in-pool", type=int, default=8, help="connections of the stand-in PostgREST")
    ap.add_argument("--json", metavar="OUT.json")
    opts = ap.parse_args()
    if not opts.dsn:
        ap.error("give --dsn or CAAS_BENCH_POSTGRES_URL (a server that may CREATE DATABASE)")
    if opts.events_per_application < 20:
        ap.error("--events-per-application must be at least 20 (the status steps and two documents)")
    load = os.getloadavg()
    result = asyncio.run(run(opts, opts.dsn)) | {"load_1_5_15_at_start": [round(x, 2) for x in load]}
    for k, v in result.items():
        print(f"{k:>28}: {v}")
    if opts.json:
        Path(opts.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
