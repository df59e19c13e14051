"""Who is calling: every use case receives a Principal and decides what it may see and do."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Principal", "Role"]


class Role(StrEnum):
    BORROWER = "borrower"
    AGENT = "agent"
    PROVIDER = "provider"
    OPERATOR = "operator"
    ADMIN = "admin"
    SERVICE = "service"


# Roles that see every application. Borrowers see their own, agents the ones they filed.
STAFF_ROLES = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role
    provider_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES
