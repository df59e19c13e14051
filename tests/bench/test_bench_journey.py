"""bench/bench_journey.py (issue 14, part 1) runs the whole journey end to end at the smallest size:
one agent, one warm-up journey and one timed one, against `caas serve`, `caas worker` and the
sandbox as child processes on the test's PostgreSQL, and reports every figure the issue names. In the
pooled run (CAAS_TEST_POOLED_URL) the journey's request pools go through that PgBouncer."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.helpers.common import REPO_ROOT

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

# What one journey calls: submit; per document request, register, verify (two documents); score;
# invite; three bids; compare; accept; approve; originate; disburse; schedule; collect; the payment;
# the loan; the statement.
JOURNEY_TOOLS = {
    "credit_submit_application": 1,
    "documents_request_document_upload": 2,
    "documents_register_document": 2,
    "documents_verify_document": 2,
    "risk_score_application": 1,
    "providers_invite_providers": 1,
    "providers_place_bid": 3,
    "providers_compare_offers": 1,
    "providers_accept_offer": 1,
    "credit_approve_application": 1,
    "credit_originate_loan": 1,
    "payments_disburse_loan": 1,
    "credit_get_repayment_schedule": 1,
    "payments_collect_repayment": 1,
    "payments_get_payment": 1,
    "credit_get_loan": 1,
    "credit_get_commission_statement": 1,
}


async def bench_journey(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    out = tmp_path / "journey.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO_ROOT / "bench" / "bench_journey.py"), *args, "--json", str(out),
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=None if env is None else os.environ | env,
    )  # fmt: skip
    text = (await asyncio.wait_for(proc.communicate(), 600))[0].decode()
    assert proc.returncode == 0, text[-4000:]
    return text, json.loads(out.read_text())


async def test_one_journey_runs_end_to_end_with_every_figure_and_no_error(
    pg_admin_dsn: str, tmp_path: Path
) -> None:
    args = ["--dsn", pg_admin_dsn, "--journeys", "1", "--concurrency", "1", "--bare-calls", "20"]
    args += ["--count-requests", "--cprofile", str(tmp_path / "caas.prof")]
    pooled = os.environ.get("CAAS_TEST_POOLED_URL")
    if pooled:
        args += ["--pooled-dsn", pooled]
    text, got = await bench_journey(tmp_path, *args, env={"CAAS_CPROFILE_CLOCK": "cpu"})
    assert got["errors"] == 0, text[-4000:]
    # The profiled server timed by its CPU clock (the variable reached it) and the digest says so,
    # with the server's own time by package.
    assert "## caas server under cProfile (cpu clock)" in text, text[-4000:]
    assert re.search(r"\| [\d.]+% \| ours: mcp_servers \|", text), text[-4000:]
    assert got["caas_db"] == ("pgbouncer" if pooled else "direct")
    assert got["calls_per_journey"] == sum(JOURNEY_TOOLS.values())
    assert got["journeys_per_s"] > 0
    assert 0 < got["journey_efficiency"] < 10
    journey = next(c for c in got["cells"] if c["target"] == "journey")
    assert {t: c["calls"] for t, c in journey["tools"].items()} == JOURNEY_TOOLS
    assert got["p99_ms_max_tool"] == max(c["p99_ms"] for c in journey["tools"].values())
    tails = got["by_concurrency"]["1"]
    assert tails["tools"] == len(JOURNEY_TOOLS) and 0 <= tails["tools_p99_within_bound"] <= tails["tools"]
    # What the server was sent for the journey: each call, a second request for each money move a
    # person confirms, the new borrower's discovery and listing, and the gateway's two webhooks.
    confirmed = {"providers_accept_offer", "payments_disburse_loan"}
    sent = {f"tools/call {t}": n + (t in confirmed) for t, n in JOURNEY_TOOLS.items()}
    sent |= {"server/discover": 1, "tools/list": 1, "gateway webhooks": 2}
    assert journey["requests_per_journey"] == sent
    # Every outbox event and job was processed before the cell ended, and the workers did work.
    assert journey["cpu_ms_worker"] > 0 and journey["cpu_ms_server"] > 0
    assert journey["events_per_journey"] > 0 and journey["jobs_per_journey"] > 0
    assert not re.search(r"still pending|jobs failed", text)
    assert int(re.search(r"lender webhooks received: (\d+)", text)[1]) > 0  # type: ignore[index]
    # The run dropped the databases it made.
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


async def test_in_blocks_the_floor_is_measured_between_the_journeys_and_counted_over_all_its_blocks(
    pg_admin_dsn: str, tmp_path: Path
) -> None:
    args = ["--dsn", pg_admin_dsn, "--journeys", "3", "--concurrency", "1", "--warmup", "0"]
    args += ["--bare-calls", "16", "--blocks", "2", "--count-requests", "--floor-gc", "settled"]
    args += ["--count-server", str(tmp_path / "server.json")]
    text, got = await bench_journey(tmp_path, *args)
    assert got["errors"] == 0, text[-4000:]
    floor, journey = got["cells"]
    # Two floor blocks of 8 calls, the 3 journeys split 1 and 2: every call and journey counted once.
    assert (floor["target"], floor["blocks"], floor["calls"]) == ("bare", 2, 16)
    # A settled floor makes no full collection in 16 calls; each block's count is there to say so.
    assert floor["gc_full_blocks"] == [0, 0] and "floor gc=settled" in text
    blocks = floor["cpu_ms_server_blocks"]
    assert len(blocks) == 2 and min(blocks) <= floor["cpu_ms_server"] <= max(blocks)
    assert (journey["blocks"], journey["journeys"], journey["calls_per_journey"]) == (2, 3, 22)
    calls = {t: c["calls"] for t, c in journey["tools"].items()}
    assert calls == {t: 3 * n for t, n in JOURNEY_TOOLS.items()}
    # The floor's requests go to the bare server: none of them is counted as the journey's.
    assert journey["requests_per_journey"]["tools/call credit_submit_application"] == 1
    assert "tools/call insert_row" not in journey["requests_per_journey"]
    efficiency = floor["cpu_ms_server"] * 22 / (journey["cpu_ms_server"] + journey["cpu_ms_worker"])
    assert got["journey_efficiency"] == pytest.approx(efficiency, abs=0.002)
    # Little's law over the closed loop: the throughput the tail bound needs, from the same figures.
    law = got["by_concurrency"]["1"]
    assert law["calls_per_s"] == pytest.approx(journey["calls"] / journey["journeys_s"], rel=0.01)
    assert law["throughput_needed"] == pytest.approx(law["calls_per_s_needed"] / law["calls_per_s"], rel=0.01)
    assert law["floor_gc_full"] == 0
    # The whole machine's CPU per call, the journey's against the floor's, from the same cells.
    ours = sum(journey[f"cpu_ms_{k}"] for k in ("server", "worker", "postgres", "driver", "sandbox")) / 22
    floors = sum(floor[f"cpu_ms_{k}"] for k in ("server", "postgres", "driver"))
    assert law["machine_cpu_ratio"] == pytest.approx(ours / floors, abs=0.01)
    assert "The machine's CPU per call:" in text

    # The server's requests by tool: each tool call (two for a money move a person confirms) and the
    # gateway's two webhooks a journey, each with its round trips to PostgreSQL and its CPU.
    counted = json.loads((tmp_path / "server.json").read_text())
    confirmed = {"providers_accept_offer", "payments_disburse_loan"}
    for tool, n in JOURNEY_TOOLS.items():
        assert counted[tool]["requests"] == 3 * (n + (tool in confirmed)), (tool, counted[tool])
        assert counted[tool]["round trips"] >= counted[tool]["requests"] and counted[tool]["cpu_ms"] > 0
    submit = counted["credit_submit_application"]
    statements = sum(v for k, v in submit.items() if k.startswith("sql: "))
    assert statements == 3 and submit["round trips"] == statements + submit.get("prepare", 0)  # one each
    webhooks = {k: v for k, v in counted.items() if k.startswith("(/webhooks/")}
    assert sum(v["requests"] for v in webhooks.values()) == 6, counted.keys()
    assert "| credit_get_loan | 3 |" in text, text[-4000:]
