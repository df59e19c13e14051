"""Supabase Storage over its HTTP API: signed upload URLs for KYC files.

Contract: ``POST {SUPABASE_URL}/storage/v1/object/upload/sign/{bucket}/{path}`` with the service-role
key as ``Authorization: Bearer`` and ``apikey`` answers ``{"url": "/object/upload/sign/<bucket>/<path>
?token=..."}``; the client then PUTs the file to that URL (under ``/storage/v1``) within two hours.
The key never leaves this module: clients only get the signed URL for one object.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from tools.errors import Unavailable
from tools.ports import FileCheck, UploadTarget

__all__ = ["SIGNED_UPLOAD_VALIDITY", "SupabaseStorage"]

log = logging.getLogger("caas.adapters.supabase_storage")

SIGNED_UPLOAD_VALIDITY = timedelta(hours=2)  # fixed by Supabase for signed upload URLs


class SupabaseStorage:
    kind = "supabase"

    def __init__(
        self,
        supabase_url: str,
        service_role_key: str,
        bucket: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base = supabase_url.rstrip("/") + "/storage/v1"
        self._bucket = bucket
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"Authorization": f"Bearer {service_role_key}", "apikey": service_role_key},
            follow_redirects=False,
            transport=transport,
        )

    async def upload_target(self, object_path: str, media_type: str) -> UploadTarget:
        path = "/".join(quote(part, safe="") for part in object_path.split("/"))
        endpoint = f"{self._base}/object/upload/sign/{quote(self._bucket, safe='')}/{path}"
        try:
            response = await self._client.post(endpoint)
        except httpx.TimeoutException:
            log.warning("Supabase Storage did not answer within %ss", self._timeout)
            raise Unavailable(
                "Supabase Storage did not answer in time; nothing was stored, retry in a few seconds"
            ) from None
        except httpx.HTTPError as exc:
            log.warning("Supabase Storage is unreachable: %s", type(exc).__name__)
            raise Unavailable(
                "Supabase Storage is not reachable; nothing was stored, retry in a few seconds"
            ) from None
        if response.status_code != 200:
            log.warning(
                "Supabase Storage refused to sign an upload: HTTP %d %s",
                response.status_code,
                _error_of(response),
            )
            raise Unavailable(
                f"Supabase Storage refused to sign the upload (HTTP {response.status_code}); nothing was "
                "stored. Retry later; if it persists, the operator should check the storage bucket and key"
            )
        url = self._signed_url(response)
        return UploadTarget(
            storage=self.kind,
            object_path=object_path,
            expires_at=datetime.now(UTC) + SIGNED_UPLOAD_VALIDITY,
            url=url,
        )

    def _signed_url(self, response: httpx.Response) -> str:
        try:
            body: Any = response.json()
            relative = body["url"]
        except (ValueError, KeyError, TypeError):
            relative = None
        if not isinstance(relative, str) or not parse_qs(urlsplit(relative).query).get("token"):
            log.warning("Supabase Storage answered a sign request without a signed URL")
            raise Unavailable("Supabase Storage answered without a signed upload URL; retry in a few seconds")
        return f"{self._base}/{relative.lstrip('/')}"

    async def check(self, object_path: str, size_bytes: int, sha256: str) -> FileCheck:
        # Reading the object back to hash it is not done yet: the registrant's size and hash stand,
        # and the operator who verifies the document looks at the file itself.
        return FileCheck.UNCHECKED

    async def aclose(self) -> None:
        await self._client.aclose()


def _error_of(response: httpx.Response) -> str:
    """Supabase's short error name, for the log; never the whole body."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error)[:80] if error else ""
