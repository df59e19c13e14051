"""Error results a schema-validating client accepts (issue 11, item 11).

MCP Inspector 2.12 and the TypeScript SDK validate ``structuredContent`` against the tool's
``outputSchema``; an error result that carried ``{"error": ...}`` there failed that check, so they
showed "data must have required property 'id'" instead of the message. An error result now has
``isError``, the text ``"<code>: <message>"``, the code in ``_meta["caas/error_code"]`` and no
``structuredContent`` (the specification lets an ``isError`` result omit it).
"""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema
from fastmcp import Client

from tests.helpers.common import application
from tests.helpers.errors import error_of
from tools.platform.principal import Role

SUBMIT = "credit_submit_application"
GET = "credit_get_application"
WITHDRAW = "credit_withdraw_application"


def check_against_output_schema(result: Any, schema: dict[str, Any] | None) -> None:
    """What a schema-validating client does with a result: its structuredContent, when present, must
    be valid against the tool's outputSchema."""
    if result.structured_content is not None and schema is not None:
        jsonschema.validate(result.structured_content, schema, cls=jsonschema.Draft202012Validator)


async def test_every_error_a_caller_can_provoke_is_valid_for_a_schema_validating_client(
    client: Client, principal: Any
) -> None:
    principal(f"b-{uuid.uuid4().hex[:10]}", Role.BORROWER)
    schemas = {t.name: t.output_schema for t in await client.list_tools()}
    filed = await client.call_tool(SUBMIT, {"application": application()})
    check_against_output_schema(filed, schemas[SUBMIT])  # the check itself bites on a real result
    await client.call_tool(WITHDRAW, {"application": filed.structured_content["id"]})
    provoked = {
        "invalid_argument": [
            (GET, {"application": ""}),
            (SUBMIT, {"application": {**application(), "requested_amount": "lots"}}),
            (GET, {"application": "CAAS-1", "extra": True}),
        ],
        "not_found": [(GET, {"application": "CAAS-1999-000001"}), ("credit_no_such_tool", {})],
        "permission_denied": [("credit_expire_stale_applications", {})],
        "conflict": [(WITHDRAW, {"application": filed.structured_content["id"]})],
    }
    for code, calls in provoked.items():
        for tool, args in calls:
            result = await client.call_tool(tool, args, raise_on_error=False)
            check_against_output_schema(result, schemas.get(tool))
            error = error_of(result)  # isError, no structuredContent, code in _meta and leading the text
            assert error is not None and error["code"] == code, (tool, args, result.content)
            assert result.meta is not None and result.meta["caas/error_code"] == code
            assert len(error["message"]) > 10, error
