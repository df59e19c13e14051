"""KYC document tools (the ``documents`` server): files for credit applications, uploaded, registered
and verified.

Documents prove identity (national_id, passport), income
(proof_of_income, bank_statement) and proof_of_address, as PDF, JPEG or PNG up to 10 MiB.
Flow: request_document_upload -> put the file where it says -> register_document with the file's
SHA-256 -> an operator verifies or rejects it (not the one who uploaded or registered it).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from mcp_servers.params import Cursor, Limit, renamed
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.credit import documents
from tools.credit.domain.documents import DocumentType, MediaType
from tools.credit.models.documents import (
    ApplicationHandle,
    Decision,
    DecisionReason,
    DocumentList,
    DocumentView,
    FileName,
    RegisterDocument,
    RequestDocumentUpload,
    Sha256Hex,
    SizeBytes,
    UploadInstructions,
    VerifyDocument,
)
from tools.platform.models import Identifier
from tools.platform.principal import Role

__all__ = ["TOOLS"]


# Borrowers act on their own applications, agents on those they filed; staff on all.
PARTICIPANTS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN})
DECIDERS = frozenset({Role.OPERATOR, Role.ADMIN})


DocType = Annotated[
    DocumentType,
    Field(
        description="What the file is: national_id, passport, proof_of_income, bank_statement or "
        "proof_of_address."
    ),
]
Media = Annotated[MediaType, Field(description="The file's media type; PDF, JPEG or PNG.")]
TOOLS = ToolSet()


@TOOLS.tool(roles=PARTICIPANTS, title="Request a document upload", read_only=False, open_world=True)
async def request_document_upload(
    application: ApplicationHandle,
    document_type: DocType,
    file_name: FileName,
    media_type: Media,
    size_bytes: SizeBytes,
) -> UploadInstructions:
    """Get a place to upload one KYC file for an application, before registering it.

    Use first when a borrower has a document to provide. Returns an ``upload_id`` and either a
    Supabase Storage signed ``upload_url`` (PUT the bytes there, Content-Type = media_type) or,
    on a server without Supabase, the exact ``local_path`` to write. Nothing is reviewed yet:
    call register_document with the upload_id and the file's SHA-256 once the file is there.
    Borrowers can upload for their own applications, agents for the ones they filed. One
    application may ask for 50 uploads in all.
    """
    cmd = RequestDocumentUpload(
        application=application,
        document_type=document_type,
        file_name=file_name,
        media_type=media_type,
        size_bytes=size_bytes,
    )
    return await documents.request_document_upload(deps().credit, invocation(), cmd)


@TOOLS.tool(
    roles=PARTICIPANTS,
    title="Register an uploaded document",
    read_only=False,
    open_world=True,
    retired=renamed("upload_id", "upload", "the upload_id from request_document_upload"),
)
async def register_document(
    size_bytes: SizeBytes,
    media_type: Media,
    sha256: Sha256Hex,
    upload: Annotated[
        UUID | None,
        Field(default=None, description="The upload_id from request_document_upload (preferred)."),
    ] = None,
    application: Annotated[
        Identifier | None,
        Field(
            default=None,
            min_length=1,
            max_length=64,
            description="Instead of upload: the application id or reference, with document_type; "
            "it must have exactly one pending upload of that type.",
        ),
    ] = None,
    document_type: Annotated[
        DocumentType | None, Field(default=None, description="With application, instead of upload.")
    ] = None,
) -> DocumentView:
    """Register an uploaded file as a document awaiting review (status ``pending``).

    Use after the file was uploaded where request_document_upload said. Give the upload (its upload_id; or
    the application and document_type), and the file's exact size, media type and SHA-256; a
    file in the local store must match them byte for byte. The same file (same SHA-256) is
    registered once per application: a second time is a conflict.
    """
    cmd = RegisterDocument(
        upload_id=upload,
        application=application,
        document_type=document_type,
        size_bytes=size_bytes,
        media_type=media_type,
        sha256=sha256,
    )
    return await documents.register_document(deps().credit, invocation(), cmd)


@TOOLS.tool(roles=PARTICIPANTS, title="List an application's documents", read_only=True, idempotent=True)
async def list_documents(
    application: ApplicationHandle, limit: Limit = 50, cursor: Cursor = None
) -> DocumentList:
    """List an application's KYC documents with their review status, oldest first, a page at a time.

    Use to see what was provided and what is still missing: each document's type, status
    (pending, verified, rejected), size, media type, SHA-256 prefix, who decided and when, and
    why a rejection happened; ``kyc`` says whether identity and income are verified (on every page,
    for the whole application). Pass ``next_cursor`` back as ``cursor``; it is null on the last
    page. Someone else's application answers not_found, exactly like one that does not exist.
    """
    return await documents.list_documents(deps().credit, principal(), application, limit, cursor)


@TOOLS.tool(
    roles=DECIDERS,
    title="Verify or reject a document",
    read_only=False,
    retired=renamed("document_id", "document", "the document's id"),
)
async def verify_document(
    document: Annotated[UUID, Field(description="The document's id from list_documents.")],
    decision: Annotated[Decision, Field(description="verified or rejected.")],
    reason: DecisionReason = None,
) -> DocumentView:
    """Decide on a pending document after looking at the file: ``verified`` or ``rejected``.

    Use when reviewing KYC. A rejection needs a reason the borrower can act on. A document is
    decided once; deciding again is a conflict that names the current status. Whoever uploaded
    or registered the document cannot decide on it (another operator must: maker-checker).
    """
    cmd = VerifyDocument(document_id=document, decision=decision, reason=reason)
    return await documents.verify_document(deps().credit, invocation(), cmd)
