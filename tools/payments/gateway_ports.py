"""What the payment and notification use cases need from the Onasis gateway (adapters implement it).

Money crosses this port in integer minor units with an ISO currency; the adapter converts to the
gateway's major units at the HTTP boundary. ``reference`` is the idempotency handle downstream: the
caller derives it from its own operation id so that a retry after an unknown outcome re-uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "CommunicationGateway",
    "GatewayCharge",
    "GatewayError",
    "GatewayNotFound",
    "GatewayRejected",
    "GatewayTimeout",
    "GatewayTransfer",
    "GatewayUnavailable",
    "GatewayVerification",
    "PaymentGateway",
    "TransferStatus",
    "VerificationStatus",
]

TransferStatus = Literal["pending", "success", "failed"]
VerificationStatus = Literal["success", "failed", "pending"]


class GatewayError(Exception):
    """A gateway call that did not give a usable answer. Texts carry no personal data."""

    def __init__(self, message: str, *, code: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id


class GatewayTimeout(GatewayError):
    """No answer in time: the outcome is unknown, so verify the reference before any re-send."""


class GatewayUnavailable(GatewayError):
    """5xx or connection refused: the vendor is unhealthy. For a transfer the outcome is unknown too."""


class GatewayRejected(GatewayError):
    """A 4xx answer: final for this request; ``code`` is the gateway's own error code."""


class GatewayNotFound(GatewayError):
    """The gateway has no record of the reference (verify): nothing was created under it."""


@dataclass(frozen=True, slots=True)
class GatewayCharge:
    reference: str
    authorization_url: str
    access_code: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class GatewayTransfer:
    reference: str
    status: TransferStatus
    transfer_code: str | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class GatewayVerification:
    reference: str
    status: VerificationStatus
    amount_minor: int
    currency: str


class PaymentGateway(Protocol):
    simulated: bool  # True when the gateway is the in-process sandbox: no real money moves

    async def initialize(
        self,
        *,
        vendor: str,
        reference: str,
        amount_minor: int,
        currency: str,
        email: str,
        metadata: Mapping[str, Any],
    ) -> GatewayCharge: ...

    async def transfer(
        self,
        *,
        vendor: str,
        reference: str,
        amount_minor: int,
        currency: str,
        recipient: Mapping[str, str],
        metadata: Mapping[str, Any],
    ) -> GatewayTransfer: ...

    async def verify(self, *, vendor: str, reference: str) -> GatewayVerification:
        """Raises GatewayNotFound when the gateway never saw ``reference``."""
        ...


class CommunicationGateway(Protocol):
    async def send_sms(self, *, to: str, message: str, reference: str) -> str:
        """Returns the gateway's message id."""
        ...

    async def send_email(self, *, to: str, subject: str, text: str, reference: str) -> str:
        """Returns the gateway's message id."""
        ...
