"""The parts of bench_submit.py that are not the driver: the bare FastMCP floor server (and the caas
server under cProfile), started as children by bench_submit.py itself; the CPU meter and how
PostgreSQL's processes are found; starting and stopping children by PID; the admin database calls;
and the result tables.
"""

import asyncio
import contextlib
import gc
import json
import os
import signal
import statistics
import subprocess
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
POOL_SIZE = 16  # == caas Settings.pool_max_size default
INSERT_SQL = "INSERT INTO bench_rows (payload) VALUES ($1::jsonb) RETURNING id"
TABLE_DDL = (
    "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, payload jsonb NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())"
)


# --------------------------------------------------------------------------- bare server (child)
class FullCollections:
    """The full (oldest generation) collections of this process, counted by a ``gc`` callback: how
    many, their total and their longest pause in ms. Every call in flight waits them out."""

    def __init__(self) -> None:
        self.count, self.ms_total, self.ms_max, self._t0 = 0, 0.0, 0.0, 0.0
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        ms = (time.perf_counter() - self._t0) * 1000
        self.count, self.ms_total, self.ms_max = self.count + 1, self.ms_total + ms, max(self.ms_max, ms)

    def as_dict(self) -> dict[str, float]:
        return {"count": self.count, "ms_total": round(self.ms_total, 1), "ms_max": round(self.ms_max, 1)}


def serve_bare(port: int, dsn: str) -> None:
    """The floor. ``CAAS_BENCH_FLOOR_GC=settled``: its heap settled once started, as caas serve's is
    (``mcp_servers.platform.gc_tuning``); its /health tells its full collections so far."""
    import asyncpg
    import uvicorn
    from fastmcp import Context, FastMCP
    from starlette.responses import JSONResponse

    from mcp_servers.platform.gc_tuning import settle_heap

    full = FullCollections()

    @asynccontextmanager
    async def lifespan(_server: Any):
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        if os.environ.get("CAAS_BENCH_FLOOR_GC") == "settled":
            settle_heap()
        try:
            yield {"pool": pool}
        finally:
            await pool.close()

    mcp = FastMCP("bare", lifespan=lifespan)

    async def insert_row(payload: dict[str, Any], ctx: Context) -> int:
        """Insert one row (jsonb payload); returns its id."""
        return await ctx.lifespan_context["pool"].fetchval(INSERT_SQL, json.dumps(payload))

    mcp.tool(insert_row)

    @mcp.custom_route("/health", methods=["GET"])
    async def health(_request: Any) -> JSONResponse:
        return JSONResponse({"status": "ok", "gc_full": full.as_dict()})

    app = mcp.http_app(path="/mcp", stateless_http=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")


def serve_caas_profiled(out: str, argv: list[str]) -> None:
    """Diagnostic (--cprofile): the real caas CLI under cProfile; stats written on SIGTERM shutdown.
    cProfile times by the wall clock: on two busy cores a process is descheduled inside whatever it
    calls (a socket send that wakes PostgreSQL, mostly), which then looks costly. With
    ``CAAS_CPROFILE_CLOCK=cpu`` it times by the process's CPU clock instead."""
    import cProfile

    from mcp_servers.cli import main

    cpu = os.environ.get("CAAS_CPROFILE_CLOCK") == "cpu"
    prof = cProfile.Profile(time.process_time) if cpu else cProfile.Profile()
    try:
        prof.runcall(main, argv)
    finally:
        prof.dump_stats(out)
        # Which clock, beside the stats (pstats keeps no note of it): the digest names it.
        Path(out + ".clock").write_text("cpu" if cpu else "wall")


# --------------------------------------------------------------------------- measurement
class CpuMeter:
    """CPU seconds of the server process, of the PostgreSQL processes, and of this driver."""

    def __init__(self, server_pid: int, pg_pids: Any) -> None:
        import psutil

        self.psutil, self.pg_pids = psutil, pg_pids
        root = psutil.Process(server_pid)
        # `caas serve --processes N`: the parent and its N children, which live as long as the server.
        self.servers = [root, *root.children(recursive=True)]

    def _pg(self) -> dict[int, float]:
        out = {}
        for p in self.pg_pids():
            with contextlib.suppress(self.psutil.Error):
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
        return out

    def snap(self) -> dict[str, Any]:
        t, own = os.times(), [s.cpu_times() for s in self.servers]
        server = sum(s.user + s.system for s in own)
        return {"server": server, "driver": t.user + t.system, "pg": self._pg()}

    @staticmethod
    def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
        # processes that exit inside the window are lost; pooled backends live through it
        pg = sum(v - a["pg"].get(pid, 0.0) for pid, v in b["pg"].items()) if b["pg"] else float("nan")
        return {"server": b["server"] - a["server"], "driver": b["driver"] - a["driver"], "postgres": pg}


async def inspect_postgres(admin_dsn: str, embedded_pid: int | None) -> tuple[Any, str, str]:
    """A callable listing the PostgreSQL processes, how they were found, and version/settings."""
    import asyncpg
    import psutil

    conn, root = await asyncpg.connect(admin_dsn), None
    try:  # on this host, the parent of our backend is the postmaster (embedded: we know its pid)
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        names = "('fsync', 'synchronous_commit', 'shared_buffers')"
        sets = dict(await conn.fetch(f"SELECT name, setting FROM pg_settings WHERE name IN {names}"))
        info = f"{await conn.fetchval('SHOW server_version')} {sets}"
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(embedded_pid) if embedded_pid else psutil.Process(backend).parent()
    finally:
        await conn.close()
    if root is not None and "postgres" in root.name():
        return (lambda: [root, *root.children(recursive=True)]), f"postmaster {root.pid} + children", info

    def by_name() -> list[psutil.Process]:
        procs = psutil.process_iter(["name", "username"])
        return [p for p in procs if p.info["name"] == "postgres" and p.info["username"] == "postgres"]

    how = "processes named postgres of user postgres" if by_name() else "not measured (not local)"
    return by_name, how, info


def pct(vals: list[float], q: float) -> float:
    if not vals:
        return float("nan")
    return vals[min(len(vals) - 1, max(0, round(q / 100 * (len(vals) - 1))))]


# --------------------------------------------------------------------------- processes / databases
def start_child(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT, env=env
        )


def stop_child(p: subprocess.Popen) -> None:
    if p.poll() is not None:
        return
    os.kill(p.pid, signal.SIGTERM)  # by PID only
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=5)


async def wait_health(url: str, proc: subprocess.Popen, log: Path, limit_s: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient() as h:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                text = await asyncio.to_thread(log.read_text)
                raise RuntimeError(f"{url}: server exited rc={proc.returncode}:\n{text[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if (await h.get(url, timeout=5)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not healthy after {limit_s:.0f}s; see {log}")


def with_db(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


async def admin_exec(dsn: str, *sql: str, value: str | None = None) -> Any:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        for s in sql:
            await conn.execute(s)
        return await conn.fetchval(value) if value else None
    finally:
        await conn.close()


# --------------------------------------------------------------------------- tables
def median(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r[key] == r[key]]  # drop NaN
    return statistics.median(vals) if vals else float("nan")


def print_tables(results: list[dict], opts: Any) -> None:
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["mode"], r["conc"], r["target"]), []).append(r)
    cols = ["calls_per_s", "p50_ms", "p99_ms", "cpu_ms_server", "cpu_ms_postgres", "cpu_ms_driver"]
    agg = "median of runs" if opts.runs > 1 else "one run"
    print(f"\n## Per cell ({agg}; CPU in ms per call)\n")
    head = "mode | protocol | conc | server | calls | calls/s | p50 ms | p99 ms | server CPU | postgres CPU"
    print(f"| {head} | driver CPU | errors |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (mode, conc, target), rows in groups.items():
        v = {c: median(rows, c) for c in cols}
        print(
            f"| {mode} | {rows[0]['protocol']} | {conc} | {target} | {sum(r['calls'] for r in rows)} | "
            f"{v['calls_per_s']:.0f} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | "
            f"{v['cpu_ms_server']:.3f} | {v['cpu_ms_postgres']:.3f} | "
            f"{v['cpu_ms_driver']:.3f} | {sum(r['errors'] for r in rows)} |"
        )
    print("\n## caas / bare (target: server CPU per call <= 1.5)\n")
    print("| mode | conc | caas | server CPU/call | postgres CPU/call | calls/s | p50 | verdict |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for mode, conc, target in groups:
        b, c = groups.get((mode, conc, "bare")), groups.get((mode, conc, target))
        if target == "bare" or not (b and c):
            continue

        def ratio(key: str, b: list[dict] = b, c: list[dict] = c) -> float:
            return median(c, key) / median(b, key) if median(b, key) else float("nan")

        cpu = ratio("cpu_ms_server")
        print(
            f"| {mode} | {conc} | {target} | {cpu:.2f} | {ratio('cpu_ms_postgres'):.2f} | "
            f"{ratio('calls_per_s'):.2f} | {ratio('p50_ms'):.2f} | {'ok' if cpu <= 1.5 else 'OVER 1.5'} |"
        )
    _processes_table(groups)
    for r in results:
        if r["first_error"]:
            print(f"# first error {r['target']} {r['mode']} c={r['conc']}: {r['first_error']}")


def _processes_table(groups: dict[tuple, list[dict]]) -> None:
    """`--processes 1,N`: each caas-Np server against the one-process caas of the same run."""
    many = sorted({t for _, _, t in groups if t.startswith("caas-")})
    if not many:
        return
    print("\n## N processes / 1 process (same run; the driver shares the machine's cores)\n")
    print("| mode | conc | server | calls/s | p50 ms | p99 ms | server CPU/call | calls/s x | p99 x |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for mode, conc in dict.fromkeys((m, c) for m, c, _ in groups):
        one = groups.get((mode, conc, "caas"))
        for target in ["caas", *many]:
            rows = groups.get((mode, conc, target))
            if not (one and rows):
                continue
            v = {k: median(rows, k) for k in ("calls_per_s", "p50_ms", "p99_ms", "cpu_ms_server")}
            rate, tail = v["calls_per_s"] / median(one, "calls_per_s"), v["p99_ms"] / median(one, "p99_ms")
            print(
                f"| {mode} | {conc} | {target} | {v['calls_per_s']:.0f} | {v['p50_ms']:.2f} | "
                f"{v['p99_ms']:.2f} | {v['cpu_ms_server']:.3f} | {rate:.2f} | {tail:.2f} |"
            )
