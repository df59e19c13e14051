"""OpenTelemetry traces, set up once at start-up when the environment asks for them.

On when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or
``OTEL_TRACES_EXPORTER`` is set (``none`` and ``OTEL_SDK_DISABLED=true`` keep it off). Then every tool
call is a span (``caas.tool <name>`` with the tool, role, request id and outcome), every asyncpg query
and httpx request a child span (the instrumentation packages), the W3C ``traceparent`` of the HTTP
caller is the parent of the request's spans, httpx sends it on (the gateway sees the caller's trace),
and each log line carries the trace and span ids. Off, nothing of the SDK, the exporter or the
instrumentation is imported, a tool call pays one flag test, and FastMCP's own spans (no-ops without an
SDK) are not built at all: FastMCP only propagates a caller's trace context.

The standard ``OTEL_*`` variables configure the rest (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``); the exporter is
OTLP over HTTP/protobuf (``OTEL_TRACES_EXPORTER=console`` writes spans to stderr instead).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mcp_servers.config import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "ToolSpan",
    "TraceContextMiddleware",
    "configure_tracing",
    "current_ids",
    "tool_span",
    "traced_handler",
    "tracing_requested",
]

_EXPORTERS = ("otlp", "console")
# Probes and scrapes, every few seconds: a trace each would drown the requests worth reading.
_UNTRACED = frozenset({"/health", "/ready", "/metrics"})
_provider: TracerProvider | None = None


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces (the OpenTelemetry variables, as the SDK reads them)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return bool(exporter or (endpoint or "").strip())


def configure_tracing(command: str, service: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """For the long-running commands (``caas serve``, ``caas worker``): set the global tracer provider
    and instrument asyncpg and httpx, once per process, when the environment asks for traces; True
    when tracing is on. A malformed setting is a ConfigError."""
    global _provider
    env = os.environ if environ is None else environ
    if _provider is not None or command not in ("serve", "worker"):
        return _provider is not None
    if not tracing_requested(env):
        _fastmcp_spans_off(env)
        return False
    service_name = "caas-worker" if command == "worker" else "caas" if service is None else f"caas-{service}"
    exporter_name = env.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    if exporter_name not in _EXPORTERS:
        raise ConfigError(f"OTEL_TRACES_EXPORTER must be one of {', '.join(_EXPORTERS)} or none")
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol.strip() != "http/protobuf":
        raise ConfigError("OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported (port 4318)")

    from opentelemetry import trace
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter(out=sys.stderr)  # stdout belongs to the stdio transport
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the server's own name.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    # Unless OTEL_TRACES_SAMPLER says otherwise: a query or an HTTP call outside any request or job (a
    # worker polling its queue every half second, a registry heartbeat) starts no trace of its own.
    sampler = None if env.get("OTEL_TRACES_SAMPLER") else _orphan_clients_dropped()
    # The provider exports what it still holds when the process exits (its own atexit hook).
    provider = TracerProvider(resource=resource, sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _provider = provider
    return True


def _fastmcp_spans_off(env: Mapping[str, str]) -> None:
    """Without an SDK every FastMCP span is a no-op, yet building one (its attributes read the session,
    the auth context and the protocol version) cost about 1% of a tool call's CPU in the issue 14 profile.
    ``propagation_only`` makes none and still carries a caller's ``_meta`` trace context on, as
    ``native`` does; an operator's own FASTMCP_TELEMETRY_MODE is left as set."""
    if "FASTMCP_TELEMETRY_MODE" not in env:
        import fastmcp

        fastmcp.settings.telemetry_mode = "propagation_only"


def _orphan_clients_dropped() -> Any:
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_OFF,
        ALWAYS_ON,
        ParentBased,
        Sampler,
        SamplingResult,
    )
    from opentelemetry.trace import SpanKind

    class _RootsButClients(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: Any = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            chosen = ALWAYS_OFF if kind == SpanKind.CLIENT else ALWAYS_ON
            return chosen.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return "RootsButClients"

    return ParentBased(root=_RootsButClients())


def current_ids() -> tuple[str | None, str | None]:
    """The current trace and span ids as hex (for log lines); (None, None) outside a span or when off."""
    if _provider is None:
        return None, None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


class ToolSpan:
    """The span of one tool call, or nothing when tracing is off; ``outcome()`` records how it ended."""

    def __init__(self, span: Span | None) -> None:
        self._span = span

    def outcome(self, outcome: str) -> None:
        if self._span is None:
            return
        from opentelemetry.trace import StatusCode

        self._span.set_attribute("caas.outcome", outcome)
        if outcome != "ok":
            # The code only: a message may quote what the caller sent.
            self._span.set_attribute("error.type", outcome)
            self._span.set_status(StatusCode.ERROR, outcome)


@contextmanager
def tool_span(
    kind: str, name: str, role: str, request_id: str, headers: Callable[[], Mapping[str, str] | None]
) -> Iterator[ToolSpan]:
    """A span for a tool call or a resource read (``kind``): a child of the current span, or, where
    the call runs in a task that did not inherit the HTTP request's context, of the caller's
    ``traceparent`` in the request's ``headers()``."""
    if _provider is None:
        yield ToolSpan(None)
        return
    from opentelemetry import trace

    parent = None
    if not trace.get_current_span().get_span_context().is_valid:
        parent = caller_context(headers() or {})
    attributes = {f"caas.{kind}": name, "caas.role": role, "caas.request_id": request_id}
    tracer = trace.get_tracer("caas")
    with tracer.start_as_current_span(
        f"caas.{kind} {name}", context=parent, attributes=attributes, record_exception=False
    ) as span:
        yield ToolSpan(span)


def traced_handler(queue: str, handler: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
    """``handler`` (a queue's, given a job), each job in a span ``caas.job <queue>`` with its event type
    and id; ``handler`` itself when tracing is off."""
    if _provider is None:
        return handler
    from opentelemetry import trace

    tracer = trace.get_tracer("caas")

    async def traced(job: Any) -> None:
        attributes = {"caas.queue": queue, "caas.event_type": job.event_type, "caas.job_id": job.id}
        with tracer.start_as_current_span(f"caas.job {queue}", attributes=attributes):
            await handler(job)

    return traced


def caller_context(headers: Mapping[str, str]) -> Any:
    """The OpenTelemetry context of an HTTP request's ``traceparent``/``tracestate``, or None."""
    if _provider is None or "traceparent" not in headers:
        return None
    from opentelemetry.propagate import extract

    return extract({k: headers[k] for k in ("traceparent", "tracestate") if k in headers})


class TraceContextMiddleware:
    """ASGI: a SERVER span per HTTP request, child of the caller's W3C ``traceparent``, so every span
    the request makes (FastMCP's, the tool's, the queries') joins the caller's trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _provider is None or scope["type"] != "http" or scope.get("path") in _UNTRACED:
            await self.app(scope, receive, send)
            return
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        tracer = trace.get_tracer("caas")
        name = f"{scope.get('method', 'GET')} {scope.get('path', '/')}"
        with tracer.start_as_current_span(name, context=caller_context(headers), kind=SpanKind.SERVER):
            await self.app(scope, receive, send)
