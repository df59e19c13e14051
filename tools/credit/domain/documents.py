"""KYC documents as the domain sees them: what may be uploaded, and the records that get stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_DOCUMENT_UPLOADS",
    "DocumentRecord",
    "DocumentStatus",
    "DocumentType",
    "MediaType",
    "NewDocument",
    "NewUpload",
    "UploadRecord",
    "UploadStatus",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # 10 MiB; CAAS_DOCUMENT_MAX_BYTES overrides it
# The uploads one application may ask for, ever: far above what KYC needs (five kinds of document,
# a year of monthly bank statements, retries of expired uploads and rejected scans), and a bound on
# the rows and files one caller can make under one application.
MAX_DOCUMENT_UPLOADS = 50


class DocumentType(StrEnum):
    NATIONAL_ID = "national_id"
    PASSPORT = "passport"
    PROOF_OF_INCOME = "proof_of_income"
    BANK_STATEMENT = "bank_statement"
    PROOF_OF_ADDRESS = "proof_of_address"


class MediaType(StrEnum):
    PDF = "application/pdf"
    JPEG = "image/jpeg"
    PNG = "image/png"


class UploadStatus(StrEnum):
    PENDING = "pending"  # issued; the file may or may not be there yet
    REGISTERED = "registered"  # a document was registered from it; it cannot be used again


class DocumentStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class NewUpload:
    id: UUID
    application_id: UUID
    document_type: str
    file_name: str
    media_type: str
    size_bytes: int
    storage: str
    object_path: str
    requested_by: str
    requested_by_role: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class UploadRecord(NewUpload):
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewDocument:
    application_id: UUID
    upload_id: UUID
    document_type: str
    file_name: str
    media_type: str
    size_bytes: int
    storage: str
    object_path: str
    sha256: str
    uploaded_by: str
    registered_by: str
    registered_by_role: str


@dataclass(frozen=True, slots=True)
class DocumentRecord(NewDocument):
    id: UUID
    status: str
    registered_at: datetime
    decided_by: str | None
    decided_by_role: str | None
    decided_at: datetime | None
    decision_reason: str | None
    updated_at: datetime
    version: int
