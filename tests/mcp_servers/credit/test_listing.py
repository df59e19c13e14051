"""list_applications: visibility, filters and keyset pagination with an opaque cursor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastmcp import Client

from tests.helpers.common import application, error_code
from tools.platform.principal import Role

SUBMIT = "credit_submit_application"
LIST = "credit_list_applications"


async def _submit_many(client: Client, n: int) -> list[dict[str, Any]]:
    return [
        (
            await client.call_tool(SUBMIT, {"application": application(amount=f"{1000 + i}.00")})
        ).structured_content
        for i in range(n)
    ]


async def test_pages_walk_every_application_once_newest_first(client: Client, principal: Any) -> None:
    principal(f"b-{uuid.uuid4().hex[:10]}", Role.BORROWER)
    made = await _submit_many(client, 7)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        args: dict[str, Any] = {"limit": 3}
        if cursor:
            args["cursor"] = cursor
        page = (await client.call_tool(LIST, args)).structured_content
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [a["id"] for a in reversed(made)]


async def test_borrower_lists_only_their_own(client: Client, principal: Any) -> None:
    principal(f"b-{uuid.uuid4().hex[:10]}", Role.BORROWER)
    theirs = await _submit_many(client, 2)
    me = principal(f"b-{uuid.uuid4().hex[:10]}", Role.BORROWER)
    mine = await _submit_many(client, 1)
    page = (await client.call_tool(LIST, {"limit": 100})).structured_content
    assert [i["id"] for i in page["items"]] == [mine[0]["id"]]
    assert all(i["borrower_id"] == me.subject for i in page["items"])
    assert theirs[0]["id"] not in {i["id"] for i in page["items"]}
    asked = await client.call_tool(LIST, {"borrower_id": theirs[0]["borrower_id"]}, raise_on_error=False)
    assert error_code(asked) == "permission_denied"


async def test_operator_filters_by_borrower_status_and_window(client: Client, principal: Any) -> None:
    who = principal(f"b-{uuid.uuid4().hex[:10]}", Role.BORROWER)
    made = await _submit_many(client, 2)
    principal("op-1", Role.OPERATOR)
    now = datetime.now(UTC)
    page = (
        await client.call_tool(
            LIST,
            {
                "borrower_id": who.subject,
                "status": ["submitted"],
                "created_from": (now - timedelta(minutes=5)).isoformat(),
                "created_to": (now + timedelta(minutes=5)).isoformat(),
            },
        )
    ).structured_content
    assert {i["id"] for i in page["items"]} == {a["id"] for a in made}
    past = (
        await client.call_tool(
            LIST, {"borrower_id": who.subject, "created_to": (now - timedelta(days=1)).isoformat()}
        )
    ).structured_content
    assert past["items"] == []


async def test_tampered_cursor_and_naive_dates_are_invalid_arguments(client: Client, principal: Any) -> None:
    principal("op-1", Role.OPERATOR)
    for args in (
        {"cursor": "not-a-cursor"},
        {"created_from": "2026-01-01T00:00:00"},
        {"created_from": "2026-02-01T00:00:00Z", "created_to": "2026-01-01T00:00:00Z"},
        {"limit": 0},
        {"limit": 101},
        {"status": ["bogus"]},
    ):
        result = await client.call_tool(LIST, args, raise_on_error=False)
        assert error_code(result) == "invalid_argument", args
