"""Which currencies this deployment can pay out and collect: those its payment routing table names
(``CAAS_PAYMENT_ROUTES``). An application or a lender in any other currency would go through scoring,
bidding, approval and origination only to fail at the payout, with a lender's capital reserved all the
while, so it is refused where it comes in."""

from __future__ import annotations

from collections.abc import Set

from tools.platform.errors import InvalidArgument

__all__ = ["check_payable"]


def check_payable(payable: Set[str] | None, currency: str, what: str) -> None:
    """InvalidArgument when ``currency`` cannot be paid here; ``payable`` None: any currency can."""
    if payable is None or currency in payable:
        return
    raise InvalidArgument(
        f"{what} is in {currency}, which this platform cannot pay out or collect: it pays "
        f"{', '.join(sorted(payable))} (CAAS_PAYMENT_ROUTES). Use one of those currencies"
    )
