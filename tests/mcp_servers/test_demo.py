"""``caas demo`` (issue 11, item 9) runs the whole journey against a real ``caas serve`` process through
an MCP client over Streamable HTTP, one local token per person, and fails loudly on the first failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.caas_process import caas_serve, demo_environment, run

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

STEPS = [
    "1. two lenders join the marketplace",
    "2. a borrower applies, with documents, and is scored",
    "3. the lenders are matched and bid; the borrower compares and accepts",
    "4. approval, origination and payout",
    "5. the first repayment",
    "6. the lender's statement and the ledger",
]


@pytest.fixture
async def environment(fresh_database: Any, tmp_path: Path) -> dict[str, str]:
    return await demo_environment(fresh_database, tmp_path / "data")


async def test_caas_demo_runs_the_whole_journey_against_caas_serve(
    environment: dict[str, str], tmp_path: Path
) -> None:
    async with caas_serve(environment, tmp_path) as url:
        code, out, err = await run("demo", "--url", url, env=environment, cwd=tmp_path)
    assert code == 0, out + err
    lines = out.splitlines()
    assert [line for line in lines if line[:2] in {f"{n}." for n in range(1, 7)}] == STEPS
    assert lines[-1] == "done: all 6 steps passed"
    text = "\n".join(lines)
    for what in (
        "verifies it",
        "grade A",
        "bids",
        "accepts",
        "second operator approves",
        "active",
        "consistent",
    ):
        assert what in text, what
    assert "Traceback" not in err


async def test_caas_demo_exits_1_on_the_first_failure_saying_which(
    environment: dict[str, str], tmp_path: Path
) -> None:
    # A server that refuses every local token: the first step fails, and nothing after it runs.
    refusing = {**environment, "CAAS_LOCAL_TOKENS": "false"}
    async with caas_serve(refusing, tmp_path) as url:
        code, out, err = await run("demo", "--url", url, env=environment, cwd=tmp_path)
    assert code == 1, out + err
    lines = out.splitlines()
    assert lines[-1].startswith("FAILED: ")
    assert "refused the demo's token" in lines[-1]
    assert "1. two lenders" not in out
    assert "Traceback" not in err
