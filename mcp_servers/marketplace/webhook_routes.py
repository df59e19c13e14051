"""Lenders' webhooks into the platform: ``POST /webhooks/providers/{provider_id}``, signed with the
provider's own secret (``X-CaaS-Signature`` over ``X-CaaS-Timestamp`` and the body; the secret a
rotation replaced is accepted during its overlap). What they do is
``tools.marketplace.provider_events``; the checks before it are those of every inbound webhook
(``mcp_servers.platform.webhooks``)."""

from __future__ import annotations

import time
from uuid import UUID

from fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from database.unit_of_work import retry_transient
from mcp_servers.platform.request_context import client_ip_of, request_id_of
from mcp_servers.platform.webhooks import answer, bad, parse_json, raw_body, refused, until_the_client_leaves
from mcp_servers.runtime import Runtime
from tools.marketplace.provider_events import receive_provider_event
from tools.marketplace.providers import provider_signing_secrets
from tools.platform.domain.bounded_json import content_sha256, one_line
from tools.platform.domain.signatures import check_caas
from tools.platform.errors import NotFound, Unavailable

__all__ = ["register_provider_webhook_route"]


def register_provider_webhook_route(server: FastMCP, runtime: Runtime) -> None:
    @server.custom_route("/webhooks/providers/{provider_id}", methods=["POST"])
    @until_the_client_leaves
    async def provider(request: Request) -> Response:
        source = "provider"
        body = await raw_body(request)
        if body is None:
            return JSONResponse({"error": "payload_too_large"}, status_code=413)
        try:
            provider_id = UUID(str(request.path_params["provider_id"]))
            secrets = await provider_signing_secrets(runtime.deps.marketplace, provider_id)
        except (ValueError, NotFound):
            return refused(source, "unknown_provider")  # the same 401 as a bad signature
        # The secret a rotation replaced is accepted during its overlap: the lender deploys the new
        # one when it can. Every secret is checked (no early exit), the current one's verdict kept.
        verdicts = [
            check_caas(
                body,
                request.headers.get("x-caas-signature"),
                request.headers.get("x-caas-timestamp"),
                secret,
                int(time.time()),
            )
            for secret in secrets
        ]
        verdict = next((v for v in verdicts if v.ok), verdicts[0])
        if not verdict.ok:
            return refused(source, verdict)
        try:
            event = parse_json(body)
            if not isinstance(event, dict):
                raise ValueError("the event is a JSON object")
            event_id, event_type, data = event.get("id"), event.get("type"), event.get("data", {})
            if not isinstance(event_id, str) or not 1 <= len(event_id) <= 200 or not one_line(event_id):
                raise ValueError("id (1 to 200 characters, no control characters) is required")
            if not isinstance(event_type, str) or not 1 <= len(event_type) <= 100 or not one_line(event_type):
                raise ValueError("type (1 to 100 characters, no control characters) is required")
            if not isinstance(data, dict):
                raise ValueError("data must be an object")
        except ValueError as exc:
            return bad(source, str(exc))
        try:  # a deadlock victim runs again (database.unit_of_work); the lender redelivers otherwise
            receipt = await retry_transient(
                lambda: receive_provider_event(
                    runtime.deps.payments,
                    runtime.deps.marketplace,
                    provider_id,
                    event_id,
                    event_type,
                    data,
                    content_sha256(event),
                    request_id_of(request.headers),
                    client_ip_of(request),
                )
            )
        except Unavailable:
            return JSONResponse({"error": "busy", "retry": True}, status_code=503)
        return answer(source, receipt, event_id)
