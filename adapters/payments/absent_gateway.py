"""The gateway of a process that has none: no ONASIS_GATEWAY_URL, and it is not the process that runs
the sandbox (one service other than payments, or a worker). Its services never call the gateway; if a
call comes anyway it fails as a gateway that created nothing, so nothing is recorded as sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from tools.payments.ports import GatewayCharge, GatewayNotAccepted, GatewayTransfer, GatewayVerification

__all__ = ["AbsentGateway"]

_WHY = (
    "no payment gateway in this process: set ONASIS_GATEWAY_URL, or run payments in "
    "`caas serve --service payments` or the composed `caas serve`"
)


class AbsentGateway:
    """``PaymentGateway`` and ``CommunicationGateway`` that refuse every call."""

    simulated = True  # no money can move through it
    base_url = ""

    async def aclose(self) -> None:
        return None

    async def detect_sandbox(self) -> bool:
        return True

    def _refuse(self) -> NoReturn:
        raise GatewayNotAccepted(_WHY, code="no_gateway")

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
        self._refuse()

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
        self._refuse()

    async def verify(self, *, vendor: str, reference: str) -> GatewayVerification:
        self._refuse()

    async def send_sms(self, *, to: str, message: str, reference: str) -> str:
        self._refuse()

    async def send_email(self, *, to: str, subject: str, text: str, reference: str) -> str:
        self._refuse()
