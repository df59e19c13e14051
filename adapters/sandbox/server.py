"""The sandbox as ASGI apps and as a ``Sandbox`` that serves them on loopback inside this event loop.

``caas serve`` without ``ONASIS_GATEWAY_URL`` starts one on ephemeral ports beside the platform;
``caas sandbox`` serves one on fixed ports for other processes. The webhook secrets come from the
caller (``PAYSTACK_SECRET_KEY``, ``STRIPE_WEBHOOK_SECRET``) or are generated, and are exposed so that
the platform verifies with the same ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
from collections.abc import Iterator
from types import TracebackType
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.payments.onasis_gateway import SANDBOX_HEADER
from adapters.sandbox.control import control_routes
from adapters.sandbox.gateway import GatewayContext, gateway_routes
from adapters.sandbox.registry import RegistryState, build_registry_app, registry_routes
from adapters.sandbox.state import SandboxState
from adapters.sandbox.webhooks import WebhookSender

__all__ = ["Sandbox", "build_gateway_app"]


def build_gateway_app(
    ctx: GatewayContext,
    *,
    payments_path: str = "/api/v1/payments",
    transfers_path: str = "/api/v1/payments/transfer",
) -> Starlette:
    app = Starlette(
        routes=[*gateway_routes(payments_path, transfers_path), *control_routes()],
        middleware=[Middleware(_SandboxHeader)],
    )
    app.state.ctx = ctx
    return app


class _SandboxHeader:
    """Marks every answer as simulated (``SANDBOX_HEADER``), errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (SANDBOX_HEADER.encode(), b"true")],
                }
            await send(message)

        await self.app(scope, receive, marked if scope["type"] == "http" else send)


_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


def _hostname(authority: str) -> str:
    """``host[:port]`` without the port (IPv6 keeps its brackets)."""
    if authority.startswith("["):
        return authority.split("]", 1)[0] + "]"
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


class _LoopbackGuard:
    """DNS-rebinding and cross-site protection for a sandbox on loopback: its control routes move
    (simulated) money and redirect webhooks, so a web page must not reach them. A Host other than a
    loopback name is 421; an Origin other than the request's own or a loopback one is 403."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            host = headers.get("host", "")
            origin = headers.get("origin")
            refused = None
            if _hostname(host).lower() not in _LOOPBACK_NAMES:
                refused = Response("Misdirected Request", status_code=421)
            elif (
                origin
                and origin != f"{scope.get('scheme', 'http')}://{host}"
                and _origin_host(origin) not in ("localhost", "127.0.0.1", "::1")
            ):
                refused = Response("Forbidden Origin", status_code=403)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _origin_host(origin: str) -> str:
    """The host an Origin header names; empty for one that is no URL ("http://[::1", a refusal)."""
    try:
        return urlsplit(origin).hostname or ""
    except ValueError:
        return ""


class _EmbeddedServer(uvicorn.Server):
    """Signals belong to the process's main server (or to ``serve_forever``), not to each of these:
    two uvicorn servers capturing the same signals would each stop only half of the sandbox."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Sandbox:
    """``async with Sandbox() as sandbox:`` serves the gateway and the registry on loopback.

    Port 0 means an ephemeral port; ``gateway_url`` and ``registry_url`` are known once started.
    ``webhook_base_url`` (the platform's base URL; webhooks go to ``{it}/webhooks/paystack`` or
    ``/webhooks/stripe``) may be set or changed at any time; unset, webhooks are recorded, not sent.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        gateway_port: int = 0,
        registry_port: int = 0,
        webhook_base_url: str | None = None,
        paystack_secret: str | None = None,
        stripe_secret: str | None = None,
        api_key: str | None = None,
        payments_path: str = "/api/v1/payments",
        transfers_path: str = "/api/v1/payments/transfer",
        registry_services_path: str = "/api/services",
        late_webhook_seconds: float = 2.0,
        stall_seconds: float = 120.0,
        webhook_attempts: int = 5,
        webhook_backoff_seconds: float = 0.2,
        serve_registry: bool = True,
    ) -> None:
        self.host = host
        self._ports = (gateway_port, registry_port)
        self.paystack_secret = paystack_secret or f"sk_test_sandbox_{secrets.token_hex(24)}"
        self.stripe_secret = stripe_secret or f"whsec_sandbox_{secrets.token_hex(24)}"
        self.state = SandboxState()
        self.registry = RegistryState()
        self.sender = WebhookSender(
            self.state,
            paystack_secret=self.paystack_secret,
            stripe_secret=self.stripe_secret,
            target=webhook_base_url,
            attempts=webhook_attempts,
            backoff_seconds=webhook_backoff_seconds,
        )
        self.ctx = GatewayContext(
            self.state,
            self.sender,
            api_key=api_key,
            late_webhook_seconds=late_webhook_seconds,
            stall_seconds=stall_seconds,
        )
        gateway_app = build_gateway_app(self.ctx, payments_path=payments_path, transfers_path=transfers_path)
        if not serve_registry:
            # One port for everything (handy behind a single proxy); the registry routes join the gateway.
            gateway_app.router.routes.extend(registry_routes(registry_services_path))
            gateway_app.state.registry = self.registry
        self._apps = [gateway_app]
        if serve_registry:
            self._apps.append(build_registry_app(self.registry, registry_services_path))
        if _hostname(host).lower() in _LOOPBACK_NAMES:
            for app in self._apps:
                app.add_middleware(_LoopbackGuard)
        self._servers: list[uvicorn.Server] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._urls: list[str] = []

    # -- addresses and switches -------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return self._url(0)

    @property
    def registry_url(self) -> str:
        return self._url(len(self._urls) - 1)

    def _url(self, index: int) -> str:
        if not self._urls:
            raise RuntimeError("the sandbox is not started")
        return self._urls[index]

    @property
    def webhook_base_url(self) -> str | None:
        return self.sender.target

    @webhook_base_url.setter
    def webhook_base_url(self, url: str | None) -> None:
        self.sender.target = url.rstrip("/") if url else None

    def vendor_down(self, vendor: str, down: bool = True) -> None:
        if down:
            self.state.down.add(vendor)
        else:
            self.state.down.discard(vendor)

    async def webhooks_idle(self) -> None:
        """Wait for every webhook delivery in flight (retries included) to finish."""
        await self.sender.idle()

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._servers:
            raise RuntimeError("the sandbox is already started")
        try:
            for app, port in zip(self._apps, self._ports, strict=False):
                await self._serve(app, port)
        except BaseException:
            await self.stop()
            raise

    async def _serve(self, app: Starlette, port: int) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, port))
        except OSError:
            sock.close()
            raise
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            # uvicorn's own logging setup would replace the process's handlers for every uvicorn logger.
            log_config=None,
            # Stalled answers (timeout_after_success) must not hold a shutdown for long.
            timeout_graceful_shutdown=1,
            # Idle connections are closed by the client first (httpx keeps them 5 s, uvicorn's default):
            # else a payout sent as the server closes its connection fails with no answer.
            timeout_keep_alive=75,
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        self._servers.append(server)
        self._tasks.append(task)
        while not server.started:
            if task.done():
                sock.close()
                task.result()
                raise RuntimeError("the sandbox server stopped before it started")
            await asyncio.sleep(0.01)
        bound = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._urls.append(f"http://{host}:{bound}")

    async def serve_forever(self) -> None:
        """For ``caas sandbox``: serve until SIGINT/SIGTERM (or a server dies), then clean up."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
        if not self._servers:
            await self.start()
        try:
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait([waiter, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            await self.stop()

    async def stop(self) -> None:
        self.ctx.stopping.set()
        for server in self._servers:
            server.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        self._servers.clear()
        self._tasks.clear()
        self._urls.clear()
        await self.sender.aclose()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
