"""The dashboards as web pages: ``/app/`` (the borrower's page), ``/admin/`` (the operator console) and
``/provider/`` (the provider dashboard), on the composed server beside ``/mcp`` and ``/live/``.

Each is the very page its MCP App serves (``mcp_servers.apps``): in a browser it signs in with a bearer
token and calls the tools at ``/mcp`` itself, so the role gate, the use cases and the error messages are
the tools' own; there is no second business layer and no second permission model. A page is one
self-contained document (script and style inlined), so its Content-Security-Policy allows exactly its own
inline script and style by hash, connections to this origin only, and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mcp_servers.apps import APPS, BORROWER_APP, INVITATIONS_APP, QUEUE_APP, page

__all__ = ["WEB_PAGES", "install_web_pages", "security_headers"]

# Path -> the MCP App that is the page.
WEB_PAGES = {"/app/": BORROWER_APP, "/admin/": QUEUE_APP, "/provider/": INVITATIONS_APP}

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.S)


def security_headers(html: str, connect: tuple[str, ...] = ()) -> dict[str, str]:
    """What a browser may do with ``html``: run its own inline script and style (by hash) and connect to
    this origin (``/mcp``, ``/live/``) and the ``connect`` origins (Supabase Storage's signed upload URLs,
    when Supabase is configured), nothing else; never framed by another site."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(hashes['script']) or 'none'}",
            f"style-src {' '.join(hashes['style']) or 'none'}",
            " ".join(["connect-src 'self'", *connect]),
            "img-src 'self' data:",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def install_web_pages(server: FastMCP, render: Callable[[str], str], supabase_url: str | None = None) -> None:
    """The pages on ``server`` (the composed one), each tool named by ``render`` as it exposes it; a
    document upload goes to ``supabase_url``'s origin when Supabase is configured."""
    connect = () if supabase_url is None else (_origin(supabase_url),)
    for path, uri in WEB_PAGES.items():
        html = page(APPS[uri], render)
        server.custom_route(path, methods=["GET"], include_in_schema=False)(_serve(html, connect))
        server.custom_route(path.rstrip("/"), methods=["GET"], include_in_schema=False)(_redirect(path))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _serve(html: str, connect: tuple[str, ...]) -> Callable[[Request], Awaitable[Response]]:
    headers = security_headers(html, connect)

    async def serve(_: Request) -> Response:
        return HTMLResponse(html, headers=headers)

    return serve


def _redirect(path: str) -> Callable[[Request], Awaitable[Response]]:
    async def redirect(_: Request) -> Response:
        return RedirectResponse(path, status_code=308)

    return redirect
