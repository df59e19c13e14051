"""list_documents a page at a time (issue 14: no read answers with a list that grows without bound):
an application's documents oldest first, a keyset cursor, and KYC for the whole application on
every page."""

from __future__ import annotations

from typing import Any

from fastmcp import Client

from tests.helpers.common import error_code, every_page
from tests.helpers.documents import LIST, VERIFY, borrower_id, new_application, registered, scan
from tools.platform.principal import Role


async def test_documents_come_a_page_at_a_time_with_the_whole_applications_kyc(
    client: Client, principal: Any
) -> None:
    me = borrower_id()
    app = await new_application(client, principal, me)
    ids = [(await registered(client, app, scan(f"page-{n}")))["id"] for n in range(3)]
    principal("op-pages", Role.OPERATOR)
    await client.call_tool(VERIFY, {"document": ids[0], "decision": "verified"})  # on the first page only

    principal(me, Role.BORROWER)
    pages = await every_page(client, LIST, {"application": app["id"], "limit": 2})
    assert [[d["id"] for d in p["documents"]] for p in pages] == [ids[:2], ids[2:]]  # oldest first, once
    assert [p["kyc"]["identity_verified"] for p in pages] == [True, True]  # not the page's: the whole's
    whole = (await client.call_tool(LIST, {"application": app["reference"]})).structured_content
    assert [d["id"] for d in whole["documents"]] == ids and whole["next_cursor"] is None

    other = await new_application(client, principal, me)  # a cursor is one application's, not another's
    moved = {"application": other["id"], "cursor": pages[0]["next_cursor"]}
    assert error_code(await client.call_tool(LIST, moved, raise_on_error=False)) == "invalid_argument"
    for bad in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 101}):
        result = await client.call_tool(LIST, {"application": app["id"], **bad}, raise_on_error=False)
        assert error_code(result) == "invalid_argument", bad
