"""The one way the platform opens an HTTP client: an ``httpx.AsyncClient`` that keeps no cookies, on a
connection pool whose sockets answer the pool's questions cheaply.

**No cookies.** httpx's client is a cookie jar, as a browser is: a ``Set-Cookie`` in any answer is kept
and sent with every later request to that host. Our clients are shared by a whole process, across
tenants: the webhook sender's one client posts every lender's events, so one receiver's cookie went out
with the events of every other lender whose URL is on the same host (a hosted webhook service), and the
gateway's or Supabase's answers could pin state onto requests made for other users. None of the HTTP
contracts we follow uses cookies (``shared/contracts/onasis.md``, Supabase's REST and Storage APIs,
Standard Webhooks), so an answer's cookies are dropped and a request carries one only when its caller
writes the header itself.

**The pool's questions.** httpcore's pool asks every connection it holds whether the other side closed
it ("is_readable") each time it places or ends a request, and its anyio stream answers by having anyio
build all of the stream's attributes, for every question. Our streams look their socket up once.
Together the two cut a lender webhook's CPU in the sender by about a fifth
(``bench/bench_webhook_sender.py``, in bench/README.md).
"""

from __future__ import annotations

import socket
import ssl
import typing
from typing import Any

import httpcore
import httpx
from httpcore._utils import is_socket_readable  # httpcore's own test, for its own pool

__all__ = ["HttpClient", "PlatformBackend", "platform_pool"]

_NO_COOKIES = "the platform's HTTP clients keep no cookies"
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class _Dropped(httpx.Cookies):
    """An empty jar that stays empty."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        raise TypeError(_NO_COOKIES)


class HttpClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` with the same arguments, except ``cookies``, which it refuses. Without a
    ``transport`` it has httpx's own on ``platform_pool``, with the ``verify``, ``cert`` and ``limits``
    given; it has no proxy, HTTP/2 or unix socket of its own (give it a ``transport`` for those)."""

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("cookies"):
            raise TypeError(_NO_COOKIES)
        if kwargs.get("transport") is None:
            if unsupported := sorted({"proxy", "http2", "mounts", "uds"} & kwargs.keys()):
                raise TypeError(f"HttpClient takes no {', '.join(unsupported)}; give it a transport")
            trust_env = kwargs.get("trust_env", True)
            kwargs["transport"] = transport = httpx.AsyncHTTPTransport(trust_env=trust_env)
            # httpx takes no network backend: its pool is replaced by one with ours.
            transport._pool = platform_pool(
                PlatformBackend(),
                trust_env=trust_env,
                verify=kwargs.pop("verify", True),
                cert=kwargs.pop("cert", None),
                limits=kwargs.pop("limits", DEFAULT_LIMITS),
            )
        super().__init__(**kwargs)
        self._dropped = _Dropped()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._dropped

    @cookies.setter
    def cookies(self, value: Any) -> None:
        raise TypeError(_NO_COOKIES)


def platform_pool(
    backend: httpcore.AsyncNetworkBackend,
    *,
    trust_env: bool,
    verify: ssl.SSLContext | str | bool = True,
    cert: Any = None,
    limits: httpx.Limits = DEFAULT_LIMITS,
) -> httpcore.AsyncConnectionPool:
    """The pool httpx would make (its TLS context and limits), on ``backend``."""
    return httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=backend,
    )


class PlatformBackend(httpcore.AnyIOBackend):
    """httpcore's anyio backend, its streams wrapped in ``_Stream``."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await super().connect_tcp(host, port, timeout, local_address, socket_options))


class _Stream(httpcore.AsyncNetworkStream):
    """httpcore's stream, with its socket looked up once (see the module's docstring)."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "socket":
            return self._socket
        if info == "is_readable":
            return is_socket_readable(self._socket)
        return self._inner.get_extra_info(info)
