"""The Onasis gateway over HTTP: payments (initialize, verify, transfer) and communication (SMS, email).

Implements ``tools.payments.ports.PaymentGateway`` and ``CommunicationGateway``. Money crosses the
port in integer minor units and goes on the wire in major units, written as an exact JSON number (never a
float). Every call has explicit timeouts, a fresh ``X-Request-ID`` and the reference as
``Idempotency-Key``. Failures become the port's errors: a timeout or a broken connection after the
request was sent means the outcome is unknown (verify before any re-send); nothing here retries.
Logs name the path, status, reference and request id only: never a body, an email or a phone number.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from adapters.platform.http import HttpClient
from tools.payments.ports import (
    GatewayCharge,
    GatewayError,
    GatewayNotAccepted,
    GatewayNotFound,
    GatewayRejected,
    GatewayTimeout,
    GatewayTransfer,
    GatewayUnavailable,
    GatewayVerification,
    TransferStatus,
    VerificationStatus,
)
from tools.platform.domain.bounded_json import parse_bounded
from tools.platform.domain.money import MoneyError, from_minor, to_minor
from tools.platform.transactions import note_outside_effect

__all__ = ["SANDBOX_HEADER", "OnasisGateway"]

# Every answer of the simulated gateway (``caas sandbox`` or the in-process one) carries this header,
# so a platform pointed at an external sandbox knows its money is simulated.
SANDBOX_HEADER = "x-onasis-sandbox"

log = logging.getLogger("caas.gateway")

_STATUSES = ("success", "failed", "pending")
# Statuses that refuse the request before any work: 408 (the request was not read in time), 429 (rate
# limited), 503 (unavailable, as the gateway answers for a vendor that is down).
_NOT_ACCEPTED = frozenset({408, 429, 503})


def _dumps(body: Mapping[str, Any], amount: Decimal) -> bytes:
    """JSON with ``amount`` as an exact number: json cannot write a Decimal, and a float would round
    large amounts, so a unique placeholder string is swapped for the decimal's digits."""
    marker = f"__amount_{uuid.uuid4().hex}__"
    text = json.dumps({**body, "amount": marker}, separators=(",", ":"))
    return text.replace(json.dumps(marker), format(amount, "f")).encode()


class OnasisGateway:
    """One ``HttpClient`` per process (adapters.platform.http); ``aclose()`` on shutdown."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        project_scope: str | None = None,
        payments_path: str = "/api/v1/payments",
        transfers_path: str = "/api/v1/payments/transfer",
        timeout_seconds: float = 10.0,
        connect_timeout_seconds: float = 5.0,
        simulated: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.simulated = simulated
        self._payments = "/" + payments_path.strip("/")
        self._transfers = "/" + transfers_path.strip("/")
        self._api_key = api_key
        self._scope = project_scope
        self._timeout = httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds)
        self._http = HttpClient(timeout=self._timeout, transport=transport, follow_redirects=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def detect_sandbox(self) -> bool:
        """Ask the gateway whether it is a sandbox (its ``/health`` answer's header); a gateway that does
        not answer stays as configured, and any later answer with the header still marks it."""
        try:
            response = await self._http.get(self.base_url + "/health", timeout=2.0)
        except httpx.HTTPError:
            return self.simulated
        self._notice(response)
        return self.simulated

    def _notice(self, response: httpx.Response) -> None:
        if response.headers.get(SANDBOX_HEADER) == "true" and not self.simulated:
            log.warning("the gateway at %s is a sandbox: money is simulated", self.base_url)
            self.simulated = True

    # -- payments ---------------------------------------------------------------------------------

    async def initialize(
        self,
        *,
        vendor: str,
        reference: str,
        amount_minor: int,
        currency: str,
        email: str,
        metadata: Mapping[str, Any],
    ) -> GatewayCharge:
        body = {
            "email": email,
            "currency": currency,
            "reference": reference,
            "metadata": dict(metadata),
            "vendor": vendor,
        }
        answer, request_id = await self._post(
            f"{self._payments}/initialize", _dumps(body, from_minor(amount_minor, currency)), reference
        )
        tx = answer.get("transaction")
        if not isinstance(tx, dict) or not tx.get("authorization_url") or not tx.get("access_code"):
            raise GatewayUnavailable(
                "the gateway's initialize answer has no transaction", request_id=request_id
            )
        return GatewayCharge(
            reference=str(tx.get("reference") or reference),
            authorization_url=str(tx["authorization_url"]),
            access_code=str(tx["access_code"]),
            request_id=request_id,
        )

    async def transfer(
        self,
        *,
        vendor: str,
        reference: str,
        amount_minor: int,
        currency: str,
        recipient: Mapping[str, str],
        metadata: Mapping[str, Any],
    ) -> GatewayTransfer:
        body = {
            "currency": currency,
            "reference": reference,
            "recipient": dict(recipient),
            "vendor": vendor,
            "metadata": dict(metadata),
        }
        answer, request_id = await self._post(
            self._transfers, _dumps(body, from_minor(amount_minor, currency)), reference
        )
        tr = answer.get("transfer")
        status = tr.get("status") if isinstance(tr, dict) else None
        if not isinstance(tr, dict) or status not in _STATUSES:
            # Sent and answered, but not in a shape we understand: as unknown as a timeout.
            raise GatewayUnavailable(
                "the gateway's transfer answer has no transfer status", request_id=request_id
            )
        code = tr.get("transfer_code")
        return GatewayTransfer(
            reference=str(tr.get("reference") or reference),
            status=_transfer_status(status),
            transfer_code=str(code) if code is not None else None,
            request_id=request_id,
        )

    async def verify(self, *, vendor: str, reference: str) -> GatewayVerification:
        body = json.dumps({"reference": reference, "vendor": vendor}).encode()
        answer, request_id = await self._post(f"{self._payments}/verify", body, reference, verify=True)
        v = answer.get("verification")
        if not isinstance(v, dict) or v.get("status") not in _STATUSES:
            raise GatewayUnavailable("the gateway's verify answer has no status", request_id=request_id)
        currency = str(v.get("currency") or "")
        try:
            amount = Decimal(str(v.get("amount")))
            amount_minor = to_minor(amount, currency)
        except (InvalidOperation, MoneyError):
            raise GatewayUnavailable(
                "the gateway's verify answer has no usable amount and currency", request_id=request_id
            ) from None
        return GatewayVerification(
            reference=str(v.get("reference") or reference),
            status=_verification_status(v["status"]),
            amount_minor=amount_minor,
            currency=currency,
        )

    # -- communication ----------------------------------------------------------------------------

    async def send_sms(self, *, to: str, message: str, reference: str) -> str:
        body = json.dumps({"to": to, "message": message, "reference": reference}).encode()
        answer, request_id = await self._post("/api/services/sms/send", body, reference)
        return self._message_id(answer, request_id)

    async def send_email(self, *, to: str, subject: str, text: str, reference: str) -> str:
        body = json.dumps({"to": to, "subject": subject, "text": text, "reference": reference}).encode()
        answer, request_id = await self._post("/api/services/email/send", body, reference)
        return self._message_id(answer, request_id)

    @staticmethod
    def _message_id(answer: dict[str, Any], request_id: str | None) -> str:
        ident = answer.get("id")
        if ident is None or ident == "":
            raise GatewayUnavailable("the gateway's send answer has no message id", request_id=request_id)
        return str(ident)

    # -- the wire ---------------------------------------------------------------------------------

    def _headers(self, reference: str) -> tuple[dict[str, str], str]:
        request_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Request-ID": request_id,
            "Idempotency-Key": reference,
        }
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if self._scope:
            headers["X-Project-Scope"] = self._scope
        return headers, request_id

    async def _post(
        self, path: str, body: bytes, reference: str, *, verify: bool = False
    ) -> tuple[dict[str, Any], str | None]:
        headers, sent_id = self._headers(reference)
        if not verify:  # a charge, a transfer or a message: a replayed call must not send it twice
            note_outside_effect()
        try:
            response = await self._http.post(
                self.base_url + path, content=body, headers=headers, timeout=self._timeout
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached the gateway: unhealthy, and nothing was created.
            log.warning("gateway %s unreachable (%s) reference=%s", path, type(exc).__name__, reference)
            raise GatewayNotAccepted(f"the gateway is unreachable ({type(exc).__name__})") from None
        except httpx.TimeoutException as exc:
            log.warning("gateway %s timed out (%s) reference=%s", path, type(exc).__name__, reference)
            raise GatewayTimeout(
                "the gateway did not answer in time; the outcome is unknown", request_id=sent_id
            ) from None
        except httpx.TransportError as exc:
            # Sent, then the connection broke: unhealthy, and the outcome is unknown.
            log.warning("gateway %s connection lost (%s) reference=%s", path, type(exc).__name__, reference)
            raise GatewayUnavailable(
                f"the gateway connection broke ({type(exc).__name__}); the outcome is unknown",
                request_id=sent_id,
            ) from None
        self._notice(response)
        answer = _json_object(response)
        request_id = str(answer.get("requestId") or response.headers.get("x-request-id") or sent_id)
        log.debug(
            "gateway %s -> %d reference=%s request_id=%s", path, response.status_code, reference, request_id
        )
        if response.is_success and answer.get("success") is not False:
            return answer, request_id
        raise _error(response.status_code, answer, request_id, verify=verify)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        # The gateway's answer is outside text too: bounded, so a deeply nested one is no RecursionError.
        value = parse_bounded(response.content or b"{}", decimals=True)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _error(status: int, answer: dict[str, Any], request_id: str, *, verify: bool) -> GatewayError:
    code = str(answer.get("code") or f"http_{status}")
    # The gateway's error text may echo what we sent (an email); keep only its code and our words.
    if status == 404 and verify:
        return GatewayNotFound(
            "the gateway has no payment with this reference", code=code, request_id=request_id
        )
    if status in _NOT_ACCEPTED:
        # Busy or down, and saying so before doing anything: nothing was created under the reference.
        return GatewayNotAccepted(f"the gateway answered {status}", code=code, request_id=request_id)
    if status >= 500:
        # A 500, or a proxy's 502/504, may come after the vendor acted (Stripe calls a 500's result
        # indeterminate): unhealthy, and the outcome is unknown.
        return GatewayUnavailable(f"the gateway answered {status}", code=code, request_id=request_id)
    if 400 <= status < 500:
        return GatewayRejected(f"the gateway refused the request ({code})", code=code, request_id=request_id)
    # A 2xx with "success": false, or a 3xx we do not follow.
    return GatewayRejected(
        f"the gateway did not accept the request ({code})", code=code, request_id=request_id
    )


def _transfer_status(value: str) -> TransferStatus:
    if value == "success":
        return "success"
    if value == "failed":
        return "failed"
    return "pending"


def _verification_status(value: str) -> VerificationStatus:
    return _transfer_status(value)
