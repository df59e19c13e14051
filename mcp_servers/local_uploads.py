"""``PUT /documents/uploads/{upload_id}``: a file's bytes into the local document store, over HTTP.

On the embedded default request_document_upload names a local path, which a browser cannot write; the
borrower's page (``/app/``) sends the bytes here instead, with the same bearer token as ``/mcp``, so the
same principal, role gate and application visibility apply (tools.credit.local_uploads). With Supabase
Storage configured the tool returns a signed ``upload_url`` and this route answers 409. The body is read
up to the configured document size and no further.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from uuid import UUID

from fastmcp import FastMCP
from fastmcp.server.auth import AuthProvider
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.credit.local_store import LocalDocumentStore
from mcp_servers.credit.documents import PARTICIPANTS
from mcp_servers.platform.auth import PrincipalSource
from mcp_servers.platform.webhooks import raw_body, until_the_client_leaves
from tools.credit.local_uploads import receive_local_upload
from tools.platform.errors import DomainError

if TYPE_CHECKING:
    from mcp_servers.runtime import Runtime

__all__ = ["LocalUploads"]

log = logging.getLogger("caas.documents")
_STATUS = {"invalid_argument": 400, "not_found": 404, "conflict": 409, "permission_denied": 403}


def _refused(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


class LocalUploads:
    def __init__(self, runtime: Runtime, auth: AuthProvider) -> None:
        self._runtime = runtime
        self._auth = auth

    def install(self, server: FastMCP) -> None:
        server._additional_http_routes.append(
            Route("/documents/uploads/{upload_id}", until_the_client_leaves(self.put), methods=["PUT"])
        )

    async def put(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        access = None
        if scheme.lower() == "bearer" and token:
            try:
                access = await self._auth.verify_token(token.strip())
            except Exception:  # a token is input: whatever it holds, the answer is a refusal
                access = None
        if access is None or not access.claims:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "send Authorization: Bearer <token>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = PrincipalSource.from_claims(access.claims)
        if principal.role not in PARTICIPANTS:
            return _refused(
                403, "permission_denied", f"signed in as {principal.role}: you upload no documents"
            )
        try:
            upload_id = UUID(request.path_params["upload_id"])
        except ValueError:
            return _refused(404, "not_found", "no such upload; request one with request_document_upload")
        deps = self._runtime.deps.credit
        store = deps.store
        if not isinstance(store, LocalDocumentStore):
            return _refused(409, "conflict", "documents go to Supabase Storage: PUT to the upload_url")
        data = await raw_body(request, deps.document_max_bytes)
        if data is None:
            return _refused(413, "invalid_argument", f"a document is at most {deps.document_max_bytes} bytes")
        # Media types are case-insensitive (RFC 9110 8.3.1): "Application/PDF" is the PDF asked for.
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            size = await receive_local_upload(deps, store, principal, upload_id, media_type, data)
        except DomainError as exc:
            return _refused(_STATUS.get(exc.code, 400), exc.code, str(exc))
        log.info("local upload %s received (%d bytes)", upload_id, size)
        return JSONResponse({"upload_id": str(upload_id), "size_bytes": size})
