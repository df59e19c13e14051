"""``caas worker``: background work in a process of its own, no MCP transport; ``--queues`` chooses
which queues and periodic jobs it runs (``mcp_servers.processes.QUEUES``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import anyio
import anyio.abc

from mcp_servers.config import ConfigError, Settings
from mcp_servers.platform.workers import Workers
from mcp_servers.processes import QUEUES, parse_queues, pool_size, worker_plan

__all__ = ["add_parser", "gateway_refusal", "work"]

log = logging.getLogger("caas")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser(
        "worker",
        help="run the background workers without serving MCP",
        description="Run background work without serving MCP. Queues and periodic jobs: " + ", ".join(QUEUES),
    )
    worker.add_argument(
        "--once",
        action="store_true",
        help="run each periodic job once and every queue until nothing is due, then exit (1 if a periodic "
        "job failed)",
    )
    worker.add_argument(
        "--queues",
        metavar="Q1,Q2",
        help=f"comma-separated queues and periodic jobs to run (default all): {', '.join(QUEUES)}",
    )
    worker.add_argument(
        "--pool-max",
        type=pool_size,
        help="database connections per pool of this process (default CAAS_DB_POOL_MAX or 16)",
    )


def gateway_refusal(what: str) -> ConfigError:
    # A process of its own would start a private sandbox: its transfers and its signed webhooks
    # would never match what the serving process knows.
    return ConfigError(
        f"{what} needs ONASIS_GATEWAY_URL (the gateway, or `caas sandbox` for simulated money, shared "
        "with caas serve); or let the composed caas serve or caas serve --service payments run that work"
    )


async def work(settings: Settings, args: argparse.Namespace) -> int:
    """Background work only; raises ConfigError for an unknown queue or a missing gateway."""
    from mcp_servers.runtime import Runtime

    plan = worker_plan(settings, parse_queues(args.queues), pool_max=args.pool_max)
    if settings.onasis_gateway_url is None and plan.needs_gateway():
        raise gateway_refusal("caas worker (the payments, notifications and repayment_reminders work)")
    runtime = Runtime(settings, plan=plan)
    async with runtime.session():
        if args.once:
            # The periodic jobs first: what they change (an application expired, a loan aged) has its
            # events relayed and handled by the drain that follows.
            ran, failed = await runtime.workers.run_periodic_once()
            taken = await runtime.workers.drain()
            sys.stdout.write(f"worker: {taken} item(s) done\n")
            if ran or failed:
                sys.stdout.write(f"worker: periodic jobs ran: {', '.join(ran) or 'none'}\n")
            if failed:
                sys.stdout.write(f"worker: periodic jobs failed (see the log): {', '.join(failed)}\n")
            return 1 if failed else 0
        async with anyio.create_task_group() as tg:
            await tg.start(_stop_on_signal, runtime.workers, tg.cancel_scope, settings.shutdown_grace_s)
            running = (["outbox"] if runtime.workers.relay else []) + list(runtime.workers.handlers)
            running += [job.name for job in runtime.workers.periodic]
            log.info("worker running: %s", ", ".join(running))
            await runtime.workers.run()
            tg.cancel_scope.cancel()
    return 0


async def _stop_on_signal(
    workers: Workers,
    scope: anyio.CancelScope,
    grace: float,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """SIGTERM/SIGINT: each worker finishes the job it holds, then stops; after ``grace`` seconds
    whatever is still running is cancelled."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            log.info("stopping: workers finish their current jobs (at most %ss)", grace)
            workers.stop()
            await anyio.sleep(grace)
            scope.cancel()
            return
