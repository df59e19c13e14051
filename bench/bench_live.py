"""Live updates: how long from an outbox commit to the event on an open ``/live/events`` stream, and what
an idle server costs in CPU with no stream open and with one open (issue 14, LISTEN/NOTIFY wake-up).

One ``caas serve`` (the composed server, ``CAAS_WORKERS=false`` so only the live reader works) on a fresh
pair of databases on the PostgreSQL at --dsn. The driver signs in as an operator (who is told every
provider event without a lookup), commits ``--events`` outbox events one at a time straight into
``caas_core.outbox`` at random moments (so a poller's phase is uniform), and times each from the
return of its COMMIT to its arrival on the stream. Idle CPU is the server process's user+system time
over ``--idle`` seconds, per minute, and the reads of ``caas_core.outbox`` in that time (PostgreSQL's
scan counters for the table, per minute).

    .venv/bin/python bench/bench_live.py --dsn postgresql://postgres@127.0.0.1:5432/postgres
    # --source DIR: run the server from another checkout (e.g. `git archive` of an older commit)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import statistics
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

from tests.helpers.common import JWT_ISSUER, JWT_SECRET, PII_ENV, make_jwt  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_db(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _env(core: str, supabase: str, data_dir: Path, source: Path | None) -> dict[str, str]:
    prefixes = ("CAAS_", "NEON_", "SUPABASE_", "FASTMCP_", "ONASIS_", "PROMETHEUS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(PII_ENV)
    env.update(
        NEON_DATABASE_URL=core,
        SUPABASE_DB_URL=supabase,
        CAAS_SANDBOX="true",
        CAAS_REGISTRY="false",
        CAAS_WORKERS="false",
        CAAS_DATA_DIR=str(data_dir),
        CAAS_LOG_LEVEL="WARNING",
        CAAS_JWT_SECRET=JWT_SECRET,
        CAAS_JWT_ISSUER=JWT_ISSUER,
        CAAS_JWT_ALGORITHM="HS256",
    )
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return env


def _spawn(command: list[str], cwd: str, env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


_OUTBOX_SCANS = (
    "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
    "WHERE schemaname = 'caas_core' AND relname = 'outbox'"
)


async def _idle(proc: psutil.Process, core: str, seconds: float) -> tuple[float, float]:
    """The server's CPU ms and its reads of the outbox (scans PostgreSQL counted), per minute."""
    conn = await asyncpg.connect(core)
    try:
        await asyncio.sleep(1.0)  # PostgreSQL publishes a backend's statistics at most once a second
        scans, before = await conn.fetchval(_OUTBOX_SCANS), _cpu_s(proc)
        await asyncio.sleep(seconds)
        cpu = _cpu_s(proc) - before
        await asyncio.sleep(1.0)
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        scans = await conn.fetchval(_OUTBOX_SCANS) - scans
    finally:
        await conn.close()
    return round(cpu * 1000 * 60 / seconds, 1), round(scans * 60 / seconds, 1)


async def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode} before /ready")
            try:
                if (await client.get(url + "/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("not ready after 120 s")


async def _latencies(url: str, core: str, proc: psutil.Process, args: argparse.Namespace) -> dict[str, Any]:
    token = make_jwt("bench-operator", role="operator")
    arrived: dict[str, float] = {}
    got = asyncio.Event()
    ready = asyncio.Event()

    async def follow(client: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with client.stream("GET", url + "/live/events", headers=headers) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("type") == "live.ready":
                    ready.set()
                elif message.get("entity") == "provider":
                    arrived[message["id"]] = time.perf_counter()
                    got.set()

    conn = await asyncpg.connect(core)
    async with httpx.AsyncClient(timeout=httpx.Timeout(None)) as client:
        reader = asyncio.create_task(follow(client))
        try:
            await asyncio.wait_for(ready.wait(), 30)
            idle_cpu, idle_reads = await _idle(proc, core, args.idle)
            samples = []
            for i in range(args.events):
                await asyncio.sleep(random.uniform(0.1, 1.1))
                key = f"bench-{i}-{secrets.token_hex(4)}"
                got.clear()
                await conn.execute(
                    "INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload) "
                    "VALUES ('provider', $1, 'provider.bench', '{}'::jsonb)",
                    key,
                )
                committed = time.perf_counter()
                while key not in arrived:
                    await asyncio.wait_for(got.wait(), 60)
                    got.clear()
                samples.append((arrived[key] - committed) * 1000)
        finally:
            reader.cancel()
            await conn.close()
    samples.sort()
    return {
        "events": len(samples),
        "latency_ms_p50": round(statistics.median(samples), 1),
        "latency_ms_p99": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 1),
        "latency_ms_max": round(samples[-1], 1),
        "idle_cpu_ms_per_min_one_stream": idle_cpu,
        "idle_outbox_reads_per_min_one_stream": idle_reads,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    suffix = secrets.token_hex(4)
    names = [f"caas_bench_live_{suffix}", f"caas_bench_live_{suffix}_supa"]
    admin = await asyncpg.connect(args.dsn)
    for name in names:
        await admin.execute(f'CREATE DATABASE "{name}"')
    core, supabase = (_with_db(args.dsn, n) for n in names)
    try:
        with tempfile.TemporaryDirectory(prefix="caas-bench-live-") as tmp:
            port = _free_port()
            log = (Path(tmp) / "server.log").open("wb")
            command = [sys.executable, "-m", "mcp_servers.cli", "serve", "--port", str(port)]
            env = _env(core, supabase, Path(tmp) / "data", args.source)
            server = _spawn(command, tmp, env, log)
            url = f"http://127.0.0.1:{port}"
            try:
                await _wait_ready(url, server)
                proc = psutil.Process(server.pid)
                await asyncio.sleep(args.settle)
                idle_cpu, idle_reads = await _idle(proc, core, args.idle)
                result = {
                    "idle_cpu_ms_per_min_no_stream": idle_cpu,
                    "idle_outbox_reads_per_min_no_stream": idle_reads,
                    **await _latencies(url, core, proc, args),
                }
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
                log.close()
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    result["load_1m"] = round(os.getloadavg()[0], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default=os.environ.get("CAAS_BENCH_POSTGRES_URL"))
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of each idle CPU window")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after /ready before measuring")
    parser.add_argument("--source", type=Path, default=None, help="run the server from this checkout")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not args.dsn:
        parser.error("--dsn (or CAAS_BENCH_POSTGRES_URL) is required: a PostgreSQL that can CREATE DATABASE")
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
