"""What our output schemas cost a client: the MCP Python SDK compiles a tool's output-schema validator
the first time a session calls the tool (``ClientSession._output_schema_validator``: ``check_schema``
against the schema's dialect, JSON Schema 2020-12 when none is declared, then the validator), and
validates every result with it. This times both for every tool in docs/tools.json, the catalog clients
are listed, in this process, with the SDK's own jsonschema.

    .venv/bin/python bench/bench_client_schemas.py [--repeat 20] [--json out.json]

A journey's borrower is a new session each time (bench_journey.py), so the tools it calls are compiled
once per journey unless the driver shares the validators (its default; ``--fresh-validators`` not).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from jsonschema.validators import validator_for
from referencing import Registry

ROOT = Path(__file__).resolve().parents[1]
# The borrower's tools in a journey (bench/journey_steps.py).
BORROWER = (
    "credit_submit_application",
    "documents_request_document_upload",
    "documents_register_document",
    "providers_compare_offers",
    "providers_accept_offer",
    "credit_get_repayment_schedule",
    "payments_collect_repayment",
    "payments_get_payment",
    "credit_get_loan",
)


def _compile_ms(schema: dict[str, Any], repeat: int) -> float:
    """What the SDK does once per session and tool: check the schema, then build the validator."""
    cls, times = validator_for(schema), []
    for _ in range(repeat):
        t0 = time.perf_counter()
        cls.check_schema(schema)
        cls(schema, registry=Registry())
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def measure(repeat: int) -> dict[str, Any]:
    tools = json.loads((ROOT / "docs" / "tools.json").read_text())["tools"]
    rows = {}
    for name, tool in sorted(tools.items()):
        schema = tool.get("outputSchema")
        if schema is None:
            continue
        rows[name] = {
            "dialect": validator_for(schema).__name__,
            "schema_bytes": len(json.dumps(schema)),
            "compile_ms": round(_compile_ms(schema, repeat), 3),
        }
    compile_all = [r["compile_ms"] for r in rows.values()]
    return {
        "tools": rows,
        "compile_ms_median": round(statistics.median(compile_all), 3),
        "compile_ms_max": max(compile_all),
        "compile_ms_all_tools": round(sum(compile_all), 1),
        "compile_ms_borrower_journey": round(sum(rows[t]["compile_ms"] for t in BORROWER), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=20, help="timings per tool; the median is kept")
    ap.add_argument("--json", help="write the figures here")
    opts = ap.parse_args()
    got = measure(max(1, opts.repeat))
    print("| tool | dialect | schema bytes | compile ms |\n|---|---|---:|---:|")
    for name, r in sorted(got["tools"].items(), key=lambda kv: -kv[1]["compile_ms"]):
        print(f"| {name} | {r['dialect']} | {r['schema_bytes']} | {r['compile_ms']} |")
    print(
        f"\n# compile per tool: median {got['compile_ms_median']} ms, max {got['compile_ms_max']} ms; "
        f"all {len(got['tools'])} tools {got['compile_ms_all_tools']} ms; "
        f"a journey's borrower ({len(BORROWER)} tools) {got['compile_ms_borrower_journey']} ms"
    )
    if opts.json:
        Path(opts.json).write_text(json.dumps(got, indent=1))


if __name__ == "__main__":
    main()
