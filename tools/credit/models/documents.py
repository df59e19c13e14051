"""Inputs and outputs of the KYC document tools."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from tools.credit.domain.documents import DocumentStatus, DocumentType, MediaType
from tools.platform.models import FreeText, Identifier, Input, Output

__all__ = [
    "ApplicationHandle",
    "Decision",
    "DecisionReason",
    "DocumentList",
    "DocumentView",
    "FileName",
    "KycView",
    "RegisterDocument",
    "RequestDocumentUpload",
    "Sha256Hex",
    "SizeBytes",
    "UploadInstructions",
    "VerifyDocument",
]

ApplicationHandle = Annotated[
    Identifier,
    Field(
        min_length=1,
        max_length=64,
        description="The application's id (UUID) or reference (CAAS-2026-000123).",
    ),
]
FileName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="The file's name, e.g. passport-scan.pdf: letters, digits, '.', '_' and '-' only "
        "(no spaces or slashes), starting with a letter or digit.",
    ),
]
SizeBytes = Annotated[
    int,
    Field(ge=1, description="The file's exact size in bytes; at most 10 MiB unless the operator changed it."),
]
Sha256Hex = Annotated[
    str,
    Field(
        min_length=64,
        max_length=64,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="SHA-256 of the file's bytes as 64 hex digits (sha256sum's output).",
    ),
]
Decision = Literal["verified", "rejected"]
DecisionReason = Annotated[
    FreeText | None,
    Field(
        default=None,
        min_length=3,
        max_length=500,
        description="Why: mandatory when rejecting (what the borrower must fix), optional when verifying.",
    ),
]


class RequestDocumentUpload(Input):
    application: ApplicationHandle
    document_type: DocumentType
    file_name: FileName
    media_type: MediaType
    size_bytes: SizeBytes


class RegisterDocument(Input):
    """Which upload (its id, or the application and type of its only pending upload) and its file."""

    upload_id: UUID | None = None
    application: Annotated[Identifier | None, Field(default=None, min_length=1, max_length=64)] = None
    document_type: DocumentType | None = None
    size_bytes: SizeBytes
    media_type: MediaType
    sha256: Sha256Hex

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @model_validator(mode="after")
    def _one_way_to_name_the_upload(self) -> Self:
        by_upload = self.upload_id is not None
        by_application = self.application is not None or self.document_type is not None
        if by_upload == by_application:
            raise ValueError(
                "name the upload either by upload alone, or by application and document_type together"
            )
        if not by_upload and (self.application is None or self.document_type is None):
            raise ValueError("application and document_type go together; give both, or give upload")
        return self


class VerifyDocument(Input):
    document_id: UUID
    decision: Decision
    reason: DecisionReason = None

    @model_validator(mode="after")
    def _reason_for_rejection(self) -> Self:
        if self.decision == "rejected" and not self.reason:
            raise ValueError(
                "a rejection needs a reason (3 to 500 characters) telling the borrower what to fix"
            )
        return self


class UploadInstructions(Output):
    upload_id: UUID = Field(description="Pass to register_document as upload once the file is uploaded.")
    application_id: UUID
    reference: str
    document_type: DocumentType
    media_type: MediaType
    size_bytes: int
    storage: Literal["supabase", "local"] = Field(description="Where the file goes.")
    object_path: str = Field(description="<application id>/<upload id>/<file name> inside the store.")
    upload_url: str | None = Field(
        description="Supabase Storage: the signed URL; PUT the file's bytes to it with Content-Type set "
        "to media_type. Null for the local store."
    )
    local_path: str | None = Field(
        description="Local store: the exact file path to write (its directory exists). Null for Supabase."
    )
    expires_at: datetime = Field(description="Upload before this time, then register the document.")
    next_step: str


class DocumentView(Output):
    id: UUID
    application_id: UUID
    upload_id: UUID
    document_type: DocumentType
    status: DocumentStatus
    file_name: str
    media_type: MediaType
    size_bytes: int
    sha256_prefix: str = Field(description="The first 12 hex digits of the file's SHA-256.")
    registered_by: str
    registered_at: datetime
    decided_by: str | None = Field(description="The operator or admin who verified or rejected it.")
    decided_at: datetime | None
    decision_reason: str | None = Field(description="Why it was rejected (or the verifier's note).")


class KycView(Output):
    identity_verified: bool = Field(description="A national_id or passport is verified.")
    income_verified: bool = Field(description="A proof_of_income or bank_statement is verified.")


class DocumentList(Output):
    application_id: UUID
    reference: str
    documents: list[DocumentView] = Field(description="This page of the documents, oldest first.")
    kyc: KycView
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")
