"""bench/bench_scale.py (issue 14, part 6) seeds two books with bench/seed_scale.py at a tiny scale and
times every list tool through the product's own MCP tools on each: every item is measured on both,
without a tool refusing, and the books hold exactly the rows the sizes ask for, the ledger balanced."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tests.helpers.common import REPO_ROOT

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

PAGED = {
    "list_applications", "list_loans", "list_loans (provider)", "list_review_queue", "list_providers",
    "list_account_postings", "list_payments", "list_invitations", "list_invitations (provider)",
    "list_notifications", "list_webhook_deliveries", "list_provider_benchmarks", "list_support_conversations",
}  # fmt: skip
READS = {
    "list_bids", "list_pending_actions", "list_documents", "get_balance (clearing)", "get_balance (loan)",
    "get_loan", "get_provider_capital", "get_commission_statement", "get_platform_revenue",
    "get_revenue_by_month",
}  # fmt: skip
JOBS = {
    "reconcile_ledger",
    "reconcile_ledger (incremental)",
    "age_loans",
    "get_pipeline_health",
    "get_sync_status",
}


async def test_seed_and_bench_at_a_tiny_scale_measure_every_item_on_books_of_the_asked_size(
    pg_admin_dsn: str, tmp_path: Path
) -> None:
    out = tmp_path / "scale.json"
    sizes = ["--applications", "600", "--loans", "480", "--providers", "60", "--postings", "4800"]
    args = ["--dsn", pg_admin_dsn, "--small", "300", *sizes, "--iterations", "1", "--json", str(out)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO_ROOT / "bench" / "bench_scale.py"), *args,
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    text = (await asyncio.wait_for(proc.communicate(), 600))[0].decode()
    assert proc.returncode == 0, text[-4000:]
    got = json.loads(out.read_text())
    assert set(got) >= {"load_average", "sizes", "seed_s", "counts", "items", "not_flat", "plans"}
    assert set(got["items"]) == PAGED | READS | JOBS
    for name, row in got["items"].items():
        for phase in ("small", "full"):
            measured = row[phase]
            assert "error" not in measured, (name, measured)
            assert measured["once_ms" if name in JOBS else "first_ms"] > 0, (name, phase)
        if name in PAGED:
            assert row["full"]["rows"] > 0, name  # every list has rows to page through
    # 600 applications make 30 pages of 20; the clearing account's 480 x 4 repayments, 96; the heavy
    # inbox (2,500 at any scale) more than 100.
    assert got["items"]["list_applications"]["full"]["pages_followed"] == 30
    assert got["items"]["list_account_postings"]["full"]["pages_followed"] == 96
    assert got["items"]["list_notifications"]["full"]["hundredth_ms"] > 0
    assert set(got["plans"]) == set(got["not_flat"])

    # Four repayments per loan: (4800 / 480 - 2) / 2, each journal two postings beside the disbursement's.
    full = got["counts"]["full"]
    assert full["caas_core.applications"] == 600
    assert full["caas_core.loans"] == 480
    assert full["caas_core.loan_installments"] == 480 * 6
    assert full["caas_ledger.journals"] == 480 * 5
    assert full["caas_ledger.postings"] == 4800
    assert full["caas_core.providers"] == 60
    assert got["counts"]["small"]["caas_core.applications"] == 300
    assert got["counts"]["small"]["caas_ledger.postings"] == 2400
    # The seed's ledger is one the product finds consistent.
    reconcile = got["items"]["reconcile_ledger"]["full"]
    assert reconcile["consistent"] is True, reconcile
    # The dashboard's per-state counts, kept by a trigger the seed had off, were filled after the load.
    assert got["items"]["get_pipeline_health"]["full"]["applications_counted"] == 600
    assert got["items"]["get_pipeline_health"]["small"]["applications_counted"] == 300
    # The first reconciliation audits everything and leaves a checkpoint; the next starts from it.
    assert reconcile["mode"] == "full"
    again = got["items"]["reconcile_ledger (incremental)"]["full"]
    assert again["mode"] == "incremental" and again["consistent"] is True, again
