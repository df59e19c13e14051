#!/usr/bin/env python
"""What one `caas serve` process costs, per server: resident memory after start-up, database
connections held, start-up time to /ready, and what else it runs (sandbox sockets, worker loops).

Each server (the composed `caas` and every `--service X` of the checkout's SERVICES table) starts in
turn, alone, as a child process of the checkout's own virtual environment (`--checkout`, default this
repository), on a fresh pair of databases (core and Supabase side) on the PostgreSQL at --dsn (default
$CAAS_BENCH_POSTGRES_URL, else $CAAS_TEST_POSTGRES_URL) with the sandbox allowed (CAAS_SANDBOX=true)
and registration off. Start-up is the wall time from spawning the process to the first 200 from
/ready. After --settle seconds (the workers, when a process runs them, have started and grown their
pool), the figures are read:

- RSS: VmRSS of the process (psutil), in MiB.
- DB connections: the process's own TCP connections to the PostgreSQL port (psutil), so the figure is
  right whatever application_name the checkout sets; the application_name those backends report in
  pg_stat_activity is shown beside it.
- listening: the TCP ports the process listens on (its /mcp port, plus two when it runs the sandbox).
- workers: whether /metrics has a `caas_worker_loops` sample at 1 (set as soon
  as they start).

Then SIGTERM (SIGKILL after 20 s). The databases are dropped at the end.

    .venv/bin/python bench/bench_processes.py --dsn postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/bench_processes.py --checkout ../other-checkout --json before.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.common import PII_ENV  # noqa: E402

LIST_SERVERS = (
    "import json; from mcp_servers.composition import SERVICES, PLAN_PORTS; "
    "print(json.dumps({s: PLAN_PORTS.get(s) for s in ['caas', *SERVICES]}))"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_db(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


def servers(python: Path) -> dict[str, int | None]:
    """The checkout's servers and their plan ports, read by its own interpreter."""
    out = subprocess.run([str(python), "-c", LIST_SERVERS], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def _env(core: str, supabase: str, data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    prefixes = ("CAAS_", "NEON_", "SUPABASE_", "FASTMCP_", "ONASIS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(PII_ENV)
    env.update(
        NEON_DATABASE_URL=core,
        SUPABASE_DB_URL=supabase,
        CAAS_SANDBOX="true",
        CAAS_REGISTRY="false",
        CAAS_DATA_DIR=str(data_dir),
        CAAS_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


async def _wait_ready(client: httpx.AsyncClient, url: str, proc: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before /ready")
        try:
            if (await client.get(url + "/ready", timeout=2)).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if time.perf_counter() - started > 120:
            raise RuntimeError("not ready after 120 s")
        await asyncio.sleep(0.05)


async def _app_names(admin: str, ports: list[int]) -> list[str]:
    if not ports:
        return []
    conn = await asyncpg.connect(admin)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT application_name FROM pg_stat_activity WHERE client_port = ANY($1::int[])", ports
        )
    finally:
        await conn.close()
    return sorted(r["application_name"] for r in rows)


def _spawn(
    command: list[str], cwd: Path, env: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen[bytes], Any]:
    log = log_path.open("wb")
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    return proc, log


async def measure(
    python: Path, server: str, args: argparse.Namespace, core: str, supabase: str, tmp: Path
) -> dict[str, Any]:
    port = _free_port()
    command = [str(python), "-m", "mcp_servers.cli", "serve", "--port", str(port)]
    if server != "caas":
        command += ["--service", server]
    command += args.extra_arg
    spawned = time.perf_counter()
    proc, log = _spawn(command, tmp, _env(core, supabase, tmp / "data", {}), tmp / f"{server}.log")
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            await _wait_ready(client, url, proc)
            startup = time.perf_counter() - spawned
            await asyncio.sleep(args.settle)
            metrics = (await client.get(url + "/metrics")).text
        ps = psutil.Process(proc.pid)
        pg_port = urlsplit(args.dsn).port or 5432
        inet = ps.net_connections(kind="tcp")
        db = [c for c in inet if c.raddr and c.raddr.port == pg_port]
        listening = sorted(c.laddr.port for c in inet if c.status == psutil.CONN_LISTEN)
        return {
            "server": server,
            "port": port,
            "rss_mib": round(ps.memory_info().rss / 2**20, 1),
            "db_connections": len(db),
            "application_names": await _app_names(args.dsn, [c.laddr.port for c in db]),
            "startup_s": round(startup, 2),
            "listening": len(listening),
            "workers": re.search(r"^caas_worker_loops\{[^}]*\} 1\.0$", metrics, re.M) is not None,
            "threads": ps.num_threads(),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def table(rows: list[dict[str, Any]], title: str) -> str:
    lines = [
        f"## {title}",
        "| server | RSS MiB | DB connections | application_name | start-up s | listening | workers |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        names = ",".join(r["application_names"]) or "-"
        lines.append(
            f"| {r['server']} | {r['rss_mib']} | {r['db_connections']} | {names} | {r['startup_s']} "
            f"| {r['listening']} | {'yes' if r['workers'] else 'no'} |"
        )
    total_rss = sum(r["rss_mib"] for r in rows if r["server"] != "caas")
    total_db = sum(r["db_connections"] for r in rows if r["server"] != "caas")
    lines.append(f"| all single services | {round(total_rss, 1)} | {total_db} | | | | |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    python = args.python
    chosen = servers(python)
    if args.servers:
        chosen = {s: chosen[s] for s in args.servers.split(",")}
    suffix = secrets.token_hex(4)
    names = [f"caas_bench_proc_{suffix}", f"caas_bench_proc_{suffix}_supa"]
    admin = await asyncpg.connect(args.dsn)
    for name in names:
        await admin.execute(f'CREATE DATABASE "{name}"')
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="caas-bench-proc-") as tmp:
            for server in chosen:
                row = await measure(
                    python,
                    server,
                    args,
                    _with_db(args.dsn, names[0]),
                    _with_db(args.dsn, names[1]),
                    Path(tmp),
                )
                print(json.dumps(row), file=sys.stderr)
                rows.append(row)
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dsn", default=os.environ.get("CAAS_BENCH_POSTGRES_URL") or os.environ.get("CAAS_TEST_POSTGRES_URL")
    )
    parser.add_argument("--checkout", default=str(ROOT), help="the repository whose .venv runs the servers")
    parser.add_argument("--servers", help="comma-separated servers (default: caas and every service)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between /ready and measuring")
    parser.add_argument("--extra-arg", action="append", default=[], help="one more `caas serve` argument")
    parser.add_argument("--title", default="caas serve, one process per server")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    if not args.dsn:
        parser.error("--dsn (or CAAS_BENCH_POSTGRES_URL) is required: a PostgreSQL that can CREATE DATABASE")
    args.python = Path(args.checkout).resolve() / ".venv" / "bin" / "python"
    rows = asyncio.run(run(args))
    print(table(rows, args.title))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
