"""Times ``monitoring_get_pipeline_health``'s one statement (``database/monitoring/dashboard.py``) through
the production reader at 10k, 100k and 1M applications, with and without the index of migration 0022,
on a fresh migrated database on the same PostgreSQL (``--dsn`` or ``$CAAS_BENCH_POSTGRES_URL``); the
database is dropped at the end. Applications are made in SQL (generate_series): 10 states weighted like
a live marketplace (most of them ended), 5 currencies, entered their state up to 60 days ago.

    .venv/bin/python bench/bench_monitoring.py --dsn postgresql://postgres@127.0.0.1:5432/postgres
    # options: --sizes 10000,100000  --iterations 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from database import migrate
from database.monitoring.dashboard import _PIPELINE, PgMonitoringReader
from database.pool import create_pool
from tools.monitoring.domain.pipeline import WAITING, expected_times

FILL = """
INSERT INTO caas_core.applications (reference, borrower_id, created_by, created_by_role, status,
    applicant_name, applicant_email, applicant_country, currency, requested_amount_minor, term_months,
    purpose,
    monthly_income_minor, monthly_obligations_minor, employment_status, date_of_birth_encrypted,
    status_changed_at)
SELECT 'BENCH-' || n, 'b-' || n, 'bench', 'borrower',
    (ARRAY['disbursed','disbursed','disbursed','declined','declined','expired','withdrawn','draft','submitted',
           'under_review','open_for_bids','open_for_bids','offer_accepted','approved'])[1 + n % 14],
    'Bench Applicant', 'bench@example.com', 'NG', (ARRAY['NGN','NGN','KES','GHS','ZAR','USD'])[1 + n % 6],
    25000000, 12, 'business', 45000000, 3500000, 'employed', '\\x00'::bytea,
    now() - (random() * interval '60 days')
FROM generate_series($1::int, $2::int - 1) AS n
"""


async def timed(reader: PgMonitoringReader, iterations: int) -> tuple[float, float]:
    expected = {s.value: t for s, t in expected_times(timedelta(hours=72)).items()}
    now = datetime.now(UTC)
    waiting = [s.value for s in WAITING]
    await reader.pipeline(now, expected, waiting, None, 20)  # warm-up
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        await reader.pipeline(now, expected, waiting, None, 20)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


async def plan(conn: asyncpg.Connection) -> str:
    expected = {s.value: t.total_seconds() for s, t in expected_times(timedelta(hours=72)).items()}
    rows = await conn.fetch(
        "EXPLAIN (ANALYZE, BUFFERS) " + _PIPELINE,
        datetime.now(UTC),
        list(expected),
        list(expected.values()),
        None,
        20,
        [s.value for s in WAITING],
    )
    lines = [r[0] for r in rows]
    return " | ".join(line.strip() for line in lines if "Scan" in line or "Execution" in line)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default=os.environ.get("CAAS_BENCH_POSTGRES_URL"), required=False)
    parser.add_argument("--sizes", default="10000,100000", type=lambda v: [int(x) for x in v.split(",")])
    parser.add_argument("--iterations", type=int, default=30)
    opts = parser.parse_args()
    if not opts.dsn:
        parser.error("--dsn or CAAS_BENCH_POSTGRES_URL: a PostgreSQL that can CREATE and DROP DATABASE")
    name = f"caas_bench_monitoring_{secrets.token_hex(4)}"
    dsn = urlunsplit(urlsplit(opts.dsn)._replace(path=f"/{name}"))
    admin = await asyncpg.connect(opts.dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(dsn)
        await migrate.migrate(conn, "core")
        pool = await create_pool(dsn, min_size=1, max_size=2)
        reader = PgMonitoringReader(pool)
        print(f"# cpus {os.cpu_count()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        have = 0
        for size in opts.sizes:
            await conn.execute(FILL, have, size)
            await conn.execute("VACUUM ANALYZE caas_core.applications")
            have = size
            p50, p99 = await timed(reader, opts.iterations)
            print(f"{size} applications, index 0022: p50 {p50:.1f} ms p99 {p99:.1f} ms; {await plan(conn)}")
            await conn.execute("DROP INDEX caas_core.applications_state_age_idx")
            p50, p99 = await timed(reader, opts.iterations)
            print(f"{size} applications, no index: p50 {p50:.1f} ms p99 {p99:.1f} ms; {await plan(conn)}")
            await conn.execute(
                "CREATE INDEX applications_state_age_idx ON caas_core.applications "
                "(status, status_changed_at) INCLUDE (currency, reference)"
            )
            await conn.execute("VACUUM ANALYZE caas_core.applications")
        await pool.close()
        await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        print(f"# dropped database {name}")


if __name__ == "__main__":
    asyncio.run(main())
