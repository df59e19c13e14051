"""bench/bench_submit_ab.py (issue 14) at its smallest: the floor, this checkout's caas and a second
checkout's caas (here this same checkout again, started the way `--other` starts a sibling) take turns
in short blocks on one PostgreSQL, and every figure the lead reads comes back, measured on each side,
without an error, with the sides' order rotating round by round."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.helpers.common import REPO_ROOT

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

SIDES = ["floor", "caas", "other"]
ROUNDS, BLOCK, WARMUP = 3, 4, 1


async def test_three_sides_alternate_in_blocks_and_each_gets_its_cpu_latency_and_ratios(
    pg_admin_dsn: str, tmp_path: Path
) -> None:
    out = tmp_path / "ab.json"
    args = ["--dsn", pg_admin_dsn, "--other", str(REPO_ROOT), "--other-python", sys.executable]
    args += ["--block", str(BLOCK), "--rounds", str(ROUNDS), "--warmup", str(WARMUP)]
    args += ["--concurrency", "1,2", "--modes", "modern,legacy", "--json", str(out)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO_ROOT / "bench" / "bench_submit_ab.py"), *args,
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    text = (await asyncio.wait_for(proc.communicate(), 600))[0].decode()
    assert proc.returncode == 0, text[-4000:]
    got = json.loads(out.read_text())
    cells = {(c["mode"], c["conc"]): c for c in got["cells"]}
    assert set(cells) == {("modern", 1), ("modern", 2), ("legacy", 1), ("legacy", 2)}
    assert cells["modern", 1]["protocol"] != cells["legacy", 1]["protocol"]
    for cell in cells.values():
        assert list(cell["sides"]) == SIDES
        for name, side in cell["sides"].items():
            assert (side["calls"], side["errors"]) == (ROUNDS * BLOCK, 0), (name, side["first_error"])
            assert side["cpu_ms_per_call"] > 0 and 0 < side["p50_ms"] <= side["p99_ms"], name
            b = side["block_cpu_ms_per_call"]
            assert b["min"] <= b["p25"] <= b["median"] <= b["p75"] <= b["max"], name
        assert list(cell["ratios"]) == ["caas/floor", "other/floor", "caas/other"]
        for pair, r in cell["ratios"].items():
            a, b = pair.split("/")
            assert r["cpu_total"] == pytest.approx(
                cell["sides"][a]["cpu_ms_per_call"] / cell["sides"][b]["cpu_ms_per_call"]
            )
            assert r["cpu_per_round"]["min"] <= r["cpu_per_round"]["median"] <= r["cpu_per_round"]["max"]
        # One block per side a round, the sides taking turns, the first side of each round rotating.
        slots = sorted(cell["blocks"], key=lambda b: b["slot"])
        assert [b["slot"] for b in slots] == list(range(ROUNDS * len(SIDES)))
        for r in range(ROUNDS):
            turn = [b["side"] for b in slots if b["round"] == r]
            assert turn == SIDES[r:] + SIDES[:r]
    # Every call was made: the rows each side wrote (warm-up included), and the databases dropped.
    per_side = 2 * sum(WARMUP * c + ROUNDS * (BLOCK // c) * c for c in (1, 2))  # two modes
    assert got["rows"] == {name: per_side for name in SIDES}
    dropped = re.search(r"# dropped databases (.+)", text)
    assert dropped, text[-2000:]
    conn = await asyncpg.connect(pg_admin_dsn)
    try:
        left = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = ANY($1::text[])", dropped[1].split(", ")
        )
    finally:
        await conn.close()
    assert left == 0
