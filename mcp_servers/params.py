"""Tool parameter types that several tools share, each with the one description agents read.

A parameter that means the same thing in two tools is declared here once, so its limits and its
description cannot drift apart. Parameters that belong to one tool stay beside it.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from tools.loans.domain.prepay_choices import Prepay
from tools.platform.models import REFERENCE_PATTERN, Identifier

__all__ = [
    "BID_RENAMED",
    "PROVIDER_RENAMED",
    "ApplicationHandle",
    "BidId",
    "Cursor",
    "IdempotencyKey",
    "Limit",
    "LoanHandle",
    "OptionalIdempotencyKey",
    "PrepayChoice",
    "ProviderHandle",
    "renamed",
]

ApplicationHandle = Annotated[
    Identifier,
    Field(
        min_length=1,
        max_length=64,
        description="The application's id (UUID) or its CAAS-YYYY-NNNNNN reference.",
        examples=["CAAS-2026-000123"],
    ),
]
LoanHandle = Annotated[
    Identifier,
    Field(
        min_length=1,
        max_length=64,
        description="The loan's id, or its application's id or CAAS-YYYY-NNNNNN reference.",
        examples=["CAAS-2026-000123"],
    ),
]
BidId = Annotated[UUID, Field(description="The bid version's id (from place_bid, revise_bid or list_bids).")]
ProviderHandle = Annotated[
    Identifier, Field(min_length=1, max_length=64, description="The provider's id (UUID).")
]


def renamed(old: str, new: str, what: str) -> dict[str, str]:
    """Issue 11: a tool names an entity of ours by its noun (``provider``), not ``<noun>_id``. The old
    spelling is refused (``retired=``) with this message, naming the argument to send instead."""
    return {old: f"send {what} as {new}"}


# Shared by every tool taking a provider or a bid (a filter, or the one it acts on).
PROVIDER_RENAMED = renamed("provider_id", "provider", "the provider's id")
BID_RENAMED = renamed("bid_id", "bid", "the bid's id")


_KEY_PATTERN = REFERENCE_PATTERN
_KEY = (
    "The same key with the same arguments returns the first result (replayed: true) instead of acting "
    "twice; with other arguments it is a conflict; a concurrent duplicate waits for the first. Keys are "
    "yours alone and kept 24 hours: use a new UUID for each action you mean to take."
)
IdempotencyKey = Annotated[str, Field(min_length=8, max_length=200, pattern=_KEY_PATTERN, description=_KEY)]
OptionalIdempotencyKey = Annotated[
    str | None,
    Field(default=None, min_length=8, max_length=200, pattern=_KEY_PATTERN, description=_KEY),
]

Limit = Annotated[int, Field(ge=1, le=100, description="Page size.")]
Cursor = Annotated[
    Identifier | None, Field(default=None, max_length=200, description="next_cursor of the previous page.")
]
PrepayChoice = Annotated[
    Prepay | None,
    Field(
        default=None,
        description="The borrower's choice for money beyond what is due: reduce_term (principal comes off "
        "the last installments: the loan ends sooner) or reduce_installment (the installments still to come "
        "are recalculated lower). Leave out to pay the next installments in order, ahead of their dates.",
    ),
]
