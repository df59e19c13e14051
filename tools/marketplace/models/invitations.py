"""Output of a provider's decision on its invitation to bid."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from tools.marketplace.domain.providers import InvitationStatus
from tools.platform.models import Output

__all__ = ["DeclinedInvitation"]


class DeclinedInvitation(Output):
    application_id: UUID
    reference: str
    provider_id: UUID
    status: InvitationStatus = Field(description="Always declined.")
    already_declined: bool = Field(
        description="True when the invitation had been declined before: this call changed nothing "
        "(no second event, the decision counted once)."
    )
