"""What one process carries: its name in ``pg_stat_activity``, its pool sizes, whether it runs the
background workers (and which queues), and whether it may run the in-process sandbox.

The composed ``caas serve`` runs everything, as on a laptop; ``caas serve --front X`` is a process of it
for pages or live updates (mcp_servers.fronts) that runs no workers. ``caas serve --service X`` is one of
several processes behind nginx: a small pool, no workers unless asked (``--workers``), and the sandbox
only in the process that owns payments; ``caas worker`` runs the queues it is given and nothing else.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass

from mcp_servers.config import ConfigError, Settings

__all__ = [
    "GATEWAY_QUEUES",
    "PAYMENTS_OWNERS",
    "QUEUES",
    "ProcessPlan",
    "composed_plan",
    "front_plan",
    "parse_queues",
    "pool_size",
    "selected",
    "service_plan",
    "worker_plan",
]

# Every queue and periodic job `caas worker --queues` may name, in the order `--help` lists them; the
# workers built in mcp_servers.wiring carry exactly these (a test keeps the two in step).
QUEUES = (
    "outbox",
    "supabase_sync",
    "provider_webhooks",
    "payments",
    "notifications",
    "expire_applications",
    "expire_stalled_charges",
    "fold_provider_decisions",
    "fail_interrupted_actions",
    "age_loans",
    "repayment_reminders",
    "reconcile_ledger",
)
# The work that calls the payment and communication gateway: a process running it needs one.
GATEWAY_QUEUES = frozenset({"payments", "notifications", "repayment_reminders"})
# The processes that answer the sandbox's webhooks (composed: None) and so may run it.
PAYMENTS_OWNERS = (None, "payments")
# A single service serves a share of the traffic; the composed server and workers keep the old size.
SERVICE_POOL_MAX = 3
COMPOSED_POOL_MAX = 16


@dataclass(frozen=True, slots=True)
class ProcessPlan:
    # application_name of every connection: caas, caas-<service>, caas-worker.
    name: str
    pool_min: int
    pool_max: int
    supabase_pool_min: int
    supabase_pool_max: int
    workers: bool
    # None: every queue and periodic job.
    queues: frozenset[str] | None
    # With no ONASIS_GATEWAY_URL, only this process runs the sandbox (webhooks come back to it).
    owns_payments: bool

    def needs_gateway(self) -> bool:
        """Whether the work of this process calls the gateway (a sandbox of its own would not do)."""
        if not self.workers:
            return False
        return self.queues is None or bool(self.queues & GATEWAY_QUEUES)


def composed_plan(
    settings: Settings, *, workers: bool | None = None, pool_max: int | None = None
) -> ProcessPlan:
    """The composed server: everything in one process (the README's first command, tests)."""
    size = pool_max or settings.pool_max_size or COMPOSED_POOL_MAX
    run = workers if workers is not None else (settings.workers is not False)
    return ProcessPlan("caas", min(settings.pool_min_size, size), size, 1, 4, run, None, owns_payments=True)


def service_plan(
    settings: Settings, service: str, *, workers: bool | None = None, pool_max: int | None = None
) -> ProcessPlan:
    """One service: a small pool, a Supabase pool that connects only when used, workers only when
    asked (``--workers`` or CAAS_WORKERS=true), the sandbox only for payments."""
    size = pool_max or settings.pool_max_size or SERVICE_POOL_MAX
    run = workers if workers is not None else settings.workers is True
    return ProcessPlan(
        f"caas-{service}",
        min(settings.pool_min_size, size),
        size,
        0,
        size,
        run,
        None,
        owns_payments=service in PAYMENTS_OWNERS,
    )


def front_plan(settings: Settings, front: str, *, pool_max: int | None = None) -> ProcessPlan:
    """``caas serve --front``: a process of the composed server for pages or live updates; a service's
    small pool, never workers (``caas worker`` runs them), never the sandbox."""
    size = pool_max or settings.pool_max_size or SERVICE_POOL_MAX
    return ProcessPlan(
        f"caas-front-{front}",
        min(settings.pool_min_size, size),
        size,
        0,
        size,
        workers=False,
        queues=None,
        owns_payments=False,
    )


def worker_plan(
    settings: Settings, queues: frozenset[str] | None, *, pool_max: int | None = None
) -> ProcessPlan:
    """``caas worker``: the given queues (None: all), never a sandbox."""
    size = pool_max or settings.pool_max_size or COMPOSED_POOL_MAX
    return ProcessPlan(
        "caas-worker", min(settings.pool_min_size, size), size, 0, 4, True, queues, owns_payments=False
    )


def parse_queues(text: str | None) -> frozenset[str] | None:
    """``--queues a,b`` as a set (None: all); an unknown name is a ConfigError naming the known ones."""
    if text is None or text.strip() in ("", "all"):
        return None
    names = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [name for name in names if name not in QUEUES]
    if unknown:
        raise ConfigError(f"--queues: unknown queue '{unknown[0]}'; known: {', '.join(QUEUES)}")
    return frozenset(names)


def pool_size(text: str) -> int:
    """``--pool-max``: a whole number of connections, 1 to 200 (as CAAS_DB_POOL_MAX)."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 200:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of connections from 1 to 200")
    return int(text)


def selected(names: Iterable[str], queues: frozenset[str] | None) -> list[str]:
    """``names`` that a process running ``queues`` takes, in order."""
    return [name for name in names if queues is None or name in queues]
