"""Webhooks to credit providers over HTTP (``tools.marketplace.ports.WebhookSender``).

One ``HttpClient`` per process (``adapters.platform.http``: it keeps no cookies, so no receiver's
reaches another lender) with a timeout on every phase and on the whole request; redirects are not
followed (a 3xx is the receiver's answer, see tools/marketplace/domain/provider_webhooks.py). Only
the status line and ``Retry-After`` are kept: the response body is never stored or logged, so a
receiver cannot fill our memory or our logs. Up to ``KEEP_ALIVE_BODY`` bytes of it are read and
dropped, so the connection goes back to the client's pool for the next webhook to that receiver (a
new connection per webhook cost a connect, and a TLS handshake over https, each time); a longer body
closes the connection instead.
The receiver's URL is a lender's choice, so it is judged before sending and the connection goes only
to public addresses (``adapters.platform.outbound``: no SSRF into our network, DNS rebinding included);
loopback and plain http only when ``allow_local``. Logs name the host, status and event id only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

import anyio
import httpx

from adapters.platform.http import HttpClient
from adapters.platform.outbound import RefusedAddress, guarded_transport
from tools.marketplace.ports import WebhookAnswer, WebhookRefused, WebhookSendError
from tools.platform.domain.outbound import url_problem

__all__ = ["HttpxWebhookSender"]

log = logging.getLogger("caas.webhooks")

# The most of an answer's body read (and dropped) to keep its connection alive.
KEEP_ALIVE_BODY = 16 * 1024


class HttpxWebhookSender:
    def __init__(
        self,
        *,
        allow_local: bool,
        timeout_seconds: float = 10.0,
        user_agent: str = "CaaS-Webhooks",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._allow_local = allow_local
        self._timeout_seconds = timeout_seconds
        self._http = HttpClient(
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            follow_redirects=False,
            headers={"User-Agent": user_agent},
            transport=transport or guarded_transport(allow_local=allow_local),
            trust_env=False,  # an environment proxy would connect for us, past the address checks
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        host = urlsplit(url).hostname or "?"
        event = headers.get("X-CaaS-Event-Id", "?")
        problem = url_problem(url, allow_local=self._allow_local)
        if problem is not None:
            # Stored before the rule (or with CAAS_WEBHOOK_ALLOW_LOCAL on then): never sent.
            log.warning("webhook %s to %s refused: the URL %s", event, host, problem)
            raise WebhookRefused(f"the webhook_url {problem}")
        try:
            # A receiver dripping its status line byte by byte stays within each phase's timeout:
            # the whole request is bounded too.
            with anyio.fail_after(self._timeout_seconds) as whole:
                async with self._http.stream("POST", url, content=body, headers=dict(headers)) as response:
                    answer = WebhookAnswer(response.status_code, response.headers.get("retry-after"))
                    # The answer counts whatever the body does: it gives up just before the whole
                    # request's deadline, and its errors only cost the connection.
                    with anyio.CancelScope(deadline=whole.deadline - 0.05):
                        await _drain(response)
        except (httpx.TimeoutException, TimeoutError):
            log.info("webhook %s to %s timed out", event, host)
            raise WebhookSendError(f"no answer within {self._timeout_seconds:g} s") from None
        except httpx.HTTPError as exc:
            if isinstance(exc.__cause__, RefusedAddress):
                log.warning("webhook %s to %s refused: %s", event, host, exc.__cause__)
                raise WebhookRefused(f"the webhook_url's host {exc.__cause__}") from None
            # Connection refused, DNS, TLS, a malformed URL: the kind is enough, the text may quote
            # the receiver.
            log.info("webhook %s to %s failed: %s", event, host, type(exc).__name__)
            raise WebhookSendError(f"could not reach the receiver ({type(exc).__name__})") from None
        log.debug("webhook %s to %s answered %d", event, host, answer.status_code)
        return answer

    async def aclose(self) -> None:
        await self._http.aclose()


async def _drain(response: httpx.Response) -> None:
    # Read to its end, the connection is reusable; closed early (a body too long), it is closed.
    length = response.headers.get("content-length")
    if length is not None and (not (length.isascii() and length.isdigit()) or int(length) > KEEP_ALIVE_BODY):
        return
    read = 0
    try:
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read > KEEP_ALIVE_BODY:
                return
    except httpx.HTTPError:
        return
