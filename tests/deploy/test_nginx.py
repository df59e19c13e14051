"""deploy/nginx-integrated.conf and deploy/nginx.conf with the real nginx (issue 12, part 4).

``nginx -t`` checks the shipped files as they are, their upstream names resolved in a private
/etc/hosts. Then the integrated file runs, unchanged, in front of two replicas of ``caas serve`` and a
``caas serve --service payments``, with a test's own ``caas/upstreams.conf`` and ``caas/listen.conf``
(the two files the shipped one includes for where servers are and where nginx listens): 2025-11-25
sessions stay on the replica that opened them, stateless calls spread over both, webhooks reach payments
under a per-client rate limit, and the client address and request id nginx sets (overwriting what the
client sent) are the ones in the audit row.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client

from mcp_servers.fronts import FRONT_PORTS
from tests.helpers.caas_process import wait_ready
from tests.helpers.common import JWT_ISSUER, JWT_SECRET, application, free_port, make_jwt
from tests.helpers.deploy import DEPLOY, caas_serve, program, with_hosts

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

PAYSTACK_SECRET = "sk_test_nginx_" + uuid.uuid4().hex
UPSTREAM = re.compile(r"^\s*upstream\s+(\w+)\s*\{", re.MULTILINE)
SERVER = re.compile(r"^\s*server\s+([\w.-]+):\d+", re.MULTILINE)
SERVER_PORT = re.compile(r"^\s*server\s+[\w.-]+:(\d+)", re.MULTILINE)


def upstream_blocks() -> dict[str, str]:
    """Each upstream of deploy/nginx/upstreams.conf with the text of its block."""
    text = (DEPLOY / "nginx" / "upstreams.conf").read_text()
    blocks = re.split(r"^\s*upstream\s+", text, flags=re.MULTILINE)[1:]
    return {block.split()[0]: block.split("}")[0] for block in blocks}


def shipped_upstreams() -> dict[str, list[str]]:
    """Each upstream of deploy/nginx/upstreams.conf with the host names of its servers."""
    return {name: SERVER.findall(block) for name, block in upstream_blocks().items()}


def nginx_t(conf: Path, hosts: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    command = [program("nginx"), "-t", "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"]
    command += ["-g", f"pid {workdir / 'nginx.pid'};"]
    return subprocess.run(with_hosts(command, hosts, workdir), capture_output=True, text=True, timeout=60)


def test_the_shipped_integrated_config_passes_nginx_t(tmp_path: Path) -> None:
    prefix = tmp_path / "etc"
    prefix.mkdir()
    (prefix / "nginx.conf").symlink_to(DEPLOY / "nginx-integrated.conf")
    (prefix / "caas").symlink_to(DEPLOY / "nginx")
    names = {name for servers in shipped_upstreams().values() for name in servers}
    done = nginx_t(prefix / "nginx.conf", dict.fromkeys(names, "127.0.0.1"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_the_shipped_compose_config_passes_nginx_t(tmp_path: Path) -> None:
    done = nginx_t(DEPLOY / "nginx.conf", {"caas": "127.0.0.1"}, tmp_path)
    assert done.returncode == 0, done.stderr


def test_every_caas_service_and_front_has_an_upstream_and_a_route() -> None:
    upstreams = shipped_upstreams()
    conf = (DEPLOY / "nginx-integrated.conf").read_text()
    routed = re.search(r"\^/\(\?<caas_service>([a-z|]+)\)/mcp\$", conf)
    assert routed is not None
    services = set(routed.group(1).split("|"))
    fronts = {f"caas_front_{front}" for front in FRONT_PORTS}
    others = {"caas_core", "onasis_gateway", "onasis_mcp"}
    assert {f"caas_{s}" for s in services} | fronts | others == set(upstreams)
    assert all(len(servers) == 1 for servers in upstreams.values())
    # Each front's upstream is its process on the front's plan port (compose and pm2 use the same).
    ports = {name: SERVER_PORT.findall(text) for name, text in upstream_blocks().items() if name in fronts}
    assert ports == {f"caas_front_{front}": [str(port)] for front, port in FRONT_PORTS.items()}
    assert set(re.findall(r"proxy_pass http://(caas_front_\w+);", conf)) == fronts


@dataclass
class Stack:
    url: str
    replicas: dict[str, int]  # "a"/"b" -> port
    payments: int
    access_log: Path
    core_dsn: str

    def log(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.access_log.read_text().splitlines() if line.startswith("{")]

    def upstream_of(self, request_id: str) -> str:
        # nginx writes a request's line once it is done with it, which may be just after the client
        # has its answer: wait a little for it.
        for _ in range(50):
            found = [line["upstream"] for line in self.log() if line["request_id"] == request_id]
            if found:
                upstream: str = found[0]
                return upstream
            time.sleep(0.1)
        raise AssertionError(f"nginx logged no request {request_id}")


def upstreams_conf(stack_ports: dict[str, list[int]]) -> str:
    return "".join(
        f"upstream {name} {{\n  hash $caas_affinity consistent;\n"
        + "".join(f"  server 127.0.0.1:{port};\n" for port in ports)
        + "}\n"
        for name, ports in stack_ports.items()
    )


@contextlib.asynccontextmanager
async def nginx(prefix: Path, upstreams: dict[str, list[int]]) -> AsyncIterator[tuple[str, Path]]:
    """The shipped nginx-integrated.conf with this test's upstreams, listening on a free loopback port."""
    port = free_port()
    (prefix / "caas").mkdir(parents=True)
    (prefix / "nginx.conf").symlink_to(DEPLOY / "nginx-integrated.conf")
    (prefix / "caas" / "listen.conf").write_text(f"listen 127.0.0.1:{port};\n")
    (prefix / "caas" / "upstreams.conf").write_text(upstreams_conf(upstreams))
    access_log = prefix / "access.log"
    command = [program("nginx"), "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    command += ["-e", str(prefix / "error.log"), "-g", f"daemon off; pid {prefix / 'nginx.pid'};"]
    with access_log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(*command, stdout=out, stderr=out)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/ready", proc, within=60)
        yield f"http://127.0.0.1:{port}", access_log
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


@pytest.fixture(scope="module")
async def stack(fresh_database: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    core = await fresh_database()
    work = tmp_path_factory.mktemp("nginx-stack")
    env = {
        "NEON_DATABASE_URL": core,
        "CAAS_SANDBOX": "true",
        "CAAS_JWT_SECRET": JWT_SECRET,
        "CAAS_JWT_ISSUER": JWT_ISSUER,
        "CAAS_HTTP_SESSIONS": "true",
        "PAYSTACK_SECRET_KEY": PAYSTACK_SECRET,
    }
    async with contextlib.AsyncExitStack() as running:
        # The first replica migrates the database; the others start on it together.
        _, a = await running.enter_async_context(caas_serve(work, "replica-a", **env))
        (_, b), (_, pay) = await asyncio.gather(
            running.enter_async_context(caas_serve(work, "replica-b", **env)),
            running.enter_async_context(caas_serve(work, "payments", "--service", "payments", **env)),
        )
        closed = free_port()  # the Onasis stack is not part of this test: nothing listens there
        ports = {name: [pay] for name in shipped_upstreams()}
        ports.update(caas_core=[a, b], onasis_gateway=[closed], onasis_mcp=[closed])
        url, access_log = await running.enter_async_context(nginx(work / "nginx", ports))
        yield Stack(url, {"a": a, "b": b}, pay, access_log, core)


async def test_a_2025_11_25_session_stays_on_the_replica_that_opened_it(stack: Stack) -> None:
    for n in range(4):
        token = make_jwt(f"nginx-legacy-{n}-{uuid.uuid4().hex[:6]}", role="borrower")
        async with Client(f"{stack.url}/mcp", auth=token, mode="legacy") as client:
            assert client.protocol_version == "2025-11-25"
            session = client.transport.get_session_id()  # type: ignore[attr-defined]
            key, _, upstream_session = (session or "").partition(".")
            assert re.fullmatch(r"[0-9a-f]{32}", key) and upstream_session, session
            filed = await client.call_tool("credit_submit_application", {"application": application()})
            got = await client.call_tool("credit_get_application", {"application": filed.data.reference})
            assert got.structured_content["id"] == str(filed.data.id)
            assert await client.list_tools()
        # Every request of the session went where its initialize went (the key is that request's id).
        opened = stack.upstream_of(key)
        followers = [line for line in stack.log() if line["affinity"] == key and line["request_id"] != key]
        assert len(followers) >= 3
        assert {line["upstream"] for line in followers} == {opened}
        assert {line["status"] for line in followers} <= {200, 202}


async def test_stateless_calls_spread_over_both_replicas(stack: Stack) -> None:
    token = make_jwt(f"nginx-modern-{uuid.uuid4().hex[:6]}", role="borrower")
    async with Client(f"{stack.url}/mcp", auth=token) as client:
        assert client.protocol_version == "2026-07-28"
        filed = await client.call_tool("credit_submit_application", {"application": application()})
        for _ in range(20):
            got = await client.call_tool("credit_get_application", {"application": filed.data.reference})
            assert got.structured_content["reference"] == filed.data.reference
    reached = {
        line["upstream"]
        for line in stack.log()
        if line["uri"] == "/mcp" and line["affinity"] == line["request_id"]
    }
    assert {f"127.0.0.1:{port}" for port in stack.replicas.values()} <= reached


def tools_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "nginx-test", "version": "1"},
    }
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": meta},
    }


async def submit_from(address: str, url: str) -> tuple[str, str, str]:
    """A borrower files an application from ``address`` with forged forwarding headers; the new
    application's id, the request id the answer carries and the forged one."""
    token = make_jwt(f"nginx-audit-{uuid.uuid4().hex[:6]}", role="borrower")
    forged = f"forged-{uuid.uuid4().hex[:8]}"
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "credit_submit_application",
        "X-Request-ID": forged,
        "X-Forwarded-For": "203.0.113.9",
        "X-Real-IP": "203.0.113.9",
    }
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport, timeout=60) as http:
        body = tools_call("credit_submit_application", {"application": application()})
        response = await http.post(url, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["result"]["structuredContent"]["id"], response.headers["x-request-id"], forged


async def audit_of(stack: Stack, object_id: str) -> tuple[str, str]:
    conn = await asyncpg.connect(stack.core_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT request_id, host(client_ip) AS ip FROM caas_audit.audit_log WHERE object_id = $1",
            object_id,
        )
    finally:
        await conn.close()
    assert row is not None
    return row["request_id"], row["ip"]


async def test_the_audit_row_keeps_the_client_address_and_request_id_nginx_set(stack: Stack) -> None:
    # The client comes from 127.0.0.2; nginx reaches the replicas from 127.0.0.1, a trusted proxy.
    object_id, request_id, forged = await submit_from("127.0.0.2", f"{stack.url}/mcp")
    assert re.fullmatch(r"[0-9a-f]{32}", request_id) and request_id != forged  # nginx's own
    assert await audit_of(stack, object_id) == (request_id, "127.0.0.2")


async def test_forwarding_headers_from_a_peer_that_is_not_a_trusted_proxy_are_ignored(stack: Stack) -> None:
    # Straight to a replica from 127.0.0.2, which CAAS_TRUSTED_PROXIES (127.0.0.1) does not name.
    object_id, request_id, forged = await submit_from(
        "127.0.0.2", f"http://127.0.0.1:{stack.replicas['a']}/mcp"
    )
    assert request_id == forged  # a usable caller id is kept when no proxy set one
    assert await audit_of(stack, object_id) == (forged, "127.0.0.2")


def paystack(body: bytes, secret: str = PAYSTACK_SECRET) -> dict[str, str]:
    signature = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
    return {"x-paystack-signature": signature, "content-type": "application/json"}


async def test_webhooks_reach_payments_under_a_per_client_rate_limit(stack: Stack) -> None:
    event = {
        "event": "charge.success",
        "data": {"id": uuid.uuid4().hex, "reference": "not-ours", "amount": 100, "currency": "NGN"},
    }
    body = json.dumps(event).encode()
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
        signed = await http.post("/webhooks/paystack", content=body, headers=paystack(body))
        assert signed.status_code == 200, signed.text
        assert signed.json() == {"status": "processed", "outcome": "ignored"}
        assert stack.upstream_of(signed.headers["x-request-id"]) == f"127.0.0.1:{stack.payments}"
        bad = paystack(body, "not-the-secret")
        answers = await asyncio.gather(
            *(http.post("/webhooks/paystack", content=body, headers=bad) for _ in range(150))
        )
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) == {401, 429}, set(statuses)  # refused by payments, or by nginx's limit


async def test_each_service_has_its_own_mcp_path_and_metrics_stay_inside(stack: Stack) -> None:
    token = make_jwt(f"nginx-op-{uuid.uuid4().hex[:6]}", role="operator")
    async with Client(f"{stack.url}/payments/mcp", auth=token) as client:
        names = {tool.name for tool in await client.list_tools()}
    assert "get_payment" in names and not any(name.startswith("credit_") for name in names)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/ready")).status_code == 200
