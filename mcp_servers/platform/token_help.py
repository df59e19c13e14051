"""A refused bearer token (HTTP 401) answered with a body that says how to get one."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_servers.config import Settings

__all__ = ["TokenHelp", "token_hint"]


def token_hint(settings: Settings, *, local_token: bool) -> str:
    """Where a caller of this deployment gets a bearer token, in one or two sentences."""
    ways = []
    if settings.jwt_issuer:
        ways.append(
            f"get an access token from {settings.jwt_issuer} (the authorization server named at "
            "/.well-known/oauth-protected-resource)"
        )
    if local_token:
        ways.append("on the machine running the server, `caas token` prints one")
    if not ways:
        ways.append("ask the operator of this deployment for a token or the service API key")
    return "Send `Authorization: Bearer <token>`: " + "; or ".join(ways) + "."


class TokenHelp:
    """Rewrites every 401 body to ``{"error", "error_description"}`` with ``hint`` in the description.

    The transport's own 401 is empty when no token was sent, and tells a client with a bad one to
    "re-register" (dynamic client registration this server does not offer); a person reading the
    Inspector's or curl's output needs where a token comes from. Headers (``WWW-Authenticate``) stay.
    """

    def __init__(self, app: ASGIApp, hint: str) -> None:
        self.app = app
        self.hint = hint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A webhook is signed, not sent with a token: its 401 says which signature failed, and a vendor
        # told to send a bearer token (or that local tokens exist here) is told wrong.
        if scope["type"] != "http" or scope["path"].startswith("/webhooks/"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def answer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] == 401:
                start = message
                return
            if start is None:
                await send(message)
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._refuse(start, b"".join(chunks), send, _presented(scope))

        await self.app(scope, receive, answer)

    async def _refuse(self, start: Message, original: bytes, send: Send, presented: bool) -> None:
        try:
            error = str(json.loads(original).get("error") or "invalid_token")
        except (ValueError, AttributeError):
            error = "invalid_token"
        sent = (
            "The token sent was not accepted (unknown, expired, or meant for another server). "
            if presented
            else "No bearer token was sent. "
        )
        body = json.dumps({"error": error, "error_description": sent + self.hint}).encode()
        headers = [
            (k, v) for k, v in start["headers"] if k.lower() not in (b"content-length", b"content-type")
        ]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _presented(scope: Scope) -> bool:
    """Whether the request carried a token at all: a bearer Authorization header, or (the live
    updates, where a browser's EventSource cannot set headers) an access_token query parameter."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return True
    return b"access_token=" in scope.get("query_string", b"")
