"""Traces (issue 12, part 6): a real ``caas serve`` with ``OTEL_EXPORTER_OTLP_ENDPOINT`` exports its spans
over OTLP/HTTP to a receiver in this test, which decodes them with opentelemetry-proto. One tool call
over Streamable HTTP carrying the caller's W3C ``traceparent`` makes one span tree: the tool's span in
the caller's trace, asyncpg spans under it, and an httpx span for the gateway call, whose request
carries the same trace on to the gateway; the call's log line names the trace."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcp_servers.config import Settings
from mcp_servers.platform.tracing import configure_tracing, tracing_requested
from mcp_servers.runtime import Runtime
from tests.helpers.common import SERVICE_KEY, caas_command, caas_env, database_env, free_port, serving
from tests.helpers.payments import VERIFY, disburse, pending_loan, send

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


class Collector:
    """An OTLP/HTTP trace receiver (``POST /v1/traces``, protobuf) and a stand-in Onasis gateway that
    records the headers of each request it gets."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.gateway_headers: list[dict[str, str]] = []

    async def traces(self, request: Request) -> Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.body())
        for resource in export.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        {
                            "service": service,
                            "scope": scope.scope.name,
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_id": span.parent_span_id.hex(),
                            "kind": span.kind,
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                        }
                    )
        return Response(b"", media_type="application/x-protobuf")

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def verify(self, request: Request) -> Response:
        self.gateway_headers.append(dict(request.headers))
        return JSONResponse({"success": False, "code": "not_found"}, status_code=404)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/traces", self.traces, methods=["POST"]),
                Route("/health", self.health),
                Route("/api/v1/payments/verify", self.verify, methods=["POST"]),
            ]
        )


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


def spawn(env: dict[str, str], cwd: Path, log: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*caas_command(), "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def tail_lines(log: Path) -> list[str]:
    return log.read_text().splitlines()


def tail(log: Path) -> str:
    return log.read_text()[-2000:]


async def start(env: dict[str, str], cwd: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = spawn(env, cwd, log, port)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient(base_url=base) as http:
        while True:
            assert proc.poll() is None, f"caas serve exited: {tail(log)}"
            assert time.monotonic() < deadline, "caas serve not ready within 90 s"
            try:
                if (await http.get("/ready")).status_code == 200:
                    return proc, f"{base}/mcp"
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def traced_env(settings: Settings, tmp_path: Path, collector_url: str, **more: str) -> dict[str, str]:
    """A caas process on the test's databases, exporting its spans to the collector."""
    assert settings.database_url is not None and settings.supabase_db_url is not None
    return caas_env(
        **database_env(settings),
        CAAS_DATA_DIR=str(tmp_path / "data"),
        CAAS_REGISTRY="false",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector_url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        **more,
    )


def descends(span: dict[str, Any], ancestor: str, by_id: dict[str, dict[str, Any]]) -> bool:
    parent = span["parent_id"]
    while parent:
        if parent == ancestor:
            return True
        parent = by_id[parent]["parent_id"] if parent in by_id else ""
    return False


async def test_one_tool_call_is_one_span_tree_in_the_callers_trace_down_to_queries_and_the_gateway(
    settings: Settings,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan)
    await send(runtime.deps.payments, payment["id"])  # sent to a vendor: verify will ask the gateway
    collector = Collector()
    async with serving(collector.app()) as collector_url:
        env = traced_env(
            settings,
            tmp_path,
            collector_url,
            ONASIS_GATEWAY_URL=collector_url,
            CAAS_SERVICE_API_KEY=SERVICE_KEY,
            CAAS_TOOLSETS="all",
            CAAS_WORKERS="false",
        )
        log = tmp_path / "serve.log"
        proc, url = await start(env, tmp_path, log)
        try:
            caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
            headers = {
                "Authorization": f"Bearer {SERVICE_KEY}",
                "traceparent": f"00-{caller_trace}-{caller_span}-01",
            }
            async with Client(StreamableHttpTransport(url, headers=headers)) as mcp:
                result = await mcp.call_tool(VERIFY, {"payment": payment["id"]})
            assert result.structured_content is not None
            assert result.structured_content["verification"]["outcome"] == "ignored"  # the gateway's 404
        finally:
            stop(proc)  # the process exports what it still holds as it stops
    # Nothing outside a request starts a trace of its own: no query or HTTP call without a parent (the
    # gateway probe at start-up, /ready's queries), and no probe or scrape is a trace.
    orphans = [s for s in collector.spans if s["kind"] == Span.SPAN_KIND_CLIENT and not s["parent_id"]]
    assert orphans == []
    assert not [s for s in collector.spans if s["name"].endswith(("/ready", "/health", "/metrics"))]
    spans = [s for s in collector.spans if s["trace_id"] == caller_trace]
    by_id = {s["span_id"]: s for s in spans}
    [tool] = [s for s in spans if s["name"] == f"caas.tool {VERIFY}"]
    assert tool["service"] == "caas"
    assert tool["attributes"]["caas.tool"] == VERIFY
    assert (tool["attributes"]["caas.role"], tool["attributes"]["caas.outcome"]) == ("service", "ok")
    # The request's spans hang from the caller's span: the HTTP request, then FastMCP's, then the tool's.
    assert descends(tool, caller_span, by_id)
    queries = [s for s in spans if s["scope"].endswith("asyncpg") and descends(s, tool["span_id"], by_id)]
    assert queries, [s["name"] for s in spans]
    assert all(s["attributes"].get("db.system") == "postgresql" for s in queries)
    assert any("FROM caas_core.payments" in str(s["attributes"].get("db.statement")) for s in queries)
    [gateway] = [s for s in spans if s["scope"].endswith("httpx") and descends(s, tool["span_id"], by_id)]
    assert str(gateway["attributes"].get("url.full", gateway["attributes"].get("http.url"))).endswith(
        "/api/v1/payments/verify"
    )
    # The gateway got the caller's trace, with the httpx span as the parent.
    [sent] = collector.gateway_headers
    assert sent["traceparent"].split("-")[1:3] == [caller_trace, gateway["span_id"]]
    # The call's log line names the trace and the tool's span.
    lines = [json.loads(line) for line in tail_lines(log) if line.startswith("{")]
    [call_line] = [line for line in lines if line["logger"] == "caas.calls" and line["tool"] == VERIFY]
    assert (call_line["trace_id"], call_line["span_id"]) == (caller_trace, tool["span_id"])


def test_tracing_is_off_unless_the_environment_asks_and_then_nothing_of_the_sdk_is_loaded() -> None:
    assert not tracing_requested({})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    assert not tracing_requested({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "otlp"})
    # A caas serve without OTEL_* variables: the SDK, the exporter and the instrumentation stay unloaded.
    probe = (
        "import sys; from mcp_servers.platform.tracing import configure_tracing; "
        "assert configure_tracing('serve', None) is False; "
        "import mcp_servers.cli, mcp_servers.composition; "
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter', "
        "'opentelemetry.instrumentation'))]; print(loaded)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=caas_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_tracing_fastmcp_makes_no_spans_of_its_own_and_only_propagates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fastmcp
    from fastmcp.telemetry import native_spans_enabled, telemetry_mode

    monkeypatch.setattr(fastmcp.settings, "telemetry_mode", "native")
    assert configure_tracing("serve", None, {}) is False
    assert telemetry_mode() == "propagation_only" and not native_spans_enabled()
    # An operator's own choice stays, as does the mode of a command that serves no calls.
    monkeypatch.setattr(fastmcp.settings, "telemetry_mode", "native")
    assert configure_tracing("serve", None, {"FASTMCP_TELEMETRY_MODE": "native"}) is False
    assert configure_tracing("db", None, {}) is False
    assert telemetry_mode() == "native"


def test_an_exporter_or_protocol_it_cannot_serve_is_a_configuration_error() -> None:
    from mcp_servers.config import ConfigError

    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER"):
        configure_tracing("serve", None, {"OTEL_TRACES_EXPORTER": "jaeger"})
    with pytest.raises(ConfigError, match="http/protobuf"):
        configure_tracing(
            "serve", None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
        )


async def test_a_worker_traces_each_job_with_its_queries_and_gateway_call_under_it(
    settings: Settings,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    await disburse(client, loan)  # a payout for the payments queue
    assert runtime.sandbox is not None
    collector = Collector()
    async with serving(collector.app()) as collector_url:
        env = traced_env(settings, tmp_path, collector_url, ONASIS_GATEWAY_URL=runtime.sandbox.gateway_url)
        done = await asyncio.to_thread(
            subprocess.run,
            [*caas_command(), "worker", "--once"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    by_id = {s["span_id"]: s for s in collector.spans}
    jobs = [s for s in collector.spans if s["name"] == "caas.job payments"]
    assert jobs and all(s["service"] == "caas-worker" and not s["parent_id"] for s in jobs)
    transfers = [
        s
        for s in collector.spans
        if s["scope"].endswith("httpx") and str(s["attributes"].get("http.url")).endswith("/transfer")
    ]
    assert transfers and all(any(descends(t, j["span_id"], by_id) for j in jobs) for t in transfers)
    # The jobs that paid out ran their queries under their own span too. (Not simply the first job's:
    # the worker drains the whole queue, which may hold an earlier test's job that failed before a query.)
    payers = [j for j in jobs if any(descends(t, j["span_id"], by_id) for t in transfers)]
    queries = [s for s in collector.spans if s["scope"].endswith("asyncpg")]
    assert payers and all(any(descends(q, j["span_id"], by_id) for q in queries) for j in payers)
