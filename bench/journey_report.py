"""bench_journey.py's tables, its JSON summary and its profile digest."""

import os
import pstats
import statistics
from pathlib import Path
from typing import Any

from journey_steps import Tally
from submit_harness import median, pct

__all__ = [
    "cell_result",
    "little",
    "package_of",
    "print_profile",
    "print_server_counts",
    "print_tables",
    "summary",
    "tool_tails",
]

ROOT = Path(__file__).resolve().parents[1]
OURS = tuple(str(ROOT / d) for d in ("mcp_servers", "tools", "adapters", "database"))
TARGET = 0.7
TAIL_BOUND = 1.5  # every tool's p99 within this many times the floor's p99 at the same concurrency


def _by_conc(results: list[dict], target: str) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in results:
        if r["target"] == target:
            out.setdefault(r["conc"], []).append(r)
    return out


def tool_tails(bare: list[dict], rows: list[dict]) -> tuple[float, dict[str, tuple[float, float]]]:
    """The p99 bound at one concurrency, and each tool's (p50, p99) in ms, medians of the runs."""
    tails = {}
    for tool in rows[0]["tools"]:
        cells = [r["tools"][tool] for r in rows if tool in r["tools"]]
        tails[tool] = (
            statistics.median(c["p50_ms"] for c in cells),
            statistics.median(c["p99_ms"] for c in cells),
        )
    return TAIL_BOUND * median(bare, "p99_ms"), tails


def print_tables(results: list[dict], opts: Any) -> None:
    bare, journeys = _by_conc(results, "bare"), _by_conc(results, "journey")
    agg = "median of runs" if opts.runs > 1 else "one run"
    print(f"\n## Journeys ({agg}; CPU in ms per journey; floor in ms per call)\n")
    print(
        "| conc | journeys | journeys/s | calls/journey | caas server CPU | worker CPU | postgres CPU "
        "| sandbox CPU | driver CPU | floor CPU/call | efficiency | worst tool p99 (any run) | errors "
        "| idle ms/s server, worker |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for conc, rows in journeys.items():
        v = {k: median(rows, k) for k in ("journeys_per_s", "calls_per_journey", "journey_efficiency")}
        v |= {
            k: median(rows, k)
            for k in ("cpu_ms_server", "cpu_ms_worker", "cpu_ms_postgres", "cpu_ms_sandbox", "cpu_ms_driver")
        }
        worst = max(rows, key=lambda r: r["p99_ms_max_tool"] or 0)
        print(
            f"| {conc} | {sum(r['journeys'] for r in rows)} | {v['journeys_per_s']:.2f} | "
            f"{v['calls_per_journey']:.1f} | {v['cpu_ms_server']:.0f} | {v['cpu_ms_worker']:.0f} | "
            f"{v['cpu_ms_postgres']:.0f} | {v['cpu_ms_sandbox']:.0f} | {v['cpu_ms_driver']:.0f} | "
            f"{median(bare[conc], 'cpu_ms_server'):.3f} | "
            f"{v['journey_efficiency']:.3f} {'ok' if v['journey_efficiency'] >= TARGET else '< 0.7'} | "
            f"{worst['p99_ms_max_tool']:.0f} ms {worst['p99_max_tool']} | {sum(r['errors'] for r in rows)} | "
            f"{median(rows, 'idle_ms_per_s_server'):.1f}, {median(rows, 'idle_ms_per_s_worker'):.1f} |"
        )
    for conc, rows in journeys.items():
        bound, tails = tool_tails(bare[conc], rows)
        print(f"\n## Per tool at concurrency {conc} (p50 / p99 ms, {agg}; floor p50 / p99 ", end="")
        print(
            f"{median(bare[conc], 'p50_ms'):.2f} / {median(bare[conc], 'p99_ms'):.2f}; the floor's full ",
            end="",
        )
        gcs = "; ".join(f"{r.get('gc_full_blocks')} ({r.get('gc_full_ms')} ms)" for r in bare[conc])
        print(f"collections by block, each run: {gcs})\n")
        print(f"| tool | calls | p50 ms | p99 ms | p99 within {TAIL_BOUND}x the floor's ({bound:.0f} ms) |")
        print("|---|---:|---:|---:|---|")
        for tool, (p50, p99) in tails.items():
            calls = sum(r["tools"][tool]["calls"] for r in rows if tool in r["tools"])
            print(f"| {tool} | {calls} | {p50:.1f} | {p99:.1f} | {'yes' if p99 <= bound else 'no'} |")
        within = sum(p99 <= bound for _, p99 in tails.values())
        print(f"\n{within} of {len(tails)} tools' p99 within {TAIL_BOUND}x the floor's p99")
        law = little(conc, rows, bound)
        print(
            f"\nLittle's law ({conc} agents, closed loop): {law['calls_per_s']:.0f} calls/s, so a call and "
            f"the agent's time between calls take {law['cycle_ms']:.1f} ms together; the mean call took "
            f"{law['mean_call_ms']:.1f} ms and the time between calls {law['think_ms']:.1f} ms. Every p99 "
            f"within {bound:.0f} ms needs at least a mean call within it, so at least "
            f"{law['calls_per_s_needed']:.0f} calls/s ({law['throughput_needed']:.2f}x this cell's)"
        )
        m = machine(rows, bare[conc])
        ours = ", ".join(f"{k} {m[k]:.1f}" for k in ("server", "worker", "postgres", "driver", "sandbox"))
        floors = ", ".join(f"{k} {m['floor_' + k]:.1f}" for k in ("server", "postgres", "driver"))
        cores = os.cpu_count() or 1
        print(
            f"\nThe machine's CPU per call: {m['journey_ms']:.1f} ms for the journey's ({ours}) against "
            f"{m['floor_ms']:.1f} ms for the floor's ({floors}): {m['ratio']:.1f}x. On {cores} cores no "
            f"cell exceeds {cores} / that many calls a second, so {conc} agents' cycle (a call and the "
            f"time until the next) is at least {conc * m['journey_ms'] / cores:.1f} ms in the journey and "
            f"{conc * m['floor_ms'] / cores:.1f} ms against the floor"
        )
        counts = [r["requests_per_journey"] for r in rows if r.get("requests_per_journey")]
        if counts:
            print("\nRequests the caas server was sent per journey (--count-requests, first run): ", end="")
            print(", ".join(f"{k} {v}" for k, v in counts[0].items()))
    for r in results:
        if r.get("first_error"):
            print(f"# first error {r['target']} c={r['conc']} run {r['run']}: {r['first_error']}")


def little(conc: int, rows: list[dict], bound_ms: float) -> dict[str, float]:
    """Little's law for the closed loop of ``conc`` agents (medians of runs): each agent's cycle is one
    call plus its time until the next (the driver's own work, and waits for webhooks), so cycle =
    conc / throughput. Every tool's p99 within the bound needs the mean call within it too, hence the
    least throughput the bound allows, at the same time between calls."""
    rate = median(rows, "calls_per_s")
    mean = median(rows, "mean_call_ms")
    cycle = 1000 * conc / rate
    think = max(cycle - mean, 0.0)
    needed = 1000 * conc / (bound_ms + think)
    return {
        "calls_per_s": rate, "cycle_ms": cycle, "mean_call_ms": mean, "think_ms": think,
        "calls_per_s_needed": needed, "throughput_needed": needed / rate,
    }  # fmt: skip


def machine(rows: list[dict], bare: list[dict]) -> dict[str, float]:
    """The whole machine's CPU per tool call (medians of runs, ms), by process: the journey's (caas
    server, worker, PostgreSQL, the driver, the sandbox) and the floor's (its server, PostgreSQL, the
    driver). The utilisation law caps calls/s at cores / CPU per call, and in a closed loop of N agents
    a call and the time until the next take N / calls/s (Little's law)."""
    calls = median(rows, "calls_per_journey") or 1.0
    per = {
        k: median(rows, f"cpu_ms_{k}") / calls for k in ("server", "worker", "postgres", "driver", "sandbox")
    }
    floor = {f"floor_{k}": median(bare, f"cpu_ms_{k}") for k in ("server", "postgres", "driver")}
    journey_ms, floor_ms = sum(per.values()), sum(floor.values())
    return per | floor | {"journey_ms": journey_ms, "floor_ms": floor_ms, "ratio": journey_ms / floor_ms}


def cell_result(
    opts: Any, conc: int, tally: Tally, warm: list[str], cpu: dict, wall: float, *rest: Any
) -> dict:
    t_journeys, drain_s, left, failed, done = rest
    n = max(done, 1)
    per = {k: round(1000 * v["server"] / n, 2) for k, v in cpu.items()}  # CPU ms per journey
    tools = {}
    for tool, lat in sorted(tally.lat.items()):
        ms = sorted(x * 1000 for x in lat)
        tools[tool] = {"calls": len(ms), "p50_ms": round(pct(ms, 50), 2), "p99_ms": round(pct(ms, 99), 2)}
    worst = max(tools, key=lambda t: tools[t]["p99_ms"]) if tools else None
    every = [x for lat in tally.lat.values() for x in lat]
    errors = tally.errors + warm + [f"{left} outbox events/jobs still pending"] * bool(left)
    errors += [f"{failed} jobs failed"] * bool(failed)
    return {
        "target": "journey", "conc": conc, "journeys": done, "calls": tally.calls,
        "calls_per_journey": round(tally.calls / n, 2), "wall_s": round(wall, 3),
        "journeys_s": round(t_journeys, 3), "drain_s": round(drain_s, 3),
        "journeys_per_s": round(done / wall, 3),
        "calls_per_s": round(tally.calls / t_journeys, 2),
        "mean_call_ms": round(1000 * statistics.fmean(every), 2) if every else 0.0,
        "cpu_ms_server": per["caas"], "cpu_ms_worker": per["worker"], "cpu_ms_sandbox": per["sandbox"],
        "cpu_ms_postgres": round(1000 * cpu["caas"]["postgres"] / n, 2),
        "cpu_ms_driver": round(1000 * cpu["caas"]["driver"] / n, 2),
        "tools": tools, "p99_ms_max_tool": tools[worst]["p99_ms"] if worst else None, "p99_max_tool": worst,
        "errors": len(errors), "first_error": errors[0] if errors else None,
    }  # fmt: skip


def summary(results: list[dict]) -> dict[str, Any]:
    """The headline: the best cell's throughput, the worst cell's efficiency and tail (medians of
    runs per concurrency), every error."""
    bare, journeys = _by_conc(results, "bare"), _by_conc(results, "journey")
    med = {c: {k: median(rows, k) for k in ("journeys_per_s", "calls_per_journey", "journey_efficiency")}
           for c, rows in journeys.items()}  # fmt: skip
    for conc, rows in journeys.items():
        bound, tails = tool_tails(bare[conc], rows)
        med[conc] |= {
            "p99_bound_ms": round(bound, 2),
            "tools_p99_within_bound": sum(p99 <= bound for _, p99 in tails.values()),
            "tools": len(tails),
        }
        law = little(conc, rows, bound)
        med[conc] |= {k: round(law[k], 3) for k in ("calls_per_s", "calls_per_s_needed", "throughput_needed")}
        med[conc]["machine_cpu_ratio"] = round(machine(journeys[conc], bare[conc])["ratio"], 2)
        # The floor's full collections in its timed calls, every run: each one can set its p99 alone.
        med[conc]["floor_gc_full"] = sum(sum(r.get("gc_full_blocks") or [0]) for r in bare[conc])
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
    clock = Path(path + ".clock").read_text() if Path(path + ".clock").exists() else "unknown"
    print(
        f"\n## {what} under cProfile ({clock} clock): {total:.1f} s, {journeys} timed journeys (+ warm-up)\n"
    )
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
    shares: dict[str, float] = {}
    for (file, _, name), (_, _, tt, _, _) in stats.stats.items():
        where = package_of(file, name)
        shares[where] = shares.get(where, 0.0) + tt
    print("\n| own s | share | where (by package: start-up included) |\n|---:|---:|---|")
    for where, tt in sorted(shares.items(), key=lambda kv: -kv[1])[:15]:
        print(f"| {tt:.2f} | {100 * tt / max(total, 1e-9):.1f}% | {where} |")


def package_of(file: str, name: str) -> str:
    """Where a profiled function lives: a directory of ours, an installed distribution, a module of
    the standard library, or for a C function (``~``) the module of its type (``pydantic_core``,
    ``_socket``, ``select``) or ``builtins``."""
    if file == "~":  # "<method 'poll' of 'select.epoll' objects>", "<built-in method _asyncio.x>"
        of = name.partition(" of '")[2].split("'", 1)[0] or name.removeprefix("<built-in method ")
        return "C: " + (of.split(".", 1)[0] if "." in of else "builtins")
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1].split("/", 1)[0]
    for ours in OURS:
        if file.startswith(ours + "/"):
            return "ours: " + Path(ours).name
    if file.startswith(str(ROOT) + "/"):
        return "ours: " + Path(file).relative_to(ROOT).parts[0]
    parts = Path(file).parts
    lib = next((i for i, part in enumerate(parts) if part.startswith("python3")), None)
    return "stdlib: " + (parts[lib + 1] if lib is not None and lib + 1 < len(parts) else Path(file).name)


def print_server_counts(path: str, floor_ms: float | None) -> None:
    """The caas server's requests by tool (bench/server_counts.py): round trips to PostgreSQL and CPU
    per request. The CPU is the tool's own only at one agent; with more, requests overlap."""
    import json

    counts = json.loads(Path(path).read_text())
    floor = f"; the floor's server CPU per call {floor_ms:.2f} ms" if floor_ms else ""
    print(f"\n## The caas server's requests by tool ({path}; warm-up included{floor})\n")
    print("| tool or path | requests | round trips / request | prepares / request | CPU ms / request |")
    print("|---|---:|---:|---:|---:|")
    rows = sorted(counts.items(), key=lambda kv: -kv[1]["cpu_ms"] / max(kv[1]["requests"], 1))
    for tool, c in rows:
        if not c["requests"]:
            continue
        n = c["requests"]
        trips, prepares = c.get("round trips", 0) / n, c.get("prepare", 0) / n
        print(f"| {tool} | {n} | {trips:.1f} | {prepares:.2f} | {c['cpu_ms'] / n:.2f} |")
