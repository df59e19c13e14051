"""The ``caas`` command: serve (HTTP or stdio, composed or one service), db migrate/status, token, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from pathlib import Path
from types import FrameType

import anyio
import asyncpg
import uvicorn
from pydantic import HttpUrl

from database import migrate
from mcp_servers import cluster, laptop
from mcp_servers.config import ConfigError, Settings, load_settings
from mcp_servers.db_commands import add_db_parser, run_db
from mcp_servers.fronts import FRONTS, front_refusal
from mcp_servers.platform.gc_tuning import settle_heap
from mcp_servers.platform.logs import configure_logging
from mcp_servers.platform.pii import vault_from_settings
from mcp_servers.platform.serving import ShutdownGate, http_app, server_config
from mcp_servers.platform.tracing import configure_tracing
from mcp_servers.processes import ProcessPlan, composed_plan, front_plan, pool_size, service_plan
from mcp_servers.runtime import Runtime, check_sandbox_consent
from mcp_servers.toolsets import dynamic_refused
from mcp_servers.worker_command import add_parser as add_worker_parser
from mcp_servers.worker_command import gateway_refusal, work

__all__ = ["main"]

log = logging.getLogger("caas")


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


_json_logs = False


def _err(line: str) -> None:
    # Once logs are JSON lines, a failure is one too, so the collector reading stderr can parse it.
    if _json_logs:
        log.error(line)
    else:
        sys.stderr.write(line + "\n")


def _configure_logging(settings: Settings, args: argparse.Namespace) -> None:
    # JSON for the long-running processes a log collector reads; text for a terminal or an MCP
    # client's stdio log. Always stderr: on stdio, stdout belongs to the protocol.
    global _json_logs
    daemon = (args.command == "serve" and not args.stdio) or args.command == "worker"
    fmt = settings.log_format or ("json" if daemon else "text")
    configure_logging(settings.log_level, fmt)
    _json_logs = fmt == "json"


def _api_keys(settings: Settings) -> tuple[dict[str, object], str | None]:
    from mcp_servers.platform.auth import dev_token
    from tools.platform.principal import Principal, Role

    keys: dict[str, object] = {}
    if settings.service_api_key is not None:
        keys[settings.service_api_key.get_secret_value()] = Principal(settings.service_subject, Role.SERVICE)
    if keys or settings.jwt_secret is not None or settings.jwt_jwks_url is not None:
        return keys, None
    # Nothing configured: a local operator key in a private file, so a fresh install is usable and
    # still never open to an unauthenticated caller.
    token_path = settings.data_dir / "dev-token"
    keys[dev_token(settings.data_dir)] = Principal(settings.stdio_subject, Role.OPERATOR)
    return keys, str(token_path)


def _plan(settings: Settings, args: argparse.Namespace) -> ProcessPlan:
    """What this serving process carries; refuses (ConfigError) work that needs a gateway it lacks."""
    if args.front is not None:
        plan = front_plan(settings, args.front, pool_max=args.pool_max)
    elif args.service is None:
        plan = composed_plan(settings, workers=args.workers, pool_max=args.pool_max)
    else:
        plan = service_plan(settings, args.service, workers=args.workers, pool_max=args.pool_max)
    if plan.owns_payments:
        check_sandbox_consent(settings)  # this process runs the sandbox when no gateway is set
    elif settings.onasis_gateway_url is None and plan.needs_gateway():
        raise gateway_refusal(f"caas serve --service {args.service} --workers")
    return cluster.child_plan(plan, cluster.child_slot())


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_servers.composition import SERVICES, build_server

    service, stdio, host, port = args.service, args.stdio, args.host, args.port
    if service is not None and service not in SERVICES:
        _err(f"caas: unknown service '{service}'; available: {', '.join(SERVICES)}")
        return 2
    plan = _plan(settings, args)
    if not stdio:
        settings = _with_webhook_target(settings, service, host, port)
    runtime = Runtime(settings, plan=plan)
    # Started before the transport so a migration or database problem ends start-up with one line,
    # not a lifespan traceback; the server's own lifespan then joins this session.
    code = 0
    workers_done = anyio.Event()

    async def run_workers() -> None:
        try:
            await runtime.workers.run()
        finally:
            workers_done.set()

    async with runtime.session(), anyio.create_task_group() as tg:
        if plan.workers:
            tg.start_soon(run_workers)
        try:
            if stdio:
                await build_server(runtime, service).run_stdio_async(show_banner=False)
            else:
                code = await _serve_http(runtime, service, host, port, args.front)
        finally:
            if plan.workers:
                # Each worker finishes the job it holds (bounded by the grace period), then stops.
                runtime.workers.stop()
                with anyio.move_on_after(settings.shutdown_grace_s, shield=True):
                    await workers_done.wait()
            tg.cancel_scope.cancel()
    return code


def _with_webhook_target(
    settings: Settings, service: str | None, host: str | None, port: int | None
) -> Settings:
    """The in-process sandbox posts its webhooks to this very server unless CAAS_SANDBOX_WEBHOOK_URL
    says otherwise, so that payments complete out of the box."""
    from mcp_servers.composition import PLAN_PORTS

    if settings.onasis_gateway_url is not None or settings.sandbox_webhook_url is not None:
        return settings
    bind_host = host or settings.host
    if bind_host in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard bind is reached on loopback
        bind_host = "127.0.0.1"
    if ":" in bind_host:
        bind_host = f"[{bind_host}]"
    bind_port = port or settings.port or PLAN_PORTS.get(service or "caas", PLAN_PORTS["caas"])
    return settings.model_copy(update={"sandbox_webhook_url": HttpUrl(f"http://{bind_host}:{bind_port}")})


async def _sandbox(
    settings: Settings, host: str, port: int, registry_port: int, webhook_url: str | None
) -> int:
    """An Onasis-compatible gateway and registry for other processes (ONASIS_GATEWAY_URL,
    MCP_SERVER_URL); no real money moves."""
    from mcp_servers.composition import PLAN_PORTS
    from mcp_servers.runtime import make_sandbox

    target = webhook_url or (
        str(settings.sandbox_webhook_url).rstrip("/")
        if settings.sandbox_webhook_url
        else f"http://127.0.0.1:{settings.port or PLAN_PORTS['caas']}"
    )
    sandbox = make_sandbox(
        settings, host=host, gateway_port=port, registry_port=registry_port, webhook_base_url=target
    )
    try:
        await sandbox.start()
    except OSError as exc:
        _err(f"caas: cannot serve the sandbox on {host}:{port} and :{registry_port}: {exc.strerror or exc}")
        return 4
    _out(f"sandbox gateway:  {sandbox.gateway_url}  (ONASIS_GATEWAY_URL for the platform)")
    _out(f"sandbox registry: {sandbox.registry_url}  (MCP_SERVER_URL for the platform)")
    _out(f"webhooks go to:   {target}/webhooks/paystack and {target}/webhooks/stripe")
    if settings.paystack_secret_key is None or settings.stripe_webhook_secret is None:
        _out(
            "signing secrets:  generated for this run; set PAYSTACK_SECRET_KEY and STRIPE_WEBHOOK_SECRET "
            "to the same values here and in the platform so that it accepts the webhooks"
        )
    else:
        _out("signing secrets:  PAYSTACK_SECRET_KEY and STRIPE_WEBHOOK_SECRET")
    _out("simulated vendors: no real money moves. Ctrl-C stops.")
    await sandbox.serve_forever()
    return 0


async def _serve_http(
    runtime: Runtime, service: str | None, host: str | None, port: int | None, front: str | None = None
) -> int:
    from mcp_servers.composition import build_server
    from mcp_servers.platform.registration import public_url, registration, server_name

    settings = runtime.settings
    keys, token_path = _api_keys(settings)
    bind_host, bind_port = cluster.address(settings, service, host, port, front)
    slot = cluster.child_slot()
    resource = public_url(settings, server_name(service), bind_host, bind_port)
    server = build_server(runtime, service, api_keys=keys, resource_url=resource)  # type: ignore[arg-type]
    settle_heap()  # start-up is done: its heap is never collected again
    gate = ShutdownGate()
    app = http_app(server, settings, bind_host, gate, front=front, process=slot.index if slot else None)
    config = server_config(app, settings, bind_host, bind_port)
    where = f"embedded PostgreSQL in {settings.data_dir}" if settings.embedded else "configured PostgreSQL"
    of = f", process {slot.index} of {slot.count}" if slot else ""
    log.info("serving %s on http://%s:%d/mcp (%s%s)", server.name, bind_host, bind_port, where, of)
    if token_path:
        log.info("no JWT or API key configured: use the local operator bearer token in %s", token_path)
    uv = _GracefulServer(config, gate, settings.shutdown_grace_s)
    # Registration runs in the background (a registry that is down never delays serving) and deactivates
    # after uvicorn's graceful stop. A front is not an MCP server of its own (the registry lists the
    # composed server); one listing per address: under --processes only child 0 registers.
    listed: contextlib.AbstractAsyncContextManager[object] = (
        contextlib.nullcontext()
        if front or (slot is not None and slot.index > 0)
        else registration(
            runtime, server, service=service, host=bind_host, port=bind_port, serving=lambda: uv.started
        )
    )
    async with listed:
        try:
            await uv.serve(sockets=[cluster.listening_socket(slot)] if slot else None)
        except SystemExit:
            # uvicorn exits when it cannot bind; say so in one line rather than a task-group traceback.
            if uv.started:
                raise
            _err(
                f"caas: cannot listen on {bind_host}:{bind_port} (in use, or not an address of this "
                "machine); choose another with --port or CAAS_PORT"
            )
            return 5
    return 0


class _GracefulServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT the gate answers new requests 503 while the calls in flight finish
    (at most ``grace`` seconds); only then does uvicorn close its sockets and stop. A second signal
    stops at once. uvicorn would re-raise the signal after its graceful shutdown, which kills the
    process before anything else can clean up; a finished graceful stop exits 0 instead."""

    def __init__(self, config: uvicorn.Config, gate: ShutdownGate, grace: float) -> None:
        super().__init__(config)
        self.gate = gate
        self.grace = grace
        self.deadline: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.deadline is None and self.started:
            self.gate.draining = True
            self.deadline = time.monotonic() + self.grace
            return
        super().handle_exit(sig, frame)
        self._captured_signals.clear()

    async def on_tick(self, counter: int) -> bool:
        if self.deadline is not None and (self.gate.inflight == 0 or time.monotonic() >= self.deadline):
            self.should_exit = True
        return await super().on_tick(counter)


def _front_refused(args: argparse.Namespace) -> str | None:
    return front_refusal(args.front, service=args.service, stdio=args.stdio, workers=args.workers)


def _registry(settings: Settings, out: Path) -> int:
    from mcp_servers.composition import SERVICES
    from mcp_servers.platform.registration import write_server_json

    for path in write_server_json(settings, out, SERVICES):
        _out(str(path))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caas", description="Credit-as-a-Service MCP servers.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the MCP servers (Streamable HTTP by default)")
    serve.add_argument("--stdio", action="store_true", help="speak MCP over stdin/stdout instead of HTTP")
    serve.add_argument("--service", help="run one service on its own port instead of the composed server")
    serve.add_argument(
        "--front",
        choices=list(FRONTS),
        help="a process of the composed server for people: provider (the provider dashboard, 3009), admin "
        "(the operator console, 3015) or live (the WebSocket service, 3010); no workers",
    )
    serve.add_argument("--host", help="bind address (default CAAS_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default CAAS_PORT or the plan's port)")
    serve.add_argument(
        "--toolsets",
        help="comma-separated toolsets clients see, all, or dynamic (default CAAS_TOOLSETS or each role's)",
    )
    serve.add_argument(
        "--read-only", action="store_true", default=None, help="list and call only read-only tools"
    )
    serve.add_argument(
        "--workers",
        action="store_true",
        default=None,
        help="run the background workers in this process (default: the composed server does, unless "
        "CAAS_WORKERS=false; one service does not, unless CAAS_WORKERS=true)",
    )
    serve.add_argument(
        "--pool-max",
        type=pool_size,
        help="database connections per pool of this process (default CAAS_DB_POOL_MAX, else 16 composed, 3 "
        "for one service)",
    )
    serve.add_argument(
        "--processes",
        type=cluster.process_count,
        default=1,
        help="serve the port from N processes: a parent binds it and supervises N children, each with "
        "1/N of the pool; workers in the first only (docs/architecture.md, 'Many processes')",
    )
    add_db_parser(sub)  # migrate, status, backup, restore
    laptop.add_parsers(sub)  # token, demo
    registry = sub.add_parser("registry", help="MCP registry listings")
    registry.add_argument("action", choices=["server-json"], help="write a server.json per server")
    registry.add_argument(
        "--out", type=Path, default=Path("server-json"), help="directory (default ./server-json)"
    )
    sandbox = sub.add_parser("sandbox", help="serve a simulated Onasis gateway and registry on loopback")
    sandbox.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=3000, help="gateway port (default 3000)")
    sandbox.add_argument("--registry-port", type=int, default=3001, help="registry port (default 3001)")
    sandbox.add_argument(
        "--webhook-url",
        help="the platform's base URL for webhooks (default CAAS_SANDBOX_WEBHOOK_URL or http://127.0.0.1:3013)",
    )
    add_worker_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "serve" and (args.toolsets is not None or args.read_only):
            # The flags are checked as CAAS_TOOLSETS and CAAS_READ_ONLY are, and win over them.
            flags = {
                "toolsets": args.toolsets or settings.toolsets,
                "read_only": True if args.read_only else settings.read_only,
            }
            settings = load_settings(**flags)
        if args.command == "serve" and (refused := dynamic_refused(settings.toolsets, args.service)):
            raise ConfigError(refused)
        if args.command == "serve" and (refused := _front_refused(args)):
            raise ConfigError(refused)
        vault_from_settings(settings)  # missing or malformed encryption keys stop start-up here
    except ConfigError as exc:
        flag = getattr(args, "toolsets", None) is not None
        _err(f"caas: configuration error: {str(exc).replace('CAAS_TOOLSETS', '--toolsets') if flag else exc}")
        return 2
    _configure_logging(settings, args)
    try:
        configure_tracing(args.command, getattr(args, "service", None))  # when OTEL_* asks for spans
        if args.command == "serve" and args.processes > 1 and cluster.child_slot() is None:
            return cluster.run_parent(settings, args, sys.argv[1:] if argv is None else argv)
        if args.command == "serve":
            return asyncio.run(_serve(settings, args))
        if args.command == "db":
            return asyncio.run(run_db(settings, args))
        if args.command == "registry":
            return _registry(settings, args.out)
        if args.command == "worker":
            return asyncio.run(work(settings, args))
        if args.command == "sandbox":
            return asyncio.run(_sandbox(settings, args.host, args.port, args.registry_port, args.webhook_url))
        if args.command == "demo":
            return laptop.demo(settings, args.url)
        return laptop.token(settings, args, _api_keys)
    except ConfigError as exc:
        _err(f"caas: {exc}")
        return 2
    except migrate.MigrationError as exc:
        _err(f"caas: migration error: {exc}")
        return 3
    except KeyboardInterrupt:
        return 130
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _err(f"caas: cannot reach the database: {type(exc).__name__}: {exc}")
        return 4


if __name__ == "__main__":
    sys.exit(main())
