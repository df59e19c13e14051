"""An httpx transport for requests to URLs that a user or a lender chose: it connects only to public
addresses (``tools.platform.domain.outbound``).

The host is resolved at send time by the transport itself; every address it resolves to is judged
(one non-public address refuses the name: a name mixing the two is an attack, not a receiver), the
connection is made to a judged address, never to the name again, and the address actually connected
to is judged once more, so a DNS answer that changes between check and use (rebinding) cannot reach
an internal address. TLS still verifies the certificate against the URL's host name. httpx has no
public hook for its network backend, so the transport's connection pool is rebuilt with ours.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import socket
import sys
import typing
from collections.abc import Awaitable, Callable

import anyio
import httpcore
import httpx

from adapters.platform.http import PlatformBackend, platform_pool
from tools.platform.domain.outbound import address_problem

__all__ = ["RefusedAddress", "Resolver", "guarded_transport"]

# httpcore asks sniffio which event loop runs, several times a request, by `import sniffio`; without
# the package (anyio no longer needs it) each failed import searches sys.path again (0.15 ms each).
# A None entry in sys.modules makes that import fail at once, and httpcore then assumes asyncio.
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]


class RefusedAddress(httpcore.ConnectError):
    """The receiver's host is, resolves to or connected to an address the platform must not reach."""


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def _system_resolver(host: str, port: int) -> list[str]:
    try:
        # An address needs no lookup: getaddrinfo runs in a worker thread, a cost on every connection.
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(
        self, allow_local: bool, resolver: Resolver, inner: httpcore.AsyncNetworkBackend | None
    ) -> None:
        self._allow_local = allow_local
        self._resolver = resolver
        self._inner = inner or PlatformBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host.strip("[]"), port, timeout)
        last: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            peer = stream.get_extra_info("server_addr")
            problem = address_problem(str(peer[0]) if peer else "?", allow_local=self._allow_local)
            if problem is not None:
                await stream.aclose()
                raise RefusedAddress(problem)
            return stream
        raise last if last is not None else httpcore.ConnectError(f"{host} has no address")

    async def _resolve(self, host: str, port: int, seconds: float | None) -> list[str]:
        try:
            with anyio.fail_after(seconds):
                addresses = await self._resolver(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve ({type(exc).__name__})") from None
        for address in addresses:
            problem = address_problem(address, allow_local=self._allow_local)
            if problem is not None:
                raise RefusedAddress(f"{host} resolves to {problem}")
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("unix sockets are not receivers")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(
    *,
    allow_local: bool,
    resolver: Resolver = _system_resolver,
    backend: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncHTTPTransport:
    """A transport that reaches public addresses only (and loopback when ``allow_local``); no proxy
    from the environment, since a proxy would make the connection for us. ``resolver`` and
    ``backend`` (the DNS and the sockets) are replaceable so tests can play a rebinding DNS."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx takes no network backend: its pool is replaced by one with ours.
    transport._pool = platform_pool(_GuardedBackend(allow_local, resolver, backend), trust_env=False)
    return transport
