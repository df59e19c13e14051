"""Errors a use case raises on purpose. Each carries a stable code an agent can branch on."""

from __future__ import annotations

__all__ = [
    "Conflict",
    "DomainError",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "Unavailable",
]


class DomainError(Exception):
    """An expected failure. ``message`` says what was wrong and how to fix the call."""

    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    code = "invalid_argument"


class NotFound(DomainError):
    code = "not_found"


class PermissionDenied(DomainError):
    code = "permission_denied"


class Conflict(DomainError):
    code = "conflict"


class Unavailable(DomainError):
    code = "unavailable"
