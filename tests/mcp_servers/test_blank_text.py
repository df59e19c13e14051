"""Human text counts only what is not blank: a reason of twelve spaces (or ideographic or no-break
spaces) passed a 10-character minimum, and admin_reverse_journal then failed as ``internal`` (a probe's
find); withdraw_bid, suspend_provider, close_bidding, withdraw_application and support messages stored
such reasons as given. Lines and free text are stripped before their length is checked
(tools.platform.models), which every tool's text field shares: the guard below walks them all."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastmcp import Client

from mcp_servers.catalog import GOLDEN
from tests.helpers.errors import error_code, error_message
from tools.platform.models import FREE_TEXT_PATTERN, LINE_PATTERN
from tools.platform.principal import Role

BLANKS = (" ", "\u3000", "\u00a0", " \t\n")
INVISIBLES = ("\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", " \u200b")


def _human_text_fields() -> list[tuple[str, str, int, str]]:
    """(tool, field, its minimum length, a role that may call it) for every top-level line or free-text
    field with a minimum, read from the tools as served (docs/tools.json)."""
    found = []
    for name, tool in json.loads(GOLDEN.read_text())["tools"].items():
        roles = tool["_meta"]["caas/roles"]
        for field, schema in (tool["inputSchema"].get("properties") or {}).items():
            for form in [schema, *schema.get("anyOf", [])]:
                if form.get("pattern") in (LINE_PATTERN, FREE_TEXT_PATTERN) and form.get("minLength"):
                    found.append((name, field, form["minLength"], roles[0]))
    return found


FIELDS = _human_text_fields()
IDS = [f"{tool}.{field}" for tool, field, _, _ in FIELDS]


def test_the_guard_sees_the_reasons_and_messages() -> None:
    assert len(FIELDS) >= 12
    assert ("admin_reverse_journal", "reason", 10, "admin") in FIELDS


@pytest.mark.parametrize(("tool", "field", "least", "role"), FIELDS, ids=IDS)
async def test_a_blank_text_is_refused_as_too_short_naming_its_field(
    client: Client, principal: Any, tool: str, field: str, least: int, role: str
) -> None:
    principal(f"blank-{uuid.uuid4().hex[:8]}", Role(role))
    for blank in BLANKS:
        value = (blank * (least + 2))[: max(least, 12)]
        result = await client.call_tool(tool, {field: value}, raise_on_error=False)
        said = str(error_message(result))
        assert error_code(result) == "invalid_argument", (tool, field, result.content)
        assert f"{field}: " in said and "at least" in said, (tool, field, blank, said)
    # Nor is text of zero-width spaces, joiners, marks or a BOM alone, whatever its length: it reads blank.
    for invisible in INVISIBLES:
        result = await client.call_tool(tool, {field: invisible * max(least, 12)}, raise_on_error=False)
        said = str(error_message(result))
        assert error_code(result) == "invalid_argument", (tool, field, invisible, result.content)
        assert f"{field}: " in said and "invisible" in said, (tool, field, invisible, said)
