"""bench/notify_commits.py (issue 14, docs/scaling.md item 8): the three ways of committing are run
through a real pgbench against PostgreSQL, each reports a rate, and the bench's database is gone after."""

from __future__ import annotations

import asyncpg
import pytest

from bench.notify_commits import SCRIPTS, report, run


async def test_each_way_of_committing_is_measured_and_the_bench_leaves_no_database(
    pg_admin_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rates = await run(pg_admin_dsn, clients=2, seconds=1, runs=1)
    assert set(rates) == set(SCRIPTS) and all(rate > 0 for rate in rates.values())
    report(rates, 2)
    table = capsys.readouterr().out
    assert "| plain |" in table and "| notify |" in table and "| after |" in table
    conn = await asyncpg.connect(pg_admin_dsn)
    try:
        left = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'caas_notify_bench_%'"
        )
    finally:
        await conn.close()
    assert left == 0
