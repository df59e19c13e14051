"""bench_journey.py's tables, its JSON summary and its profile digest."""

import pstats
import statistics
from pathlib import Path
from typing import Any

from submit_harness import median

__all__ = ["print_profile", "print_tables", "summary"]

ROOT = Path(__file__).resolve().parents[1]
OURS = tuple(str(ROOT / d) for d in ("mcp_servers", "tools", "adapters", "database"))
TARGET = 0.7


def _by_conc(results: list[dict], target: str) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in results:
        if r["target"] == target:
            out.setdefault(r["conc"], []).append(r)
    return out


def print_tables(results: list[dict], opts: Any) -> None:
    bare, journeys = _by_conc(results, "bare"), _by_conc(results, "journey")
    agg = "median of runs" if opts.runs > 1 else "one run"
    print(f"\n## Journeys ({agg}; CPU in ms per journey; floor in ms per call)\n")
    print(
        "| conc | journeys | journeys/s | calls/journey | caas server CPU | worker CPU | postgres CPU "
        "| sandbox CPU | floor CPU/call | efficiency | worst tool p99 (any run) | errors "
        "| idle ms/s server, worker |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for conc, rows in journeys.items():
        v = {k: median(rows, k) for k in ("journeys_per_s", "calls_per_journey", "journey_efficiency")}
        v |= {
            k: median(rows, k)
            for k in ("cpu_ms_server", "cpu_ms_worker", "cpu_ms_postgres", "cpu_ms_sandbox")
        }
        worst = max(rows, key=lambda r: r["p99_ms_max_tool"] or 0)
        print(
            f"| {conc} | {sum(r['journeys'] for r in rows)} | {v['journeys_per_s']:.2f} | "
            f"{v['calls_per_journey']:.1f} | {v['cpu_ms_server']:.0f} | {v['cpu_ms_worker']:.0f} | "
            f"{v['cpu_ms_postgres']:.0f} | {v['cpu_ms_sandbox']:.0f} | "
            f"{median(bare[conc], 'cpu_ms_server'):.3f} | "
            f"{v['journey_efficiency']:.3f} {'ok' if v['journey_efficiency'] >= TARGET else '< 0.7'} | "
            f"{worst['p99_ms_max_tool']:.0f} ms {worst['p99_max_tool']} | {sum(r['errors'] for r in rows)} | "
            f"{median(rows, 'idle_ms_per_s_server'):.1f}, {median(rows, 'idle_ms_per_s_worker'):.1f} |"
        )
    for conc, rows in journeys.items():
        print(f"\n## Per tool at concurrency {conc} (p50 / p99 ms, {agg}; floor p50 / p99 ", end="")
        print(f"{median(bare[conc], 'p50_ms'):.2f} / {median(bare[conc], 'p99_ms'):.2f})\n")
        print("| tool | calls | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|")
        for tool in rows[0]["tools"]:
            cells = [r["tools"][tool] for r in rows if tool in r["tools"]]
            p50 = statistics.median(c["p50_ms"] for c in cells)
            p99 = statistics.median(c["p99_ms"] for c in cells)
            print(f"| {tool} | {sum(c['calls'] for c in cells)} | {p50:.1f} | {p99:.1f} |")
    for r in results:
        if r.get("first_error"):
            print(f"# first error {r['target']} c={r['conc']} run {r['run']}: {r['first_error']}")


def summary(results: list[dict]) -> dict[str, Any]:
    """The headline: the best cell's throughput, the worst cell's efficiency and tail (medians of
    runs per concurrency), every error."""
    journeys = _by_conc(results, "journey")
    med = {c: {k: median(rows, k) for k in ("journeys_per_s", "calls_per_journey", "journey_efficiency")}
           for c, rows in journeys.items()}  # fmt: skip
    tails = [r["p99_ms_max_tool"] for r in results if r["target"] == "journey" and r["p99_ms_max_tool"]]
    return {
        "journeys_per_s": max((m["journeys_per_s"] for m in med.values()), default=None),
        "calls_per_journey": max((m["calls_per_journey"] for m in med.values()), default=None),
        "journey_efficiency": min((m["journey_efficiency"] for m in med.values()), default=None),
        "p99_ms_max_tool": max(tails, default=None),
        "errors": sum(r["errors"] for r in results),
        "by_concurrency": med,
    }


def print_profile(what: str, path: str, journeys: int) -> None:
    """A caas process's top 10 of our own code by cumulative time (cProfile, so inflated), and the
    top 10 of everything by own time."""
    stats = pstats.Stats(path)
    rows = []
    for (file, line, name), (_, calls, _tt, cum, _) in stats.stats.items():
        if file.startswith(OURS):
            rows.append((cum, calls, f"{Path(file).relative_to(ROOT)}:{line}({name})"))
    total = sum(tt for (_, _, tt, _, _) in stats.stats.values())
    print(f"\n## {what} under cProfile: {total:.1f} s in all, {journeys} timed journeys (+ warm-up)\n")
    print("| cumulative s | ms per journey | calls | function |")
    print("|---:|---:|---:|---|")
    for cum, calls, where in sorted(rows, reverse=True)[:10]:
        print(f"| {cum:.2f} | {1000 * cum / max(journeys, 1):.1f} | {calls} | {where} |")
    own = sorted(
        (
            (tt, calls, f"{Path(file).name}:{line}({name})")
            for (file, line, name), (_, calls, tt, _, _) in stats.stats.items()
        ),
        reverse=True,
    )
    print("\n| own s | calls | function (everything, by own time) |\n|---:|---:|---|")
    for tt, calls, where in own[:10]:
        print(f"| {tt:.2f} | {calls} | {where} |")
