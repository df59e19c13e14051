#!/usr/bin/env python
"""`credit_submit_application` A/B: the bare floor, this checkout's caas and (optionally) another
checkout's caas, driven in alternating short blocks on one PostgreSQL.

bench_submit.py runs a whole cell on one server, then the whole cell on the other, so a change of the
machine's speed between the two (other work, thermal, a neighbour's test suite) lands on one side only.
Here every side keeps its clients open for the whole cell, and the cell is many rounds of one short
block per side (`--block` calls, split over the cell's clients), the order of the sides rotating each
round. Each block's server CPU is the server process's own CPU clock (nanoseconds, every thread; not
psutil's 10 ms ticks), read just before the block and after it has settled, so the driver's own CPU,
and the other servers', is never counted. Per cell and side: CPU per call over all blocks, the median
and spread of the per-block figure, p50/p99 latency; and per round, each caas side's CPU per call over
the floor's in the same round (and this checkout's over the other's), with the median and spread.

`--other PATH` is a sibling checkout (e.g. a git worktree of an older commit) with its own .venv: its
server is started with that checkout's Python, from that directory, on its own pair of databases on
the same PostgreSQL server. See bench/README.md.
"""

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_submit
from bench_submit import SERVICE_KEY, caas_env, clean_up
from submit_harness import TABLE_DDL, admin_exec, inspect_postgres, pct, start_child, wait_health, with_db

from tests.helpers.common import application, free_port, make_jwt

FLOOR = "floor"


class ProcessCpu:
    """Seconds of CPU a process (all its threads, live and exited) has used, in nanoseconds'
    resolution: Linux's per-process CPU clock, ``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)``.
    Falls back to psutil (10 ms ticks) where that clock cannot be read."""

    def __init__(self, pid: int) -> None:
        self.clock = ((~pid) << 3) | 2
        try:
            time.clock_gettime(self.clock)
            self.psutil: Any = None
        except OSError:
            import psutil

            self.psutil = psutil.Process(pid)

    def __call__(self) -> float:
        if self.psutil is None:
            return time.clock_gettime(self.clock)
        t = self.psutil.cpu_times()
        return float(t.user + t.system)


def driver_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --------------------------------------------------------------------------- servers
def start_sides(opts: Any, admin: str, dbs: dict[str, str], work: Path, children: dict) -> dict[str, int]:
    """Starts the floor, caas and (with --other) other as children into ``children``; returns ports."""
    sides = [FLOOR, "caas", *(["other"] if opts.other else [])]
    ports = {s: free_port() for s in sides}
    bare = ["--serve-bare", "--port", str(ports[FLOOR]), "--db", with_db(admin, dbs["bare"])]
    children[FLOOR] = start_child([sys.executable, bench_submit.__file__, *bare], work / "server-floor.log")
    for side in sides[1:]:
        names = {"core": dbs[f"{side}_core"], "supabase": dbs[f"{side}_supabase"]}
        env = caas_env(opts, admin, names, ports[side], work)
        env["CAAS_DATA_DIR"] = str(work / f"data-{side}")
        serve = ["serve", "--host", "127.0.0.1", "--port", str(ports[side])]
        if side == "caas":
            cmd = [sys.executable, "-m", "mcp_servers.cli", *serve]
            if opts.cprofile:
                cmd = [
                    sys.executable,
                    bench_submit.__file__,
                    "--serve-caas-profiled",
                    opts.cprofile,
                    "--",
                    *serve,
                ]
            children[side] = start_child(cmd, work / f"server-{side}.log", env)
        else:  # that checkout's code, from its own directory and venv
            env.pop("PYTHONPATH", None)
            cmd = [opts.other_python, "-m", "mcp_servers.cli", *serve]
            with open(work / "server-other.log", "ab") as fh:
                children[side] = subprocess.Popen(
                    cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd=opts.other, env=env
                )
    return ports


# --------------------------------------------------------------------------- one cell
class Side:
    """One server's clients and measurements in a cell."""

    def __init__(self, name: str, url: str, pid: int) -> None:
        self.name, self.url, self.cpu = name, url, ProcessCpu(pid)
        self.clients: list[Any] = []
        self.lat: list[float] = []
        self.errors: list[str] = []
        self.blocks: list[dict[str, Any]] = []

    def arguments(self, i: int, opts: Any) -> dict[str, Any]:
        app = application(borrower_id=f"bench-borrower-{i % 97}")
        return {"payload": app} if self.name == FLOOR else {"application": app}

    async def calls(self, client: Any, todo: list[dict[str, Any]], timed: bool, request: str) -> None:
        tool = "insert_row" if self.name == FLOOR else "credit_submit_application"
        for args in todo:
            t0 = time.perf_counter()
            try:
                if request == "list":  # tools/list (the floor lists its one tool)
                    await client.list_tools()
                    continue
                r = await client.call_tool(tool, args, raise_on_error=False)
                if r.is_error:
                    self.errors.append(str(r.structured_content or r.content)[:300])
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            finally:
                if timed:
                    self.lat.append(time.perf_counter() - t0)

    async def block(self, per_client: int, opts: Any, seq: int, timed: bool = True) -> dict[str, Any]:
        """``per_client`` calls on each client at once; the server's CPU over the block."""
        todo = [
            [self.arguments(seq + k * 1000 + j, opts) for j in range(per_client)]
            for k in range(len(self.clients))
        ]
        gc.collect()
        gc.disable()  # the driver's collections stay out of the block
        try:
            errors0, d0, c0, t0 = len(self.errors), driver_cpu(), self.cpu(), time.perf_counter()
            await asyncio.gather(
                *(self.calls(c, todo[k], timed, opts.request) for k, c in enumerate(self.clients))
            )
            wall = time.perf_counter() - t0
            await asyncio.sleep(opts.settle)  # work the server does after its last answer counts too
            c1, d1 = self.cpu(), driver_cpu()
        finally:
            gc.enable()
        n = per_client * len(self.clients)
        out = {"side": self.name, "calls": n, "errors": len(self.errors) - errors0, "wall_s": wall}
        return out | {"cpu_ms_per_call": 1000 * (c1 - c0) / n, "driver_cpu_ms_per_call": 1000 * (d1 - d0) / n}


async def run_cell(opts: Any, urls: dict[str, str], pids: dict[str, int], mode: str, conc: int) -> dict:
    from fastmcp import Client

    client_mode = {"modern": "auto", "legacy": "legacy"}[mode]
    jwt = opts.auth == "jwt" and make_jwt("bench-agent", role="agent", exp=int(time.time()) + 7200)
    sides = [Side(name, urls[name], pids[name]) for name in urls]
    per = max(1, opts.block // conc)
    async with contextlib.AsyncExitStack() as stack:
        for s in sides:
            token = None if s.name == FLOOR else (jwt or SERVICE_KEY)
            new = functools.partial(Client, s.url, mode=client_mode, auth=token, timeout=60)
            s.clients = [await stack.enter_async_context(new()) for _ in range(conc)]
            await s.block(opts.warmup, opts, 0, timed=False)
            if s.errors:
                raise RuntimeError(f"{s.name} warm-up failed: {s.errors[0]}")
        protocol = sides[0].clients[0].protocol_version
        idle0 = {s.name: s.cpu() for s in sides}
        t0 = time.perf_counter()
        for r in range(opts.rounds):
            for i, s in enumerate(sides[r % len(sides) :] + sides[: r % len(sides)]):
                at = {"round": r, "slot": r * len(sides) + i}  # slot: the block's place in time
                s.blocks.append(at | await s.block(per, opts, (r + 1) * 100_000))
        span = time.perf_counter() - t0
        idle = {
            s.name: s.cpu() - idle0[s.name] - sum(b["cpu_ms_per_call"] * b["calls"] for b in s.blocks) / 1000
            for s in sides
        }
    cell: dict[str, Any] = {"mode": mode, "protocol": protocol, "conc": conc, "block_calls": per * conc}
    cell["sides"] = {s.name: summarise(s, idle[s.name], span) for s in sides}
    pairs = [(s, sides[0]) for s in sides[1:]] + ([(sides[1], sides[2])] if len(sides) == 3 else [])
    cell["ratios"] = {f"{a.name}/{b.name}": ratios(a, b) for a, b in pairs}  # caas/other: the change itself
    cell["blocks"] = [b for s in sides for b in s.blocks]
    return cell


def spread(vals: list[float]) -> dict[str, float]:
    vals = sorted(vals)
    q = statistics.quantiles(vals, n=4) if len(vals) > 1 else vals * 3
    return {"median": statistics.median(vals), "min": vals[0], "max": vals[-1], "p25": q[0], "p75": q[2]}


def summarise(s: Side, idle_cpu_s: float, span_s: float) -> dict[str, Any]:
    calls = sum(b["calls"] for b in s.blocks)
    cpu = sum(b["cpu_ms_per_call"] * b["calls"] for b in s.blocks)
    ms = sorted(x * 1000 for x in s.lat)
    out: dict[str, Any] = {"calls": calls, "errors": sum(b["errors"] for b in s.blocks)}
    out["first_error"] = s.errors[0] if s.errors else None
    out |= {
        "cpu_ms_per_call": cpu / calls,
        "block_cpu_ms_per_call": spread([b["cpu_ms_per_call"] for b in s.blocks]),
    }
    out |= {
        "p50_ms": pct(ms, 50),
        "p99_ms": pct(ms, 99),
        "calls_per_s": calls / sum(b["wall_s"] for b in s.blocks),
    }
    out["driver_cpu_ms_per_call"] = sum(b["driver_cpu_ms_per_call"] * b["calls"] for b in s.blocks) / calls
    out["idle_cpu_ms_per_s"] = 1000 * idle_cpu_s / span_s  # between its own blocks (timers, pool upkeep)
    return out


def ratios(s: Side, base_side: Side) -> dict[str, Any]:
    """CPU per call over the other side's: over all blocks, and round by round (same stretch of time)."""
    mine, base = summarise(s, 0.0, 1.0), summarise(base_side, 0.0, 1.0)
    per_round = [
        a["cpu_ms_per_call"] / b["cpu_ms_per_call"] for a, b in zip(s.blocks, base_side.blocks, strict=True)
    ]
    out = {"cpu_total": mine["cpu_ms_per_call"] / base["cpu_ms_per_call"], "cpu_per_round": spread(per_round)}
    return out | {"p50": mine["p50_ms"] / base["p50_ms"], "p99": mine["p99_ms"] / base["p99_ms"]}


# --------------------------------------------------------------------------- driver
async def driver(opts: Any) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="caas-bench-ab-"))
    admin = opts.dsn or os.environ.get("CAAS_BENCH_POSTGRES_URL")
    if not admin:
        raise SystemExit(
            "--dsn (or $CAAS_BENCH_POSTGRES_URL) is required: a PostgreSQL that can CREATE DATABASE"
        )
    tag = secrets.token_hex(4)
    names = ["bare", "caas_core", "caas_supabase", *(["other_core", "other_supabase"] if opts.other else [])]
    dbs = {k: f"caas_ab_{tag}_{k}" for k in names}
    children: dict[str, subprocess.Popen] = {}
    try:
        _pids, _how, pg_info = await inspect_postgres(admin, None)
        await admin_exec(admin, *(f'CREATE DATABASE "{d}"' for d in dbs.values()))
        await admin_exec(with_db(admin, dbs["bare"]), TABLE_DDL)
        ports = start_sides(opts, admin, dbs, work, children)
        for k, p in ports.items():
            await wait_health(f"http://127.0.0.1:{p}/health", children[k], work / f"server-{k}.log")
        print(f"# postgres {pg_info}; logs in {work}")
        print(
            "# servers: " + ", ".join(f"{k} pid {c.pid} port {ports[k]}" for k, c in children.items()),
            flush=True,
        )
        urls = {k: f"http://127.0.0.1:{p}/mcp" for k, p in ports.items()}
        pids = {k: c.pid for k, c in children.items()}
        cells = []
        for mode in opts.modes:
            for conc in opts.concurrency:
                cells.append(await run_cell(opts, urls, pids, mode, conc))
                print_cell(cells[-1])
        rows = await rows_written(admin, dbs)
        print("# rows written (warm-up and timed calls): " + ", ".join(f"{k} {v}" for k, v in rows.items()))
    finally:
        await clean_up(children, admin, dbs, None, work)
    settings = {
        k: getattr(opts, k) for k in ("block", "rounds", "warmup", "settle", "concurrency", "modes", "auth")
    }
    return {"settings": settings | {"other": opts.other, "postgres": pg_info}, "cells": cells, "rows": rows}


async def rows_written(admin: str, dbs: dict[str, str]) -> dict[str, int]:
    """The rows each side's calls wrote: the floor's table, each caas side's applications."""
    out = {FLOOR: await admin_exec(with_db(admin, dbs["bare"]), value="SELECT count(*) FROM bench_rows")}
    for side in ("caas", "other"):
        if f"{side}_core" in dbs:
            sql = "SELECT count(*) FROM caas_core.applications"
            out[side] = await admin_exec(with_db(admin, dbs[f"{side}_core"]), value=sql)
    return out


def print_cell(cell: dict[str, Any]) -> None:
    head = f"{cell['mode']} ({cell['protocol']}), {cell['conc']} clients"
    print(f"\n## {head}, blocks of {cell['block_calls']} calls\n")
    print("| side | calls | errors | server CPU ms/call | per block: median (p25-p75, min-max) | p50 | p99 |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for name, s in cell["sides"].items():
        b = s["block_cpu_ms_per_call"]
        print(
            f"| {name} | {s['calls']} | {s['errors']} | {s['cpu_ms_per_call']:.3f} | {b['median']:.3f} "
            f"({b['p25']:.3f}-{b['p75']:.3f}, {b['min']:.3f}-{b['max']:.3f}) | "
            f"{s['p50_ms']:.2f} | {s['p99_ms']:.2f} |"
        )
    print("\n| ratio | server CPU, all blocks | per round: median (p25-p75, min-max) | p50 | p99 |")
    print("|---|---:|---|---:|---:|")
    for name, r in cell["ratios"].items():
        q = r["cpu_per_round"]
        print(
            f"| {name} | {r['cpu_total']:.3f} | {q['median']:.3f} ({q['p25']:.3f}-{q['p75']:.3f}, "
            f"{q['min']:.3f}-{q['max']:.3f}) | {r['p50']:.2f} | {r['p99']:.2f} |"
        )
    for name, s in cell["sides"].items():
        if s["first_error"]:
            print(f"# first error {name}: {s['first_error']}")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", help="admin DSN (default: $CAAS_BENCH_POSTGRES_URL)")
    ap.add_argument("--other", help="a sibling checkout with its own .venv: its caas server is a third side")
    ap.add_argument("--other-python", help="the other side's Python (default: OTHER/.venv/bin/python)")
    ap.add_argument("--block", type=int, default=96, help="calls per block per side, split over the clients")
    ap.add_argument(
        "--rounds", type=int, default=20, help="blocks per side per cell (one of each side a round)"
    )
    ap.add_argument("--warmup", type=int, default=5, help="untimed calls per client before a cell's rounds")
    ap.add_argument("--settle", type=float, default=0.02, help="seconds after a block before its CPU is read")
    ap.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    ap.add_argument(
        "--modes", type=lambda s: s.split(","), default=["modern", "legacy"], help="modern,legacy"
    )
    ap.add_argument("--auth", choices=["apikey", "jwt"], default="apikey", help="jwt: HS256, role agent")
    ap.add_argument(
        "--request", choices=["submit", "list"], default="submit", help="list: tools/list instead of the call"
    )
    ap.add_argument("--cprofile", metavar="OUT.prof", help="diagnostic: this checkout's caas under cProfile")
    ap.add_argument("--json", help="write the cells (with every block) here")
    opts = ap.parse_args()
    opts.workers, opts.pooled_dsn = False, None  # for caas_env: the call path only, directly
    if opts.other:
        opts.other = str(Path(opts.other).resolve())
        opts.other_python = opts.other_python or str(Path(opts.other) / ".venv" / "bin" / "python")
        if not Path(opts.other_python).exists():
            ap.error(f"no Python at {opts.other_python}")
    if (
        set(opts.modes) - {"modern", "legacy"}
        or min(opts.concurrency) < 1
        or opts.block < 1
        or opts.rounds < 1
    ):
        ap.error("modes are modern,legacy; block, rounds and concurrency must be >= 1")
    out = asyncio.run(driver(opts))
    if opts.json:
        Path(opts.json).write_text(json.dumps(out, indent=1))
        print(f"# raw results: {opts.json}")


if __name__ == "__main__":
    main()
