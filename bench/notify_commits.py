#!/usr/bin/env python
"""What a NOTIFY inside a write transaction costs PostgreSQL's commit rate (docs/scaling.md item 8).

PostgreSQL commits transactions that notify one at a time: each holds the notification queue's lock
from just before its commit record until the commit ends, WAL flush included, so they get no group
commit. Every write of the product notifies today (the outbox's statement trigger, migration 0024).
With pgbench (Debian's postgresql-client; C, so the client does not set the rate), ``--clients``
sessions each commit one-row inserts for ``--seconds``, three ways, alternated over ``--runs``:

- ``plain``: BEGIN; INSERT; COMMIT, no notification (group commit applies);
- ``notify``: the same transaction also runs ``pg_notify`` (what the outbox trigger does);
- ``after``: the insert's transaction as in ``plain``, then a transaction of its own that only notifies
  with ``synchronous_commit = off`` (one NOTIFY per commit, the worst case of the change item 8 names:
  a process's own NOTIFY after its commits, which would also coalesce them).

A notify-only transaction still gets a transaction id and writes a commit record (PreCommit_Notify
assigns one), hence ``synchronous_commit = off`` there: its flush is then not waited for under the
lock, and a notification lost in a crash costs a poll, nothing else.

    .venv/bin/python bench/notify_commits.py --dsn postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

SCRIPTS = {
    "plain": "BEGIN;\nINSERT INTO probe (v) VALUES (1);\nCOMMIT;\n",
    "notify": "BEGIN;\nINSERT INTO probe (v) VALUES (1);\nSELECT pg_notify('caas_outbox', '');\nCOMMIT;\n",
    "after": (
        "BEGIN;\nINSERT INTO probe (v) VALUES (1);\nCOMMIT;\n"
        "BEGIN;\nSET LOCAL synchronous_commit = off;\nSELECT pg_notify('caas_outbox', '');\nCOMMIT;\n"
    ),
}


def pgbench(dsn: str, script: Path, clients: int, seconds: int) -> float:
    """Transactions per script run per second (each ``after`` run is two commits)."""
    jobs = str(min(clients, 2))
    try:
        out = subprocess.run(
            ["pgbench", "-n", "-c", str(clients), "-j", jobs, "-T", str(seconds), "-f", str(script), dsn],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except FileNotFoundError:
        need = "pgbench is in Debian's postgresql-client: apt-get install -y postgresql-client"
        raise SystemExit(need) from None
    found = re.search(r"^tps = ([0-9.]+)", out, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"pgbench printed no tps:\n{out}")
    return float(found.group(1))


async def run(dsn: str, clients: int, seconds: int, runs: int) -> dict[str, float]:
    name = f"caas_notify_bench_{os.getpid()}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            target = urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))
            probe = await asyncpg.connect(target)
            try:
                await probe.execute("CREATE TABLE probe (id bigserial PRIMARY KEY, v int NOT NULL)")
            finally:
                await probe.close()
            with tempfile.TemporaryDirectory() as tmp:
                files = {kind: Path(tmp, f"{kind}.sql") for kind in SCRIPTS}
                for kind, path in files.items():
                    path.write_text(SCRIPTS[kind])
                rates: dict[str, list[float]] = {kind: [] for kind in SCRIPTS}
                for _ in range(runs):
                    for kind, path in files.items():
                        rates[kind].append(await asyncio.to_thread(pgbench, target, path, clients, seconds))
            return {kind: statistics.median(r) for kind, r in rates.items()}
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def report(rates: dict[str, float], clients: int) -> None:
    plain = rates["plain"]
    print(f"{clients} sessions, commits of the insert per second (median):")
    print("| way | insert commits/s | vs plain |")
    print("|---|---:|---:|")
    for kind, rate in rates.items():
        print(f"| {kind} | {rate:,.0f} | {rate / plain:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", default=os.environ.get("CAAS_BENCH_POSTGRES_URL"), help="admin DSN")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not args.dsn:
        ap.error("--dsn (or CAAS_BENCH_POSTGRES_URL) is required")
    report(asyncio.run(run(args.dsn, args.clients, args.seconds, args.runs)), args.clients)


if __name__ == "__main__":
    main()
