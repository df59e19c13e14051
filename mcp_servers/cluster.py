"""``caas serve --processes N``: one parent that binds the port and N children that serve it.

The parent binds N listening sockets on the one address with ``SO_REUSEPORT`` (so a port in use is its
one-line error, before any child starts) and hands socket *i* to child *i*; the kernel then spreads new
connections over the children by a hash of each connection's addresses (a keep-alive connection stays
with its child). The parent serves nothing itself: it forwards SIGTERM/SIGINT to every child, each
drains its calls in flight (mcp_servers.platform.serving.ShutdownGate) and exits, and the parent exits 0
once all have exited 0. It restarts nothing: a child that dies on its own is logged with its exit code,
the others are drained, and the parent exits with that code (1 if a signal killed it), so the process
manager (systemd, Docker, PM2) restarts the whole set and says so. A child knows its place from
``CAAS_CLUSTER_CHILD`` ("index/count/fd").

What each child carries (``child_plan``): an equal share of the configured connection budget,
``floor(pool_max / N)`` (at least 1) for the core pool and the same for the Supabase pool, so N children
hold at most what one process would; the background workers in child 0 only (as many loops as one
process runs, so ``--processes`` adds serving capacity without multiplying the pollers; other processes
may still run ``caas worker``, as the queues claim with SKIP LOCKED); registration in child 0 only (one
listing per address, not deactivated by a sibling's stop). See docs/architecture.md, "Many processes".

``/metrics`` of any child is the sum over all children: the parent gives them one directory for
prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``: the operator's, emptied at start,
else a temporary one removed at the end, or by the next parent after a SIGKILL) and forgets a child's
live gauges when it exits.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from prometheus_client import multiprocess

from mcp_servers.config import ConfigError, Settings
from mcp_servers.processes import ProcessPlan

__all__ = [
    "CHILD_ENV",
    "Slot",
    "address",
    "child_plan",
    "child_slot",
    "listening_socket",
    "process_count",
    "run_parent",
    "supervise",
]

log = logging.getLogger("caas")

CHILD_ENV = "CAAS_CLUSTER_CHILD"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_MAX_PROCESSES = 64


@dataclass(frozen=True, slots=True)
class Slot:
    """This child's place: ``index`` of ``count``, serving the inherited socket ``fd``."""

    index: int
    count: int
    fd: int


def child_slot() -> Slot | None:
    """This process's slot when a ``--processes`` parent started it, else None."""
    raw = os.environ.get(CHILD_ENV)
    if not raw:
        return None
    index, count, fd = (int(part) for part in raw.split("/"))
    return Slot(index, count, fd)


def process_count(text: str) -> int:
    """``--processes``: 1 to 64."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= _MAX_PROCESSES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes from 1 to {_MAX_PROCESSES}")
    return int(text)


def child_plan(plan: ProcessPlan, slot: Slot | None) -> ProcessPlan:
    """``plan`` for child ``slot``: its share of the pools, workers only in child 0."""
    if slot is None:
        return plan
    core = max(1, plan.pool_max // slot.count)
    supabase = max(1, plan.supabase_pool_max // slot.count)
    return dataclasses.replace(
        plan,
        pool_min=min(plan.pool_min, core),
        pool_max=core,
        supabase_pool_min=min(plan.supabase_pool_min, supabase),
        supabase_pool_max=supabase,
        workers=plan.workers and slot.index == 0,
    )


def listening_socket(slot: Slot) -> socket.socket:
    """The socket the parent bound for this child (already listening)."""
    return socket.socket(fileno=slot.fd)


def _bind(host: str, port: int, count: int) -> list[socket.socket]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host.strip("[]"), port))
            sock.listen(2048)  # uvicorn's default backlog
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _end_with_parent() -> None:
    """In the child before it runs: SIGTERM (a drain) when the parent dies, even by SIGKILL, so that no
    child keeps serving unsupervised (Linux; elsewhere the children outlive a killed parent)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def shared_secrets(settings: Settings) -> dict[str, str]:
    """The webhook secrets every child is given, made once for them all when none is set: each child
    runs its own in-process sandbox, and a webhook from child A's sandbox may arrive at child B, so
    every child must sign and check with the same ones."""
    if settings.onasis_gateway_url is not None:
        return {}
    names = ("PAYSTACK_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
    return {name: os.environ.get(name) or secrets.token_hex(32) for name in names}


def _child_env(slot: Slot, metrics_dir: str, shared: dict[str, str]) -> dict[str, str]:
    # prometheus_client reads METRICS_ENV when imported: it must be in the child's environment at start.
    return {
        **os.environ,
        **shared,
        CHILD_ENV: f"{slot.index}/{slot.count}/{slot.fd}",
        METRICS_ENV: metrics_dir,
    }


def address(
    settings: Settings, service: str | None, host: str | None, port: int | None, front: str | None
) -> tuple[str, int]:
    """The address ``caas serve`` listens on: the flags, else CAAS_HOST/CAAS_PORT, else the plan's port."""
    from mcp_servers.composition import PLAN_PORTS
    from mcp_servers.fronts import FRONTS

    bind_port = port or settings.port or (FRONTS[front].port if front else PLAN_PORTS[service or "caas"])
    return host or settings.host, bind_port


def run_parent(settings: Settings, args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``caas serve --processes N`` (N > 1): this process binds the port and supervises N children."""
    if args.stdio:
        raise ConfigError("--processes serves HTTP; it cannot be combined with --stdio")
    if settings.http_sessions:
        # A 2025-11-25 session lives in the process that opened it, and fastmcp's client does not open a
        # new one on the 404 a sibling answers (docs/architecture.md, "Many processes").
        raise ConfigError(
            "--processes > 1 cannot keep CAAS_HTTP_SESSIONS=true sessions (each lives in one process); "
            "run one process per port behind nginx (deploy/nginx-integrated.conf routes a session to its "
            "replica) or leave CAAS_HTTP_SESSIONS off"
        )
    host, port = address(settings, args.service, args.host, args.port, args.front)
    given = os.environ.get(METRICS_ENV)
    metrics_dir = given or _metrics_dir()
    try:
        if given:
            Path(given).mkdir(parents=True, exist_ok=True)
            # Files of an earlier run would add its counters to this one's (and its pids' live gauges).
            for stale in Path(given).glob("*.db"):
                stale.unlink()
        return supervise(settings, argv, host, port, args.processes, metrics_dir)
    finally:
        if not given:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir() -> str:
    """A new temporary directory for the children's metrics, named after this parent; those of parents
    that no longer run (killed before they could remove theirs) are removed first."""
    prefix = "caas-metrics-"
    for stale in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = stale.name.removeprefix(prefix).split("-")[0]
        if pid.isascii() and pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process (and directory): not ours to remove
        return True
    return True


def supervise(
    settings: Settings, argv: Sequence[str], host: str, port: int, count: int, metrics_dir: str
) -> int:
    """Binds ``host:port`` ``count`` times, runs ``caas ARGV`` as ``count`` children sharing
    ``metrics_dir`` for their metrics, forwards stop signals, and returns 0 after a clean stop, 5 when
    it cannot bind, and when a child died on its own, that child's exit code (1 for a signal)."""
    try:
        sockets = _bind(host, port, count)
    except OSError as exc:
        log.error("caas: cannot listen on %s:%d: %s", host, port, exc.strerror or exc)
        return 5
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def forward(sig: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    shared = shared_secrets(settings)
    for index, sock in enumerate(sockets):
        env = _child_env(Slot(index, count, sock.fileno()), metrics_dir, shared)
        cmd = [sys.executable, "-m", "mcp_servers.cli", *argv]
        children.append(
            subprocess.Popen(cmd, env=env, pass_fds=(sock.fileno(),), preexec_fn=_end_with_parent)  # noqa: S603
        )
    for sock in sockets:
        # The children hold them now; a child that dies takes its socket with it, so the kernel stops
        # sending it connections.
        sock.close()
    log.info("serving on %s:%d with %d processes: pids %s", host, port, count, [c.pid for c in children])
    # A child that exited has its counters kept (they stay in the sums: no reset) and its live gauges
    # (the worker loops it ran) dropped.
    return _watch(
        children, lambda: stopping, forward, lambda pid: multiprocess.mark_process_dead(pid, metrics_dir)
    )


def _watch(
    children: list[subprocess.Popen[bytes]],
    stopping: Callable[[], bool],
    forward: Callable[[int, FrameType | None], None],
    exited: Callable[[int], None],
) -> int:
    died: int | None = None
    gone: set[int] = set()
    # Every child polled each round (a list, not any()'s short cut): one that died behind a live one is
    # seen, and reaped.
    while [child.poll() for child in children].count(None):
        for child in children:
            if child.returncode is not None and child.pid not in gone:
                gone.add(child.pid)
                exited(child.pid)
        if died is None and not stopping():
            for index, child in enumerate(children):
                if child.returncode is not None:
                    log.error(
                        "caas: process %d (pid %d) exited with code %s; stopping the other processes, "
                        "nothing is restarted",
                        index,
                        child.pid,
                        child.returncode,
                    )
                    # Its own code says why (4: the database, 3: a migration); a signal's is negative.
                    died = child.returncode if child.returncode > 0 else 1
                    forward(signal.SIGTERM, None)
                    break
        time.sleep(0.1)
    for child in children:
        if child.pid not in gone:
            exited(child.pid)
    failed = [c for c in children if c.returncode != 0]
    for child in failed:
        log.error("caas: process pid %d exited with code %s", child.pid, child.returncode)
    if died is None and failed and not stopping():  # all of them ended between two looks
        log.error("caas: every process exited on its own; nothing is restarted")
        died = max(failed[0].returncode, 1)
    return died if died is not None else (1 if failed else 0)
