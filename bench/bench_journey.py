#!/usr/bin/env python
"""The whole credit journey against `caas serve`, with its background workers, vs the bare FastMCP floor.

One run: fresh databases (bare table, caas core, caas supabase) on the PostgreSQL at --dsn (default
env CAAS_BENCH_POSTGRES_URL); as child processes on 127.0.0.1: the bare floor (submit_harness), the
simulated gateway (`caas sandbox`), `caas serve` (workers off) and `caas worker` (every queue), so
that each one's CPU is counted apart. Three lenders are onboarded once; then per cell N concurrent
agents each run whole journeys (journey_steps.py): submit, two documents uploaded and verified,
score, match and invite, three bids, compare, accept (confirmed by the borrower's client through
elicitation), approve by a second operator, originate, disburse through the sandbox (confirmed),
the transfer webhook, schedule, one repayment paid on the sandbox's page, its webhook, the loan,
the lender's statement. A cell ends when every journey is done and every outbox event and job is
processed. Journey efficiency = bare server CPU per call x tool calls per journey / (caas server +
worker CPU per journey). At the end every child is stopped by PID and the databases are dropped.
See bench/README.md.
"""

import argparse
import asyncio
import collections
import contextlib
import importlib.metadata as md
import json
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

for _k, _v in (("FASTMCP_SHOW_SERVER_BANNER", "false"), ("FASTMCP_CHECK_FOR_UPDATES", "off")):
    os.environ.setdefault(_k, _v)
os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from journey_blocks import Floor, drain, idle_cpu, timed_blocks  # noqa: E402  (beside this script)
from journey_report import (  # noqa: E402
    cell_result,
    print_profile,
    print_server_counts,
    print_tables,
    summary,
)
from journey_steps import (  # noqa: E402
    Agent,
    HookReceiver,
    Tally,
    onboard_lenders,
    run_journey,
    share_output_validators,
    token,
)
from request_counts import count_requests  # noqa: E402
from submit_harness import (  # noqa: E402
    POOL_SIZE,
    TABLE_DDL,
    CpuMeter,
    admin_exec,
    inspect_postgres,
    serve_bare,
    serve_caas_profiled,
    start_child,
    stop_child,
    wait_health,
    with_db,
)

from tests.helpers.common import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, PII_ENV, free_port  # noqa: E402

FAILED_SQL = "SELECT count(*) FROM caas_core.jobs WHERE failed_at IS NOT NULL"
ROWS_SQL = """SELECT (SELECT count(*) FROM caas_core.outbox) AS events,
    (SELECT count(*) FROM caas_core.jobs) AS jobs,
    (SELECT count(*) FROM caas_core.webhook_inbox) AS webhooks"""


class Children:
    """The child processes by name, their ports and logs."""

    def __init__(self, work: Path) -> None:
        self.work, self.procs, self.ports = work, {}, {k: free_port() for k in ("bare", "gw", "reg", "caas")}
        self.ports["hook"] = free_port()

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"


def caas_env(admin: str, dbs: dict[str, str], ch: Children, pooled: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAAS_", "NEON_", "SUPABASE_"))}
    # The profiled children read it (submit_harness.serve_caas_profiled): the one setting let through.
    if clock := os.environ.get("CAAS_CPROFILE_CLOCK"):
        env["CAAS_CPROFILE_CLOCK"] = clock
    env |= PII_ENV | {"PYTHONPATH": str(ROOT)}
    env |= {"CAAS_JWT_SECRET": JWT_SECRET, "CAAS_JWT_ISSUER": JWT_ISSUER, "CAAS_JWT_AUDIENCE": JWT_AUDIENCE}
    env |= {
        "NEON_DATABASE_URL": with_db(admin, dbs["core"]),
        "SUPABASE_DB_URL": with_db(admin, dbs["supabase"]),
        "CAAS_DATA_DIR": str(ch.work / "caas-data"),
        "CAAS_POOL_MAX_SIZE": str(POOL_SIZE),
        "CAAS_REGISTRY": "false",
        # The simulated gateway is a process of its own (`caas sandbox`): its CPU is not ours.
        "ONASIS_GATEWAY_URL": f"http://127.0.0.1:{ch.ports['gw']}",
        "MCP_SERVER_URL": f"http://127.0.0.1:{ch.ports['reg']}",
        "CAAS_SANDBOX_WEBHOOK_URL": f"http://127.0.0.1:{ch.ports['caas']}",
        # The same signing secrets in the gateway and the platform, so its webhooks are accepted.
        "PAYSTACK_SECRET_KEY": "sk_test_bench_" + secrets.token_hex(16),
        "STRIPE_WEBHOOK_SECRET": "whsec_bench_" + secrets.token_hex(16),
        # The lenders' webhook receiver is this driver, on loopback.
        "CAAS_WEBHOOK_ALLOW_LOCAL": "true",
    }
    if pooled:
        # As on Neon's pooled endpoint: request pools through PgBouncer; migrations, the workers'
        # LISTEN and the driver's own reads on the direct URL.
        env |= {"NEON_DATABASE_URL": with_db(pooled, dbs["core"])}
        env |= {"NEON_DIRECT_URL": with_db(admin, dbs["core"])}
    return env


async def start_children(opts: Any, admin: str, dbs: dict[str, str], ch: Children) -> None:
    py, env = sys.executable, caas_env(admin, dbs, ch, opts.pooled_dsn)
    bare = [
        py,
        __file__,
        "--serve-bare",
        "--port",
        str(ch.ports["bare"]),
        "--db",
        with_db(admin, dbs["bare"]),
    ]
    ch.procs["bare"] = start_child(bare, ch.log("bare"), os.environ | {"CAAS_BENCH_FLOOR_GC": opts.floor_gc})
    gw = ["sandbox", "--port", str(ch.ports["gw"]), "--registry-port", str(ch.ports["reg"])]
    gw += ["--webhook-url", f"http://127.0.0.1:{ch.ports['caas']}"]
    ch.procs["sandbox"] = start_child([py, "-m", "mcp_servers.cli", *gw], ch.log("sandbox"), env)
    await wait_health(f"http://127.0.0.1:{ch.ports['gw']}/health", ch.procs["sandbox"], ch.log("sandbox"))
    serve = ["serve", "--host", "127.0.0.1", "--port", str(ch.ports["caas"])]
    cmd = [py, "-m", "mcp_servers.cli", *serve]
    if opts.cprofile:
        cmd = [py, __file__, "--serve-caas-profiled", opts.cprofile, "--", *serve]
    if opts.count_server:
        cmd = [py, __file__, "--serve-caas-counted", opts.count_server, "--", *serve]
    ch.procs["caas"] = start_child(cmd, ch.log("caas"), env | {"CAAS_WORKERS": "false"})
    await wait_health(f"http://127.0.0.1:{ch.ports['caas']}/ready", ch.procs["caas"], ch.log("caas"))
    # Started once the server has migrated both databases.
    worker = [py, "-m", "mcp_servers.cli", "worker"]
    if opts.cprofile_worker:
        worker = [py, __file__, "--serve-caas-profiled", opts.cprofile_worker, "--", "worker"]
    if opts.count_worker:
        worker = [py, __file__, "--serve-worker-counted", opts.count_worker, "--", "worker"]
    ch.procs["worker"] = start_child(worker, ch.log("worker"), env)
    await wait_health(f"http://127.0.0.1:{ch.ports['bare']}/health", ch.procs["bare"], ch.log("bare"))
    await asyncio.sleep(2)
    if ch.procs["worker"].poll() is not None:
        raise RuntimeError(f"caas worker exited: {ch.log('worker').read_text()[-2000:]}")
    print("# children: " + ", ".join(f"{k} pid {p.pid}" for k, p in ch.procs.items()), flush=True)


async def journey_cell(
    opts: Any, ch: Children, env: dict[str, Any], conc: int, pg_pids: Any, floor: Floor | None
) -> dict:
    """``opts.journeys`` journeys shared by ``conc`` agents, after ``opts.warmup`` untimed journeys
    per agent, in ``opts.blocks`` blocks, each one after a block of ``floor`` when it is given."""
    tally, url = Tally(), f"http://127.0.0.1:{ch.ports['caas']}/mcp"
    people = {"operator": token("bench-operator", "operator"), "checker": token("bench-checker", "operator")}
    agents = [Agent(url, opts.mode, tally, people | env["lenders"], env["names"]) for _ in range(conc)]
    for a in agents:
        await a.open()
    meters = {
        k: CpuMeter(ch.procs[k].pid, pg_pids if k == "caas" else list) for k in ("caas", "worker", "sandbox")
    }
    queue = iter(range(opts.journeys))
    done = 0

    async def agent(a: Agent, timed: bool) -> None:
        nonlocal done
        for n in queue if timed else range(opts.warmup):
            k = env["serial"] = env["serial"] + 1
            try:
                await run_journey(a, k, env["db"], ch.work / "caas-data", env["http"])
                done += timed
            except Exception as exc:
                tally.errors.append(f"journey {n}: {type(exc).__name__}: {exc}"[:600])

    async def journeys(count: int) -> None:
        nonlocal queue
        queue = iter(range(count))
        await asyncio.gather(*(agent(a, True) for a in agents))

    try:
        await asyncio.gather(*(agent(a, False) for a in agents))
        warm_errors, tally.errors, tally.lat, tally.calls = tally.errors, [], {}, 0
        await drain(env["db"])
        failed0 = await env["db"].fetchval(FAILED_SQL)
        rows0 = await env["db"].fetchrow(ROWS_SQL)
        idle = await idle_cpu(meters, opts.idle)
        t = await timed_blocks(opts.journeys, opts.blocks, journeys, meters, env, floor)
    finally:
        for a in agents:
            await a.close()
    failed = await env["db"].fetchval(FAILED_SQL) - failed0
    rows = await env["db"].fetchrow(ROWS_SQL)
    n = max(done, 1)
    made = {f"{k}_per_journey": round((rows[k] - rows0[k]) / n, 1) for k in ("events", "jobs")}
    if opts.count_requests:
        made["requests_per_journey"] = {k: round(v / n, 2) for k, v in sorted(t.sent.items())} | {
            "gateway webhooks": round((rows["webhooks"] - rows0["webhooks"]) / n, 2)
        }
    timing = (t.journeys_s + t.drain_s, t.journeys_s, t.drain_s, t.left, failed, done)
    out = cell_result(opts, conc, tally, warm_errors, t.cpu, *timing)
    return out | idle | made | {"blocks": opts.blocks}


async def run_cells(opts: Any, ch: Children, env: dict[str, Any], pg_pids: Any) -> list[dict]:
    results = []
    for run in range(1, opts.runs + 1):
        for conc in opts.concurrency:
            # The floor in the same run at the same concurrency: just before the journeys, or in
            # blocks between theirs (journey_blocks.py).
            meter = CpuMeter(ch.procs["bare"].pid, pg_pids)
            bare_url = f"http://127.0.0.1:{ch.ports['bare']}/mcp"
            floor = Floor(bare_url, {"auto": "modern"}[opts.mode], conc, opts.bare_calls, meter, opts.blocks)
            if opts.blocks == 1:
                await floor.measure()
            journey = await journey_cell(opts, ch, env, conc, pg_pids, floor if opts.blocks > 1 else None)
            bare = floor.cell()
            results.append({"run": run, **bare})
            print(json.dumps(results[-1]), flush=True)
            journey["journey_efficiency"] = journey["journeys"] and round(
                bare["cpu_ms_server"] * journey["calls_per_journey"]
                / (journey["cpu_ms_server"] + journey["cpu_ms_worker"]), 3,
            )  # fmt: skip
            results.append({"run": run, **journey})
            print(json.dumps({k: v for k, v in results[-1].items() if k != "tools"}), flush=True)
    return results


def print_settings(opts: Any, pg_info: str, pg_how: str, work: Path) -> None:
    import fastmcp

    vers = f"fastmcp {fastmcp.__version__}, mcp {md.version('mcp')}, caas-mcp {md.version('caas-mcp')}"
    print(f"# {vers}, python {sys.version.split()[0]}, cpus {os.cpu_count()}; postgres {pg_info}")
    sets = f"journeys/cell={opts.journeys} warm-up journeys/agent={opts.warmup}"
    sets += f" floor calls/cell={opts.bare_calls} blocks/cell={opts.blocks} floor gc={opts.floor_gc}"
    sets += f" runs={opts.runs} conc={opts.concurrency} mode={opts.mode} auth=jwt pool={POOL_SIZE}"
    sets += f" caas_db={'pgbouncer ' + opts.pooled_dsn if opts.pooled_dsn else 'direct'}"
    sets += f" validators={'fresh per session' if opts.fresh_validators else 'shared by the sessions'}"
    print(f"# {sets}; postgres CPU = {pg_how}; logs in {work}", flush=True)


async def driver(opts: Any) -> list[dict]:
    import asyncpg
    import httpx

    admin = opts.dsn or os.environ.get("CAAS_BENCH_POSTGRES_URL")
    if not admin:
        raise SystemExit(
            "bench_journey: give --dsn or CAAS_BENCH_POSTGRES_URL (a server that may CREATE DATABASE)"
        )
    ch = Children(Path(tempfile.mkdtemp(prefix="caas-journey-")))
    dbs = {k: f"caas_journey_{secrets.token_hex(4)}_{k}" for k in ("bare", "core", "supabase")}
    hooks, results = HookReceiver(), []
    requests, uncount = count_requests() if opts.count_requests else (collections.Counter(), lambda: None)
    try:
        pg_pids, pg_how, pg_info = await inspect_postgres(admin, None)
        await admin_exec(admin, *(f'CREATE DATABASE "{d}"' for d in dbs.values()))
        await admin_exec(with_db(admin, dbs["bare"]), TABLE_DDL)
        print_settings(opts, pg_info, pg_how, ch.work)
        hook_url = await hooks.start(ch.ports["hook"])
        await start_children(opts, admin, dbs, ch)
        url = f"http://127.0.0.1:{ch.ports['caas']}/mcp"
        lenders, names = await onboard_lenders(url, opts.mode, hook_url)
        async with (
            asyncpg.create_pool(
                with_db(admin, dbs["core"]), min_size=1, max_size=max(opts.concurrency) + 2
            ) as db,
            # Idle connections dropped well before the sandbox's (uvicorn's) 5 s keep-alive ends, so
            # that a payment never goes out on a connection the server is closing.
            httpx.AsyncClient(timeout=60, limits=httpx.Limits(keepalive_expiry=1.0)) as http,
        ):
            env = {"lenders": lenders, "names": names, "db": db, "http": http, "serial": 0}
            env["requests"] = requests
            results = await run_cells(opts, ch, env, pg_pids)
        print(f"# lender webhooks received: {hooks.received}")
    finally:
        uncount()
        await hooks.stop()
        for name in ("worker", "caas", "sandbox", "bare"):  # the worker first: it writes through caas's data
            if name in ch.procs:
                stop_child(ch.procs[name])
        print("# stopped: " + ", ".join(f"{k} rc={p.returncode}" for k, p in ch.procs.items()))
        with contextlib.suppress(Exception):
            await admin_exec(admin, *(f'DROP DATABASE IF EXISTS "{d}" WITH (FORCE)' for d in dbs.values()))
            print(f"# dropped databases {', '.join(dbs.values())}")
    return results


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", help="admin DSN (default: $CAAS_BENCH_POSTGRES_URL)")
    ap.add_argument(
        "--pooled-dsn",
        help="caas serve's and caas worker's request pools through this PgBouncer (transaction mode) "
        "in front of --dsn's server; the bare floor stays direct "
        "(python -m tests.helpers.pgbouncer URL starts one)",
    )
    ap.add_argument("--journeys", type=int, default=40, help="timed journeys per cell, shared by the agents")
    ap.add_argument("--warmup", type=int, default=1, help="untimed journeys per agent before each cell")
    ap.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4])
    ap.add_argument("--runs", type=int, default=1, help="repeat every cell; tables show medians")
    # Only 2026-07-28: on 2025-11-25 over stateless HTTP the server cannot elicit, so a money move
    # answers confirmation_required, and the borrower's own accept then needs an agent to ask for it.
    ap.add_argument("--mode", choices=["auto"], default="auto", help="auto negotiates 2026-07-28")
    ap.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured before each cell")
    ap.add_argument("--bare-calls", type=int, default=400, help="timed calls of each floor cell")
    ap.add_argument("--blocks", type=int, default=1, help="journey and floor blocks a cell, alternating")
    ap.add_argument(
        "--floor-gc",
        choices=["bare", "settled"],
        default="bare",
        help="settled: the floor's heap settled once started, as caas serve's is (gc.freeze, thresholds)",
    )
    ap.add_argument("--cprofile", metavar="OUT.prof", help="diagnostic: run the caas server under cProfile")
    ap.add_argument("--cprofile-worker", metavar="OUT.prof", help="diagnostic: the worker under cProfile")
    ap.add_argument(
        "--count-worker",
        metavar="OUT.json",
        help="diagnostic: the worker's relay looks, claims and statements, counted (bench/worker_counts.py)",
    )
    ap.add_argument(
        "--count-server",
        metavar="OUT.json",
        help="diagnostic: the server's round trips to PostgreSQL by tool (bench/server_counts.py)",
    )
    ap.add_argument(
        "--fresh-validators",
        action="store_true",
        help="each client session compiles its own output-schema validators, as the MCP SDK does alone",
    )
    ap.add_argument(
        "--count-requests",
        action="store_true",
        help="diagnostic: the requests the caas server is sent per journey, by method (request_counts.py)",
    )
    ap.add_argument("--json", help="write the summary and the raw per-cell results here")
    ap.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve-caas-profiled", metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--serve-worker-counted", metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--serve-caas-counted", metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    return ap


def main() -> None:
    ap = _parser()
    opts, rest = ap.parse_known_args()
    if opts.serve_bare:
        return serve_bare(opts.port, opts.db)
    if opts.serve_caas_profiled:
        return serve_caas_profiled(opts.serve_caas_profiled, [a for a in rest if a != "--"])
    if opts.serve_worker_counted:
        from worker_counts import run_counted

        return run_counted(opts.serve_worker_counted, [a for a in rest if a != "--"])
    if opts.serve_caas_counted:
        from server_counts import run_counted as run_server_counted

        return run_server_counted(opts.serve_caas_counted, [a for a in rest if a != "--"])
    if rest or min(opts.journeys, opts.runs, opts.blocks, *opts.concurrency) < 1 or opts.warmup < 0:
        ap.error(f"bad arguments: {rest or 'journeys, runs, blocks and concurrency must be >= 1'}")
    if not opts.fresh_validators:
        share_output_validators()
    results = asyncio.run(driver(opts))
    print_tables(results, opts)
    timed = sum(r["journeys"] for r in results if r["target"] == "journey")
    for what, path in (("caas server", opts.cprofile), ("caas worker", opts.cprofile_worker)):
        if path:
            print_profile(what, path, timed)
    if opts.count_server and Path(opts.count_server).exists():
        floors = [r["cpu_ms_server"] for r in results if r["target"] == "bare"]
        print_server_counts(opts.count_server, statistics.median(floors) if floors else None)
    out = summary(results) | {"caas_db": "pgbouncer" if opts.pooled_dsn else "direct"}
    print("# summary: " + json.dumps(out))
    if opts.json:
        Path(opts.json).write_text(json.dumps(out | {"cells": results}, indent=1))
        print(f"# results: {opts.json}")
    sys.exit(1 if out["errors"] else 0)


if __name__ == "__main__":
    main()
