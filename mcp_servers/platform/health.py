"""``platform_health``: what ``/ready`` knows, and what an operator asks next (queue lag, failed jobs,
open circuit breakers, the registry), as a read-only tool on the ``admin`` server."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_servers.platform.registration import registry_health
from mcp_servers.toolkit import ToolSet, current_runtime
from tools.payments.ports import Flagged
from tools.platform.principal import Role

__all__ = ["TOOLS", "PlatformHealth"]

WATCHERS = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})


class Dependency(BaseModel):
    status: Literal["up", "down"]
    latency_ms: float | None = None
    error: str | None = None
    pending: list[str] | None = Field(default=None, description="Migrations not yet applied.")


class PlatformHealth(BaseModel):
    ready: bool = Field(description="What GET /ready answers: databases up, migrations applied, APIs up.")
    version: str
    uptime_s: float
    database: Literal["embedded", "configured"]
    dependencies: dict[str, Dependency]
    simulated: bool = Field(description="True when payments go to the sandbox gateway: no real money.")
    gateway: str
    queue_lag_s: dict[str, float] = Field(
        description="Per queue (and outbox), the age in seconds of its oldest unfinished item."
    )
    failed_jobs: dict[str, int] = Field(description="Per queue, jobs that failed for good.")
    open_breakers: list[str] = Field(description="Payment vendors paused after failures.")
    breakers: dict[str, str]
    registry: dict[str, Any]
    attention: list[str] = Field(description="What needs a person, in plain words; empty when nothing.")


TOOLS = ToolSet()
# How far back platform_health looks for reports that contradicted what the platform knew: nothing in
# the platform marks them settled (a person asks the sender), so they are named for a month.
RECENT = timedelta(days=30)


@TOOLS.tool(roles=WATCHERS, title="Platform health", read_only=True, idempotent=True)
async def platform_health() -> PlatformHealth:
    """How the platform stands now: databases, pending migrations and Supabase APIs (what /ready
    checks), outbox and queue lag, jobs that failed for good, open payment circuit breakers, the
    registry, and whether money is simulated.

    Use first when calls fail with unavailable, a payout or webhook seems stuck, or before the daily
    servicing round. attention lists what needs a person.
    """
    from mcp_servers.composition import package_version

    runtime = current_runtime()
    healthy, deps = await runtime.health()
    store = runtime.workers.store
    lag = await store.lag_seconds()
    failed = await store.failed_jobs()
    unapplied = await runtime.deps.payments.reader.unapplied_receipts()
    disputed = await runtime.deps.payments.reader.disputed_successes()
    other_bodies = await runtime.deps.payments.reader.events_with_other_bodies(RECENT)
    undone = await runtime.deps.payments.reader.undone_after_success(RECENT)
    breakers = runtime.deps.payments.router.states()
    payments = runtime.payments_info()
    ready = healthy and runtime.ready
    opened = sorted(v for v, state in breakers.items() if state != "closed")
    return PlatformHealth(
        ready=ready,
        version=package_version(),
        uptime_s=round(time.monotonic() - runtime.started_at, 1),
        database="embedded" if runtime.settings.embedded else "configured",
        dependencies={name: Dependency(**dep) for name, dep in deps.items()},
        simulated=payments["simulated"],
        gateway=payments["gateway"],
        queue_lag_s={queue: round(seconds, 1) for queue, seconds in lag.items()},
        failed_jobs=failed,
        open_breakers=opened,
        breakers=breakers,
        registry=registry_health(runtime),
        attention=_attention(ready, deps, failed, opened, lag)
        + _unapplied(unapplied)
        + _disputed(disputed)
        + _other_bodies(other_bodies)
        + _undone(undone),
    )


def _unapplied(count: int) -> list[str]:
    if not count:
        return []
    return [
        f"{count} payment(s) moved money that their loan refused: a charge paid after the loan was paid "
        "off, or a payout paid after it failed and was retried or its loan cancelled (the borrower may "
        "have been paid twice, or for nothing). "
        "The money is not applied to a loan; it is booked, a charge in suspense and a payout in "
        "payout_recovery. list_payments with status succeeded shows each one's last_error: refund the "
        "payer or recover the payout through the gateway, then reverse its journal (admin_reverse_journal); "
        "a payout that will not come back is written off (payments_write_off_payout)"
    ]


def _first(flagged: Flagged) -> str:
    more = f" and {flagged.count - len(flagged.first)} more" if flagged.count > len(flagged.first) else ""
    return ", ".join(flagged.first) + more


def _other_bodies(flagged: Flagged) -> list[str]:
    if not flagged.count:
        return []
    return [
        f"{flagged.count} inbound event(s) came again in the last {RECENT.days} days under an event id "
        "already received, with another body: the first copy's effect stands and the later one changed "
        "nothing. A sender reusing event ids, or an altered replay: ask the sender (verify_payment asks a "
        f"vendor what moved). Source:event id: {_first(flagged)}"
    ]


def _undone(flagged: Flagged) -> list[str]:
    if not flagged.count:
        return []
    return [
        f"{flagged.count} succeeded payout(s) a vendor reported reversed in the last {RECENT.days} days: "
        "the money may have come back to the platform while the loan counts it as paid out. They stay "
        "succeeded; verify_payment asks the vendor what moved, then settle it with the borrower. "
        f"Payments: {_first(flagged)}"
    ]


def _disputed(count: int) -> list[str]:
    if not count:
        return []
    return [
        f"{count} payment(s) a vendor reported as succeeded with another amount or currency than asked, "
        "or none: money may have moved that nothing recorded, and a failure reported since was not "
        "taken. list_payments shows each one's last_error: verify_payment asks the vendor what moved"
    ]


def _attention(
    ready: bool, deps: dict[str, Any], failed: dict[str, int], opened: list[str], lag: dict[str, float]
) -> list[str]:
    notes = [f"{name} is down ({dep.get('error')})" for name, dep in deps.items() if dep["status"] != "up"]
    if not ready and not notes:
        notes.append("the server is still starting")
    notes += [f"{n} {queue} job(s) failed for good" for queue, n in sorted(failed.items())]
    notes += [f"payment vendor {vendor} is paused after failures" for vendor in opened]
    # A minute behind means the workers are stopped or overwhelmed; seconds are normal traffic.
    notes += [f"{queue} is {seconds:.0f} s behind" for queue, seconds in sorted(lag.items()) if seconds > 60]
    return notes
