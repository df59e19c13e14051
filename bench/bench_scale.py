#!/usr/bin/env python
"""Every list tool's first and hundredth page, the balance reads and the book-wide jobs, at 10k
applications and at the issue's scale (issue 14, part 6: every paged read within 2x of its time at
10k rows; nothing scans the whole book on a request path).

Two fresh databases on the PostgreSQL at --dsn (default $CAAS_BENCH_POSTGRES_URL) are seeded by
bench/seed_scale.py, one at --small applications (10k; the other sizes in the same proportion), one at
the full sizes (the issue's, or --scale / --applications ... as seed_scale.py takes them). On each, the
product's own tools are called (bench/scale_calls.py says how and as whom), item by item on one book and
then the other (so a change in the machine's load weighs on both sides of a ratio): p50 of --iterations
calls per item, the job items once. The ratio full/small of each item is printed; for each one that is
not flat (ratio > 2) the statements it ran are EXPLAINed (auto_explain, ANALYZE and BUFFERS, sent to this
client as notices) on the full database. Each database is dropped at the end unless --keep.

    .venv/bin/python bench/bench_scale.py --dsn postgresql://postgres@127.0.0.1:5432/postgres \
        --json scale.json
    # options: --scale 0.1 (a tenth of the issue's sizes)  --small 10000  --iterations 20  --keep
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

os.environ.setdefault("FASTMCP_SHOW_SERVER_BANNER", "false")
os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")
os.environ.setdefault("FASTMCP_LOG_LEVEL", "ERROR")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
import asyncpg.connection
from scale_calls import Item, call, items, mcp_client, measure
from seed_scale import (
    DEFAULTS,
    Sizes,
    counts,
    create_database,
    database_dsn,
    drop_database,
    seed,
    size_options,
)

FLAT = 2.0


async def seed_phase(label: str, admin: str, sizes: Sizes, phases: dict[str, Any]) -> dict[str, Any]:
    print(f"\n## {label}: {asdict(sizes)}; load {os.getloadavg()[0]:.2f}")
    name = await create_database(admin, f"caas_bench_scale_{label}")
    dsn = database_dsn(admin, name)
    # Registered before the seed, so that the database is dropped even if the seed fails.
    phase: dict[str, Any] = phases.setdefault(label, {"sizes": asdict(sizes), "database": name, "dsn": dsn})
    t0 = time.perf_counter()
    phase["seed_s"] = await seed(dsn, sizes)
    phase["seed_total_s"] = round(time.perf_counter() - t0, 1)
    phase["counts"] = await counts(dsn)
    print(f"# seeded in {phase['seed_total_s']} s; load {os.getloadavg()[0]:.2f}")
    return phase


async def measure_both(phases: dict[str, Any], iterations: int) -> None:
    """Each item on the small book and then at once on the full one: the machine's load (shared, it
    varies by the minute) weighs on both sides of a ratio alike."""
    print(f"\n## measuring both books, item by item; load {os.getloadavg()[0]:.2f}")
    for phase in phases.values():
        phase["items"] = {}
    with tempfile.TemporaryDirectory(prefix="caas-bench-scale-") as data:
        async with contextlib.AsyncExitStack() as stack:
            clients = {
                label: await stack.enter_async_context(mcp_client(phase["dsn"], Path(data)))
                for label, phase in phases.items()
            }
            for item in items():
                for label, (runtime, client) in clients.items():
                    try:
                        got = await measure(runtime, client, item, iterations)
                    except RuntimeError as exc:  # a tool refused: reported, the rest still measured
                        got = {"error": str(exc)}
                    phases[label]["items"][item.name] = got
                    print(f"  {label:<5} {item.name:<28} {got}")


def compare(small: dict[str, Any], full: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, got in full["items"].items():
        was = small["items"].get(name, {})
        row: dict[str, Any] = {"small": was, "full": got}
        for key in ("first_ms", "hundredth_ms", "once_ms"):
            if key in got and was.get(key):
                row[key.replace("_ms", "_ratio")] = round(got[key] / was[key], 2)
        ratios = [row[k] for k in ("first_ratio", "hundredth_ratio", "once_ratio") if k in row]
        row["flat"] = all(r <= FLAT for r in ratios) if ratios else None
        out[name] = row
    return out


def print_table(rows: dict[str, dict[str, Any]]) -> None:
    print("\n| item | 10k first ms | full first ms | ratio | 10k 100th ms | full 100th ms | ratio | flat |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, row in rows.items():
        s, f = row["small"], row["full"]
        if "once_ms" in f:
            once = f"{s.get('once_ms', '-')} | {f['once_ms']} | {row.get('once_ratio', '-')}"
            print(f"| {name} (once) | {once} | | | | {row['flat']} |")
            continue
        print(
            f"| {name} | {s.get('first_ms', '-')} | {f.get('first_ms', f.get('error', '-'))} "
            f"| {row.get('first_ratio', '-')} | {s.get('hundredth_ms', '-')} | {f.get('hundredth_ms', '-')} "
            f"| {row.get('hundredth_ratio', '-')} | {row['flat']} |"
        )


def plan_summary(plan: str) -> list[str]:
    keep = ("duration:", "->", "Scan", "Buffers", "Query Text", "Rows Removed")
    return [line.rstrip() for line in plan.splitlines() if any(k in line for k in keep)][:40]


async def explain(admin: str, phase: dict[str, Any], names: list[str], iterations: int) -> dict[str, Any]:
    """Calls each named item once more with auto_explain on (a new Runtime, so new connections take it)."""
    db, plans = phase["database"], {}
    conn = await asyncpg.connect(admin)
    settings = {
        "session_preload_libraries": "auto_explain",
        "auto_explain.log_min_duration": "0",
        "auto_explain.log_analyze": "on",
        "auto_explain.log_buffers": "on",
        "auto_explain.log_level": "notice",
    }
    for key, value in settings.items():
        await conn.execute(f"ALTER DATABASE \"{db}\" SET {key} = '{value}'")
    captured: list[str] = []
    original = asyncpg.connection.Connection._process_log_message

    def keep_plans(self: Any, fields: dict[Any, Any], last_query: str) -> None:
        message = str(fields.get("M", ""))
        if "Query Text" in message:
            captured.append(message)
        original(self, fields, last_query)

    asyncpg.connection.Connection._process_log_message = keep_plans  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory(prefix="caas-bench-scale-") as data:
            async with mcp_client(phase["dsn"], Path(data)) as (runtime, client):
                by_name = {i.name: i for i in items()}
                for name in names:
                    captured.clear()
                    await _call_as_measured(runtime, client, by_name[name])
                    slowest = max(captured, key=_execution_ms, default="")
                    plans[name] = plan_summary(slowest)
                    print(f"\n### EXPLAIN (ANALYZE, BUFFERS) of {name}'s slowest statement")
                    print("\n".join(plans[name]))
    finally:
        asyncpg.connection.Connection._process_log_message = original  # type: ignore[method-assign]
        for key in settings:
            await conn.execute(f'ALTER DATABASE "{db}" RESET {key}')
        await conn.close()
    return plans


async def _call_as_measured(runtime: Any, client: Any, item: Item) -> None:
    """The page that was slow: the hundredth when there is one, else the first."""
    cursor, pages = None, 0
    if item.kind == "paged":
        _, page = await call(runtime, client, item)
        cursor, pages = page.get("next_cursor"), 1
        while cursor and pages < 99:
            _, page = await call(runtime, client, item, cursor)
            cursor, pages = page.get("next_cursor"), pages + 1
    await asyncio.sleep(0)
    await call(runtime, client, item, cursor)
    await asyncio.sleep(0.05)  # the notices are delivered by call_soon


def _execution_ms(plan: str) -> float:
    """auto_explain's message opens with the statement's duration: "duration: 1.234 ms  plan: ..."."""
    if plan.startswith("duration:"):
        return float(plan.split()[1])
    return 0.0


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default=os.environ.get("CAAS_BENCH_POSTGRES_URL"))
    parser.add_argument("--small", type=int, default=10_000, help="applications of the small book")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep both databases")
    size_options(parser)
    opts = parser.parse_args()
    if not opts.dsn:
        parser.error("--dsn or CAAS_BENCH_POSTGRES_URL: a PostgreSQL that can CREATE and DROP DATABASE")
    full = Sizes.scaled(opts.scale, **{k: getattr(opts, k) for k in DEFAULTS})
    small = Sizes(
        opts.small,
        max(3, full.providers * opts.small // full.applications),
        full.loans * opts.small // full.applications,
        full.postings * opts.small // full.applications,
    )
    print(f"# cpus {os.cpu_count()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    phases: dict[str, Any] = {}
    try:
        await seed_phase("small", opts.dsn, small, phases)
        await seed_phase("full", opts.dsn, full, phases)
        await measure_both(phases, opts.iterations)
        rows = compare(phases["small"], phases["full"])
        print_table(rows)
        slow = [n for n, r in rows.items() if r["flat"] is False]
        plans = await explain(opts.dsn, phases["full"], slow, opts.iterations) if slow else {}
        report = {
            "load_average": os.getloadavg(),
            "sizes": {k: p["sizes"] for k, p in phases.items()},
            "seed_s": {k: p["seed_s"] for k, p in phases.items()},
            "seed_total_s": {k: p["seed_total_s"] for k, p in phases.items()},
            "counts": {k: p["counts"] for k, p in phases.items()},
            "items": rows,
            "not_flat": slow,
            "plans": plans,
        }
        if opts.json:
            opts.json.write_text(json.dumps(report, indent=2, default=str))
            print(f"# wrote {opts.json}")
    finally:
        for phase in phases.values():
            if opts.keep:
                print(f"# database kept: {phase['dsn']}")
            else:
                await drop_database(opts.dsn, phase["database"])
                print(f"# dropped database {phase['database']}")


if __name__ == "__main__":
    asyncio.run(main())
