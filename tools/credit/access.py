"""Who may see which application: policy over the domain record and the caller."""

from __future__ import annotations

from tools.credit.domain.applications import ApplicationRecord
from tools.platform.principal import Principal, Role

__all__ = ["can_view", "visibility_filter"]


def can_view(principal: Principal, app: ApplicationRecord) -> bool:
    """Borrowers see their own, agents those they filed, staff everything; providers nothing yet."""
    if principal.is_staff:
        return True
    if principal.role is Role.BORROWER:
        return app.borrower_id == principal.subject
    if principal.role is Role.AGENT:
        return app.created_by == principal.subject
    return False


def visibility_filter(principal: Principal) -> tuple[str | None, str | None]:
    """(borrower_id, created_by) constraints a listing must apply for this principal."""
    if principal.role is Role.BORROWER:
        return principal.subject, None
    if principal.role is Role.AGENT:
        return None, principal.subject
    return None, None
