"""Use cases for KYC documents: request an upload, register the uploaded file, list, verify or reject."""

from __future__ import annotations

import uuid

from tools.credit.access import can_view
from tools.credit.domain.applications import ApplicationRecord
from tools.credit.domain.documents import (
    MAX_DOCUMENT_UPLOADS,
    DocumentRecord,
    DocumentStatus,
    NewDocument,
    NewUpload,
    UploadRecord,
    UploadStatus,
)
from tools.credit.domain.kyc import kyc_status
from tools.credit.domain.lifecycle import TERMINAL, ApplicationStatus
from tools.credit.lifecycle import not_found
from tools.credit.models.documents import (
    DocumentList,
    DocumentView,
    KycView,
    RegisterDocument,
    RequestDocumentUpload,
    UploadInstructions,
    VerifyDocument,
)
from tools.credit.ports import (
    CreditDeps,
    FileCheck,
)
from tools.platform.cursor import decode_cursor, encode_cursor, keyset
from tools.platform.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from tools.platform.ports import Invocation, OutboxEvent
from tools.platform.principal import Principal

__all__ = [
    "decided_event",
    "list_documents",
    "register_document",
    "registered_event",
    "request_document_upload",
    "verify_document",
]


async def _application(deps: CreditDeps, principal: Principal, handle: str) -> ApplicationRecord:
    app = await deps.applications.get(handle)
    # Someone else's application is reported exactly like a missing one, so ids cannot be probed.
    if app is None or not can_view(principal, app):
        raise not_found(handle)
    return app


def _check_size(deps: CreditDeps, size_bytes: int) -> None:
    if size_bytes > deps.document_max_bytes:
        raise InvalidArgument(
            f"size_bytes: {size_bytes} bytes is over the {deps.document_max_bytes}-byte limit for a "
            "document; send a smaller scan or compress the file, then call again"
        )


def _uploads_used_up(app: ApplicationRecord) -> Conflict:
    return Conflict(
        f"{app.reference} has already asked for {MAX_DOCUMENT_UPLOADS} document uploads, the most one "
        "application may; register the files already uploaded (list_documents shows what is there), "
        "or ask an operator to review the application"
    )


async def request_document_upload(
    deps: CreditDeps, call: Invocation, cmd: RequestDocumentUpload
) -> UploadInstructions:
    """Issue a place to upload one file and store the pending upload with its audit row."""
    _check_size(deps, cmd.size_bytes)
    app = await _application(deps, call.principal, cmd.application)
    if ApplicationStatus(app.status) in TERMINAL:
        raise Conflict(f"{app.reference} is {app.status}; documents can no longer be added to it")
    # Before the storage makes a place for the file: a refused request leaves nothing behind.
    if app.document_uploads >= MAX_DOCUMENT_UPLOADS:
        raise _uploads_used_up(app)
    upload_id = uuid.uuid4()
    object_path = f"{app.id}/{upload_id}/{cmd.file_name}"
    # Outside the transaction: a slow storage API must not hold a database connection.
    target = await deps.store.upload_target(object_path, cmd.media_type.value)
    new = NewUpload(
        id=upload_id,
        application_id=app.id,
        document_type=cmd.document_type.value,
        file_name=cmd.file_name,
        media_type=cmd.media_type.value,
        size_bytes=cmd.size_bytes,
        storage=target.storage,
        object_path=object_path,
        requested_by=call.principal.subject,
        requested_by_role=call.principal.role.value,
        expires_at=target.expires_at,
    )
    async with deps.uow(single_statement=True) as uow:
        upload = await uow.documents.insert_upload(new, call, at_most=MAX_DOCUMENT_UPLOADS)
    if upload is None:  # concurrent requests took the last of the allowance since it was read
        raise _uploads_used_up(app)
    if target.url is not None:
        how = f"PUT the file's bytes to upload_url with Content-Type: {upload.media_type}"
    else:
        how = f"write the file to local_path ({upload.size_bytes} bytes exactly)"
    return UploadInstructions(
        upload_id=upload.id,
        application_id=app.id,
        reference=app.reference,
        document_type=cmd.document_type,
        media_type=cmd.media_type,
        size_bytes=upload.size_bytes,
        storage="supabase" if target.storage == "supabase" else "local",
        object_path=object_path,
        upload_url=target.url,
        local_path=target.local_path,
        expires_at=upload.expires_at,
        next_step=f"{how} before expires_at, then call register_document with this upload_id as "
        "upload, size_bytes, media_type and the file's SHA-256",
    )


async def _upload_to_register(
    deps: CreditDeps, principal: Principal, cmd: RegisterDocument
) -> tuple[UploadRecord, ApplicationRecord]:
    if cmd.upload_id is not None:
        upload = await deps.documents.get_upload(cmd.upload_id)
        app = await deps.applications.get(str(upload.application_id)) if upload else None
        if upload is None or app is None or not can_view(principal, app):
            raise NotFound(
                f"no upload '{cmd.upload_id}' that you can see; send the upload_id that "
                "request_document_upload returned as upload"
            )
        return upload, app
    assert cmd.application is not None and cmd.document_type is not None  # the model guarantees it
    app = await _application(deps, principal, cmd.application)
    pending = await deps.documents.pending_uploads(app.id, cmd.document_type.value)
    if not pending:
        raise NotFound(
            f"application {app.reference} has no pending {cmd.document_type} upload; "
            "call request_document_upload first and upload the file"
        )
    if len(pending) > 1:
        raise Conflict(
            f"application {app.reference} has {len(pending)} pending {cmd.document_type} uploads; "
            "pass the upload_id of the one you uploaded as upload"
        )
    return pending[0], app


async def _check_file(deps: CreditDeps, upload: UploadRecord, cmd: RegisterDocument) -> None:
    if cmd.media_type.value != upload.media_type or cmd.size_bytes != upload.size_bytes:
        raise InvalidArgument(
            f"the upload was requested for {upload.size_bytes} bytes of {upload.media_type}; register "
            "those values, or request a new upload for a different file"
        )
    if upload.storage != deps.store.kind:
        raise InvalidArgument(
            f"this upload went to the {upload.storage} store but this server now uses {deps.store.kind}; "
            "request a new upload"
        )
    found = await deps.store.check(upload.object_path, cmd.size_bytes, cmd.sha256)
    if found is FileCheck.MISSING:
        raise InvalidArgument(
            f"there is no file at {upload.object_path} yet; upload it as request_document_upload said, "
            "then call again"
        )
    if found is FileCheck.SIZE_MISMATCH:
        raise InvalidArgument(
            "size_bytes does not match the uploaded file; upload the complete file, or send its real size"
        )
    if found is FileCheck.HASH_MISMATCH:
        raise InvalidArgument(
            "sha256 does not match the uploaded file; hash the exact bytes you uploaded (sha256sum) "
            "and call again"
        )


def _duplicate(existing: DocumentRecord) -> Conflict:
    return Conflict(
        f"this application already has this file as document {existing.id} "
        f"({existing.document_type}, {existing.status}); the same file is registered once"
    )


def registered_event(doc: DocumentRecord) -> OutboxEvent:
    """The event ``DocumentWriter.register`` writes, in SQL, from the stored document."""
    return OutboxEvent(
        aggregate_type="document",
        aggregate_id=str(doc.id),
        event_type="document.registered",
        payload={
            "document_id": str(doc.id),
            "application_id": str(doc.application_id),
            "document_type": doc.document_type,
            "status": doc.status,
            "media_type": doc.media_type,
            "size_bytes": doc.size_bytes,
            "registered_by": doc.registered_by,
            "registered_at": doc.registered_at.isoformat(),
        },
    )


async def register_document(deps: CreditDeps, call: Invocation, cmd: RegisterDocument) -> DocumentView:
    """Check the uploaded file against its declared size and hash, then store it as pending review."""
    _check_size(deps, cmd.size_bytes)
    upload, app = await _upload_to_register(deps, call.principal, cmd)
    if upload.status != UploadStatus.PENDING:
        raise Conflict(f"upload {upload.id} is already registered; call list_documents to see the document")
    await _check_file(deps, upload, cmd)
    existing = await deps.documents.find_by_sha256(app.id, cmd.sha256)
    if existing is not None:
        raise _duplicate(existing)
    new = NewDocument(
        application_id=app.id,
        upload_id=upload.id,
        document_type=upload.document_type,
        file_name=upload.file_name,
        media_type=upload.media_type,
        size_bytes=upload.size_bytes,
        storage=upload.storage,
        object_path=upload.object_path,
        sha256=cmd.sha256,
        uploaded_by=upload.requested_by,
        registered_by=call.principal.subject,
        registered_by_role=call.principal.role.value,
    )
    async with deps.uow(single_statement=True) as uow:
        doc = await uow.documents.register(upload.id, new, call)
    if doc is None:
        raise Conflict(f"upload {upload.id} was registered meanwhile; call list_documents to see it")
    return _view(doc)


async def list_documents(
    deps: CreditDeps, principal: Principal, handle: str, limit: int, cursor: str | None = None
) -> DocumentList:
    app = await _application(deps, principal, handle)
    scope = keyset("documents", application=app.id)
    after = decode_cursor(scope, cursor) if cursor else None
    rows = await deps.documents.list_for_application(app.id, after, limit + 1)
    docs, more = rows[:limit], len(rows) > limit
    # The whole application's verified types, not the page's: KYC does not depend on where a page ends.
    kyc = kyc_status(await deps.documents.verified_document_types(app.id))
    return DocumentList(
        application_id=app.id,
        reference=app.reference,
        documents=[_view(d) for d in docs],
        kyc=KycView(identity_verified=kyc.identity_verified, income_verified=kyc.income_verified),
        next_cursor=encode_cursor(scope, docs[-1].registered_at, docs[-1].id) if more else None,
    )


def decided_event(doc: DocumentRecord) -> OutboxEvent:
    """The event ``DocumentWriter.decide`` writes, in SQL, from the decided document."""
    # The reason stays out: free text may carry personal data, and events leave the system of record.
    return OutboxEvent(
        aggregate_type="document",
        aggregate_id=str(doc.id),
        event_type=f"document.{doc.status}",
        payload={
            "document_id": str(doc.id),
            "application_id": str(doc.application_id),
            "document_type": doc.document_type,
            "status": doc.status,
            "decided_by": doc.decided_by,
            "decided_at": doc.decided_at.isoformat() if doc.decided_at else None,
        },
    )


async def verify_document(deps: CreditDeps, call: Invocation, cmd: VerifyDocument) -> DocumentView:
    """Record the one decision on a pending document; its uploader and registrant may not decide."""
    me = call.principal
    async with deps.uow() as uow:
        # The application in the lock's statement: no second pooled connection while this one is held.
        locked = await uow.documents.lock(cmd.document_id)
        if locked is None or not can_view(me, locked[1]):
            raise NotFound(f"no document '{cmd.document_id}'; call list_documents to find its id")
        doc, app = locked
        if me.subject in (doc.uploaded_by, doc.registered_by):
            raise PermissionDenied(
                "you uploaded or registered this document, so another operator must decide on it "
                "(maker-checker)"
            )
        if me.subject == app.borrower_id:
            raise PermissionDenied("you cannot decide on the documents of your own application")
        if doc.status != DocumentStatus.PENDING:
            raise Conflict(
                f"document {doc.id} is already {doc.status} (by {doc.decided_by}); a document is decided "
                "once: ask the borrower to upload a new file instead"
            )
        decided = await uow.documents.decide(doc.id, cmd.decision, me, cmd.reason, call)
    return _view(decided)


def _view(doc: DocumentRecord) -> DocumentView:
    return DocumentView.model_validate(
        {
            "id": doc.id,
            "application_id": doc.application_id,
            "upload_id": doc.upload_id,
            "document_type": doc.document_type,
            "status": doc.status,
            "file_name": doc.file_name,
            "media_type": doc.media_type,
            "size_bytes": doc.size_bytes,
            "sha256_prefix": doc.sha256[:12],
            "registered_by": doc.registered_by,
            "registered_at": doc.registered_at,
            "decided_by": doc.decided_by,
            "decided_at": doc.decided_at,
            "decision_reason": doc.decision_reason,
        }
    )
