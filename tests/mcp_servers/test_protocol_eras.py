"""Both protocol eras get the same platform: the 2025-11-25 handshake era (``initialize``, a session)
and the 2026-07-28 era (self-contained requests). Tool tests run on the current era only; these tests
hold the transport's side of it: results, coded errors, roles, resources and progress, era by era.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastmcp import Client, FastMCP

from tests.helpers.common import application, error_code
from tools.platform.principal import Role

ERAS = [("2026-07-28", "2026-07-28"), ("legacy", "2025-11-25")]


@pytest.mark.parametrize(("mode", "version"), ERAS, ids=["modern", "legacy"])
async def test_each_era_gets_the_same_results_and_error_codes(
    server: FastMCP, principal: Any, mode: str, version: str
) -> None:
    principal(f"eras-{mode}", Role.BORROWER)
    async with Client(server, mode=mode) as client:
        assert client.protocol_version == version
        filed = await client.call_tool("credit_submit_application", {"application": application()})
        app = filed.structured_content
        assert app["status"] == "submitted" and app["reference"].startswith("CAAS-")
        got = await client.call_tool("credit_get_application", {"application": app["reference"]})
        assert got.structured_content["id"] == app["id"]
        refusals = {
            "invalid_argument": ("credit_get_application", {"application": ""}),
            "not_found": ("credit_get_application", {"application": "CAAS-1999-000001"}),
            "permission_denied": ("credit_expire_stale_applications", {}),
        }
        for code, (tool, args) in refusals.items():
            result = await client.call_tool(tool, args, raise_on_error=False)
            assert error_code(result) == code, tool
        unknown = await client.call_tool("credit_no_such_tool", {}, raise_on_error=False)
        assert unknown.is_error


@pytest.mark.parametrize(("mode", "version"), ERAS, ids=["modern", "legacy"])
async def test_each_era_reads_resources_and_receives_progress(
    server: FastMCP, principal: Any, mode: str, version: str
) -> None:
    principal(f"eras-borrower-{mode}", Role.BORROWER)
    async with Client(server, mode=mode) as client:
        app = (await client.call_tool("credit_submit_application", {"application": application()})).data
    seen: list[tuple[float, float | None]] = []

    async def progress(done: float, total: float | None, _message: str | None) -> None:
        seen.append((done, total))

    principal(f"eras-operator-{mode}", Role.OPERATOR)
    async with Client(server, mode=mode, progress_handler=progress) as client:
        model = await client.read_resource("caas://risk/model")
        assert "points to double the odds" in model[0].text.lower()
        report = await client.call_tool("risk_score_applications_batch", {"applications": [app.id]})
        assert report.structured_content["scored"] == 1
    assert seen and seen[-1] == (1, 1)
