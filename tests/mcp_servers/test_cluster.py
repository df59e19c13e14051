"""``caas serve --processes N`` (issue 14, part 3): one port served by N real processes, each answering
tool calls in both protocol eras, drained together on SIGTERM, and stopped together when one dies."""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import psutil
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.server.request_state import InvalidRequestState
from prometheus_client.parser import text_string_to_metric_families

from mcp_servers.cluster import Slot, _metrics_dir, child_plan
from mcp_servers.config import load_settings
from mcp_servers.processes import composed_plan, service_plan
from tests.helpers.caas_process import run, serve_process
from tests.helpers.common import SERVICE_KEY, caas_env, free_port
from tests.helpers.pgbouncer import core_env

pytestmark = pytest.mark.subprocess

LIST = "credit_list_applications"
WEBHOOK_SECRETS = ("PAYSTACK_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")


@asynccontextmanager
async def two_processes(
    fresh_database: Any, tmp_path: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    env = caas_env(
        CAAS_DATA_DIR=str(tmp_path / "data"),
        **core_env(await fresh_database()),
        SUPABASE_DB_URL=await fresh_database(),
        CAAS_SERVICE_API_KEY=SERVICE_KEY,
        CAAS_REGISTRY="false",
        CAAS_SANDBOX="true",
    )
    for name in WEBHOOK_SECRETS:  # none set: the parent makes them
        env.pop(name, None)
    args = ("--processes", "2")
    async with serve_process(args, env, tmp_path, errors=asyncio.subprocess.PIPE) as served:
        yield served


def children(proc: asyncio.subprocess.Process) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children()


async def calls_by_process(port: int, mode: str, clients: int = 12) -> dict[str, int]:
    """``clients`` fastmcp Clients one after another, each on new connections, each calling a tool
    three times; the calls each process (X-CaaS-Process) answered."""
    served: dict[str, int] = {}

    async def seen(response: httpx2.Response) -> None:
        if response.request.method == "POST" and b"tools/call" in response.request.content:
            index = response.headers.get("x-caas-process", "none")
            served[index] = served.get(index, 0) + 1

    def factory(**kwargs: Any) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(**kwargs, event_hooks={"response": [seen]})

    for _ in range(clients):
        transport = StreamableHttpTransport(
            f"http://127.0.0.1:{port}/mcp", auth=SERVICE_KEY, httpx_client_factory=factory
        )
        async with Client(transport, mode=mode) as client:  # type: ignore[arg-type]
            for _ in range(3):
                result = await client.call_tool(LIST, {"limit": 1})
                assert "items" in result.structured_content
        if set(served) == {"0", "1"} and min(served.values()) >= 3:
            break
    return served


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_both_processes_answer_tool_calls_on_one_port_and_sigterm_drains_them_to_exit_0(
    fresh_database: Any, tmp_path: Path, mode: str
) -> None:
    async with two_processes(fresh_database, tmp_path) as (proc, port):
        kids = children(proc)
        assert len(kids) == 2
        pids = set()
        for _ in range(40):
            async with httpx.AsyncClient() as http:  # a new connection each time
                pids.add((await http.get(f"http://127.0.0.1:{port}/health")).json()["pid"])
        assert pids == {kid.pid for kid in kids}, "both children answer /health on the one port"
        # A probe's find: each child made its own webhook secrets, so a payout's webhook that reached
        # the other child was refused (401) for good. One set, made by the parent, for both.
        secrets = [{k: kid.environ().get(k) for k in WEBHOOK_SECRETS} for kid in kids]
        assert secrets[0] == secrets[1] and all(secrets[0].values()), "one pair of webhook secrets"
        served = await calls_by_process(port, mode)
        assert set(served) == {"0", "1"}, f"tool calls by process: {served}"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        assert not any(kid.is_running() and kid.status() != psutil.STATUS_ZOMBIE for kid in kids)
        assert proc.stderr is not None
        assert b"Traceback" not in await proc.stderr.read()


def list_calls_counted(exposition: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "caas_tool_call_seconds_count" and LIST.endswith(sample.labels["tool"])
    )


async def test_metrics_from_the_shared_port_sum_the_calls_every_child_answered(
    fresh_database: Any, tmp_path: Path
) -> None:
    async with two_processes(fresh_database, tmp_path) as (proc, port):
        shared = {kid.environ()["PROMETHEUS_MULTIPROC_DIR"] for kid in children(proc)}
        assert len(shared) == 1, "one directory for the whole set"
        served = await calls_by_process(port, "2026-07-28")
        assert set(served) == {"0", "1"}, f"tool calls by process: {served}"
        answered: dict[str, str] = {}
        for _ in range(40):
            async with httpx.AsyncClient() as http:  # a new connection each time: either child
                response = await http.get(f"http://127.0.0.1:{port}/metrics")
                answered[response.headers["x-caas-process"]] = response.text
            if len(answered) == 2:
                break
        assert set(answered) == {"0", "1"}, "both children answer /metrics on the one port"
        for index, exposition in answered.items():
            assert list_calls_counted(exposition) == sum(served.values()), f"process {index}: {served}"
            # Only child 0 runs the workers; the gauge of live processes' loops says so in both answers.
            assert 'caas_worker_loops{loop="outbox"} 1.0' in exposition
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        assert not await anyio.Path(shared.pop()).exists(), "the parent's temporary directory is removed"


def test_a_parent_killed_before_it_removed_its_metrics_directory_has_it_removed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess
    import sys
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    stale = tmp_path / f"caas-metrics-{ended.pid}-abc"
    running = tmp_path / f"caas-metrics-{os.getpid()}-def"
    for directory in (stale, running):
        directory.mkdir()
        (directory / "counter_1.db").write_bytes(b"")
    made = Path(_metrics_dir())
    assert not stale.exists(), "the directory of a parent that no longer runs is removed"
    assert running.exists(), "a running parent's directory is left alone"
    assert made.name.startswith(f"caas-metrics-{os.getpid()}-") and made.parent == tmp_path


@pytest.mark.parametrize("which", [0, 1])
async def test_a_child_that_dies_stops_its_sibling_and_the_parent_exits_1(
    fresh_database: Any, tmp_path: Path, which: int
) -> None:
    # A probe's find: the parent looked only as far as the first child still running, so the second
    # child's death went unseen (a zombie, the set at half strength, nothing logged).
    async with two_processes(fresh_database, tmp_path) as (proc, port):
        kids = children(proc)
        dead, sibling = kids[which], kids[1 - which]
        dead.kill()
        assert await asyncio.wait_for(proc.wait(), 60) == 1  # nothing restarted behind the operator's back
        assert not sibling.is_running() or sibling.status() == psutil.STATUS_ZOMBIE
        assert proc.stderr is not None
        said = (await proc.stderr.read()).decode()
        assert f"(pid {dead.pid}) exited with code -9" in said
        assert "nothing is restarted" in said
        with pytest.raises(httpx.TransportError):
            async with httpx.AsyncClient() as http:
                await http.get(f"http://127.0.0.1:{port}/health")


async def test_children_drain_and_exit_when_the_parent_is_killed(fresh_database: Any, tmp_path: Path) -> None:
    async with two_processes(fresh_database, tmp_path) as (proc, port):
        kids = children(proc)
        metrics = kids[0].environ()["PROMETHEUS_MULTIPROC_DIR"]
        proc.kill()  # no chance to forward anything: the kernel tells the children
        await proc.wait()
        _, alive = await asyncio.to_thread(psutil.wait_procs, kids, 60)
        assert not alive, "children kept serving without their parent"
        # Left behind (the next parent would remove it): not in this machine's /tmp after the test.
        await asyncio.to_thread(shutil.rmtree, metrics)
        with pytest.raises(httpx.TransportError):
            async with httpx.AsyncClient() as http:
                await http.get(f"http://127.0.0.1:{port}/health")


async def test_children_that_cannot_start_end_the_parent_with_their_own_exit_code(tmp_path: Path) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    env = caas_env(
        CAAS_DATA_DIR=str(tmp_path / "data"),
        NEON_DATABASE_URL=closed,
        SUPABASE_DB_URL=closed,
        CAAS_SANDBOX="true",
        CAAS_REGISTRY="false",
    )
    code, _, err = await run("serve", "--port", str(free_port()), "--processes", "2", env=env, cwd=tmp_path)
    assert code == 4, err  # "cannot reach the database", as one process would say, not a bare 1
    assert "cannot reach the database" in err
    assert "nothing is restarted" in err


async def test_sessions_that_live_in_one_process_are_refused_with_several(tmp_path: Path) -> None:
    env = caas_env(CAAS_DATA_DIR=str(tmp_path / "data"), CAAS_HTTP_SESSIONS="true", CAAS_SANDBOX="true")
    code, _, err = await run("serve", "--processes", "2", env=env, cwd=tmp_path)
    assert code == 2
    assert "CAAS_HTTP_SESSIONS" in err and "nginx" in err


def test_children_share_one_connection_budget_and_only_the_first_runs_the_workers() -> None:
    settings = load_settings()
    for plan in (composed_plan(settings, pool_max=16), service_plan(settings, "risk", workers=True)):
        for count in (1, 2, 3, 4, 8):
            shares = [child_plan(plan, Slot(i, count, fd=3)) for i in range(count)]
            if plan.pool_max >= count:
                assert sum(s.pool_max for s in shares) <= plan.pool_max
                assert sum(s.supabase_pool_max for s in shares) <= max(plan.supabase_pool_max, count)
            assert all(1 <= s.pool_min <= s.pool_max for s in shares if plan.pool_min)
            assert [s.workers for s in shares] == [plan.workers] + [False] * (count - 1)
    assert child_plan(composed_plan(settings, pool_max=16), Slot(1, 2, 3)).pool_max == 8
    plan = composed_plan(settings)
    assert child_plan(plan, None) is plan


def test_a_confirmation_state_sealed_by_one_process_opens_in_another_and_not_under_other_keys(
    tmp_path: Path,
) -> None:
    """A 2026-07-28 confirmation's requestState comes back on a retry that may reach a sibling process."""
    import base64

    from mcp_servers.composition import build_server
    from mcp_servers.runtime import Runtime

    def codec(**keys: str) -> Any:
        settings = load_settings(data_dir=tmp_path, **keys)
        security = build_server(Runtime(settings))._request_state_security
        assert security is not None, "a random key per process would fail the sibling's retry"
        return security.codec

    first, sibling = codec(), codec()
    sealed = first.seal(b'{"confirm": "loan-1"}')
    assert sibling.unseal(sealed) == b'{"confirm": "loan-1"}'
    other = codec(pii_index_key=base64.b64encode(b"o" * 32).decode())
    with pytest.raises(InvalidRequestState):
        other.unseal(sealed)
