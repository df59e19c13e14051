"""Supabase Storage for KYC files through supabase-py's async storage client (storage3): signed upload
URLs, and the uploaded object checked against its declared size and SHA-256.

- ``upload_target``: storage3's ``create_signed_upload_url`` (``POST /storage/v1/object/upload/sign/
  {bucket}/{path}`` with the service-role key); the client PUTs the file to the signed URL within two
  hours. The key never leaves this module: clients only get the signed URL for one object.
- ``check``: storage3's ``info`` (``GET /storage/v1/object/info/{bucket}/{path}``) says whether the
  object exists and its size; then its bytes are read back and hashed. That read is the one
  hand-written call (``GET /storage/v1/object/authenticated/{bucket}/{path}``, streamed): Storage keeps
  no SHA-256 of an object (its ETag is an MD5, and not even that for multipart uploads), and
  storage3's ``download`` returns the whole object as one ``bytes``, where streaming keeps one chunk in
  memory and stops as soon as more bytes arrive than were declared.

Both go through our own httpx client, so every call has the configured timeouts.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException
from supabase import AsyncClient, AsyncClientOptions

from adapters.platform.http import HttpClient
from tools.credit.ports import FileCheck, UploadTarget
from tools.platform.errors import Unavailable

__all__ = ["SIGNED_UPLOAD_VALIDITY", "SupabaseStorage"]

log = logging.getLogger("caas.adapters.supabase_storage")

SIGNED_UPLOAD_VALIDITY = timedelta(hours=2)  # fixed by Supabase for signed upload URLs

# What Storage answers for an object that is not there (storage3's own ``exists`` reads it the same
# way); a missing bucket is also a 404 but names the bucket, and is a configuration error.
_NO_SUCH_OBJECT = {"not_found", "NoSuchKey", "InternalError"}


class SupabaseStorage:
    kind = "supabase"

    def __init__(
        self, supabase_url: str, service_role_key: str, bucket: str, *, timeout: float = 10.0
    ) -> None:
        self._bucket_name = bucket
        self._timeout = timeout
        self._http = HttpClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), follow_redirects=False
        )
        client = AsyncClient(
            supabase_url,
            service_role_key,
            AsyncClientOptions(httpx_client=self._http, auto_refresh_token=False, persist_session=False),
        )
        self._bucket = client.storage.from_(bucket)
        self._storage_url = str(client.storage_url)  # ends with /storage/v1/
        self._auth = {"apikey": service_role_key, "Authorization": f"Bearer {service_role_key}"}

    async def upload_target(self, object_path: str, media_type: str) -> UploadTarget:
        try:
            signed = await self._bucket.create_signed_upload_url(object_path)
        except StorageApiError as exc:
            log.warning("Supabase Storage refused to sign an upload: HTTP %s %s", exc.status, exc.code)
            raise Unavailable(
                f"Supabase Storage refused to sign the upload (HTTP {exc.status}); nothing was stored. Retry "
                "later; if it persists, the operator should check the storage bucket and key"
            ) from None
        except (StorageException, AttributeError, KeyError, TypeError, ValueError):
            # No token in the answer (storage3 says so), or no JSON with a "url" at all.
            log.warning("Supabase Storage answered a sign request without a signed URL")
            raise Unavailable(
                "Supabase Storage answered without a signed upload URL; retry in a few seconds"
            ) from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc, "nothing was stored, retry in a few seconds") from None
        return UploadTarget(
            storage=self.kind,
            object_path=object_path,
            expires_at=datetime.now(UTC) + SIGNED_UPLOAD_VALIDITY,
            url=signed["signed_url"],
        )

    async def check(self, object_path: str, size_bytes: int, sha256: str) -> FileCheck:
        try:
            info = await self._bucket.info(object_path)
        except StorageApiError as exc:
            if str(exc.status) == "404" and exc.code in _NO_SUCH_OBJECT:
                return FileCheck.MISSING
            log.warning("Supabase Storage refused to describe an object: HTTP %s %s", exc.status, exc.code)
            raise Unavailable(
                f"Supabase Storage refused to describe the uploaded file (HTTP {exc.status}); retry later"
            ) from None
        except ValueError:  # not JSON
            raise Unavailable("Supabase Storage answered without the file's details; retry later") from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc, "register the document again in a few seconds") from None
        size = info.get("size") if isinstance(info, dict) else None
        if isinstance(size, int) and size != size_bytes:
            return FileCheck.SIZE_MISMATCH
        return await self._compare_content(object_path, size_bytes, sha256)

    async def _compare_content(self, object_path: str, size_bytes: int, sha256: str) -> FileCheck:
        # Hand-written (see the module docstring): a streamed read, hashed as it arrives.
        path = "/".join(quote(part, safe="") for part in object_path.split("/"))
        url = f"{self._storage_url}object/authenticated/{quote(self._bucket_name, safe='')}/{path}"
        digest = hashlib.sha256()
        read = 0
        try:
            async with self._http.stream("GET", url, headers=self._auth) as response:
                if response.status_code == 404:
                    return FileCheck.MISSING  # removed since it was described
                if response.status_code != 200:
                    log.warning(
                        "Supabase Storage refused to read an object back: HTTP %d", response.status_code
                    )
                    raise Unavailable(
                        "Supabase Storage refused to read the uploaded file back "
                        f"(HTTP {response.status_code}); retry later"
                    )
                async for chunk in response.aiter_bytes():
                    read += len(chunk)
                    if read > size_bytes:
                        return FileCheck.SIZE_MISMATCH
                    digest.update(chunk)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc, "register the document again in a few seconds") from None
        if read != size_bytes:
            return FileCheck.SIZE_MISMATCH
        return FileCheck.MATCHES if digest.hexdigest() == sha256.lower() else FileCheck.HASH_MISMATCH

    async def ping(self) -> None:
        """Raise Unavailable unless Storage answers for the bucket with this key (readiness)."""
        url = f"{self._storage_url}bucket/{quote(self._bucket_name, safe='')}"
        try:
            response = await self._http.get(url, headers=self._auth)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc, "retry in a few seconds") from None
        if response.status_code != 200:
            raise Unavailable(f"Supabase Storage refused the bucket (HTTP {response.status_code})")

    def _unreachable(self, exc: httpx.HTTPError, then: str) -> Unavailable:
        if isinstance(exc, httpx.TimeoutException):
            log.warning("Supabase Storage did not answer within %ss", self._timeout)
            return Unavailable(f"Supabase Storage did not answer in time; {then}")
        log.warning("Supabase Storage is unreachable: %s", type(exc).__name__)
        return Unavailable(f"Supabase Storage is not reachable; {then}")

    async def aclose(self) -> None:
        await self._http.aclose()
