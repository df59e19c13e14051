"""Who is calling: every use case receives a Principal and decides what it may see and do."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

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

    def __post_init__(self) -> None:
        # Provider ids are UUIDs compared as text across the code base and in SQL: one spelling
        # (canonical lower case) here means a token's upper-case id cannot make its own rows unseen.
        if self.provider_id is not None:
            try:
                canonical = str(UUID(self.provider_id))
            except ValueError:
                return  # not a UUID: matches no provider, and the use cases say so
            object.__setattr__(self, "provider_id", canonical)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES
