"""The local document store's upload over HTTP: the embedded default's answer to a signed upload URL.

request_document_upload gives a local path on the embedded default, which a browser cannot write to.
The web page sends the file's bytes to ``PUT /documents/uploads/<upload_id>`` with its bearer token
instead (``mcp_servers.local_uploads``), and this use case checks them exactly as register_document
later will: only someone who may see the application, only a pending upload of the local store that has
not expired, the media type and the size it was requested for. The file is then registered as usual.
"""

from __future__ import annotations

from uuid import UUID

from tools.credit.access import can_view
from tools.credit.domain.documents import UploadStatus
from tools.credit.ports import CreditDeps, LocalFiles
from tools.platform.errors import Conflict, InvalidArgument, NotFound
from tools.platform.principal import Principal

__all__ = ["receive_local_upload"]


async def receive_local_upload(
    deps: CreditDeps, files: LocalFiles, principal: Principal, upload_id: UUID, media_type: str, data: bytes
) -> int:
    """Store the bytes of a pending local upload; returns how many were stored."""
    upload = await deps.documents.get_upload(upload_id)
    app = await deps.applications.get(str(upload.application_id)) if upload else None
    if upload is None or app is None or not can_view(principal, app):
        raise NotFound(f"no upload '{upload_id}' that you can see; request one with request_document_upload")
    if upload.status != UploadStatus.PENDING:
        raise Conflict(f"upload {upload_id} is {upload.status}; request a new upload for another file")
    if upload.expires_at <= deps.clock.now():
        raise Conflict(f"upload {upload_id} expired at {upload.expires_at.isoformat()}; request a new one")
    if upload.storage != "local" or deps.store.kind != "local":
        raise Conflict(f"upload {upload_id} goes to the {upload.storage} store: send it to its upload_url")
    if media_type != upload.media_type or len(data) != upload.size_bytes:
        raise InvalidArgument(
            f"the upload was requested for {upload.size_bytes} bytes of {upload.media_type}; this is "
            f"{len(data)} bytes of {media_type or 'no media type'}"
        )
    await files.write(upload.object_path, data)
    return len(data)
