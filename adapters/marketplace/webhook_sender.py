"""Webhooks to credit providers over HTTP (``tools.marketplace.ports.WebhookSender``).

One ``httpx.AsyncClient`` per process with a timeout on every phase; redirects are not followed (a
3xx is the receiver's answer, see tools/marketplace/domain/provider_webhooks.py). Only the status line and
``Retry-After`` are read: the response body is never downloaded, stored or logged, so a receiver
cannot fill our memory or our logs. Logs name the host, status and event id only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from tools.marketplace.ports import WebhookAnswer, WebhookSendError

__all__ = ["HttpxWebhookSender"]

log = logging.getLogger("caas.webhooks")


class HttpxWebhookSender:
    def __init__(
        self,
        *,
        timeout_seconds: float = 10.0,
        user_agent: str = "CaaS-Webhooks",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout_seconds = timeout_seconds
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            follow_redirects=False,
            headers={"User-Agent": user_agent},
            transport=transport,
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        host = urlsplit(url).hostname or "?"
        event = headers.get("X-CaaS-Event-Id", "?")
        try:
            async with self._http.stream("POST", url, content=body, headers=dict(headers)) as response:
                answer = WebhookAnswer(response.status_code, response.headers.get("retry-after"))
        except httpx.TimeoutException:
            log.info("webhook %s to %s timed out", event, host)
            raise WebhookSendError(f"no answer within {self._timeout_seconds:g} s") from None
        except httpx.HTTPError as exc:
            # Connection refused, DNS, TLS, a malformed URL: the kind is enough, the text may quote
            # the receiver.
            log.info("webhook %s to %s failed: %s", event, host, type(exc).__name__)
            raise WebhookSendError(f"could not reach the receiver ({type(exc).__name__})") from None
        log.debug("webhook %s to %s answered %d", event, host, answer.status_code)
        return answer

    async def aclose(self) -> None:
        await self._http.aclose()
