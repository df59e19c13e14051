"""Support chat through MCP clients on real PostgreSQL: a conversation is its opener's and the
operators'; nobody else can read, post in or even find it; operators answer (the owner is notified),
see everyone's, and close it, after which it takes no more messages."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.notifications import (
    CLOSE,
    CONVERSATIONS,
    OPEN,
    POST,
    READ,
    call,
    inbox,
    refused,
    uid,
)
from tests.helpers.risk import submitted
from tools.platform.principal import Role


async def opened(
    client: Client, principal: Any, subject: str = "Where is my money?"
) -> tuple[str, dict[str, Any]]:
    """A fresh borrower and the conversation they opened."""
    borrower = principal(uid("b-chat"), Role.BORROWER).subject
    detail = await call(client, OPEN, {"subject": subject, "message": "My loan was approved yesterday."})
    return borrower, detail


async def test_a_borrower_opens_a_conversation_and_reads_it_back(client: Client, principal: Any) -> None:
    borrower, detail = await opened(client, principal)
    conversation = detail["conversation"]
    assert (conversation["user_id"], conversation["status"], conversation["subject"]) == (
        borrower,
        "open",
        "Where is my money?",
    )
    [first] = detail["messages"]
    assert (first["author_id"], first["author_role"], first["body"]) == (
        borrower,
        "borrower",
        "My loan was approved yesterday.",
    )
    assert (await call(client, READ, {"conversation": conversation["id"]}))["messages"] == [first]
    [listed] = (await call(client, CONVERSATIONS, {}))["items"]
    assert (listed["id"], listed["last_message"], listed["unread_count"]) == (conversation["id"], first, 0)


async def test_another_borrower_can_neither_read_nor_post_nor_find_a_conversation(
    client: Client, principal: Any
) -> None:
    owner, detail = await opened(client, principal)
    conversation_id = detail["conversation"]["id"]

    principal(uid("b-nosy"), Role.BORROWER)
    assert await refused(client, READ, {"conversation": conversation_id}) == "not_found"
    assert await refused(client, POST, {"conversation": conversation_id, "message": "hi"}) == "not_found"
    assert await refused(client, READ, {"conversation": str(uuid.uuid4())}) == "not_found"
    assert (await call(client, CONVERSATIONS, {}))["items"] == []
    assert await refused(client, CONVERSATIONS, {"user_id": owner}) == "permission_denied"
    assert await refused(client, CLOSE, {"conversation": conversation_id}) == "permission_denied"

    principal(owner, Role.BORROWER)
    assert len((await call(client, READ, {"conversation": conversation_id}))["messages"]) == 1


async def test_an_operator_answers_and_the_owner_is_notified_and_sees_it_unread(
    client: Client, principal: Any, runtime: Runtime
) -> None:
    owner, detail = await opened(client, principal)
    conversation_id = detail["conversation"]["id"]

    operator = principal(uid("op-support"), Role.OPERATOR).subject
    queue = await call(client, CONVERSATIONS, {"status": "open", "user_id": owner})
    assert [(c["id"], c["unread_count"]) for c in queue["items"]] == [(conversation_id, 1)]
    reply = await call(
        client, POST, {"conversation": conversation_id, "message": "It is on its way; allow a day."}
    )
    assert (reply["author_id"], reply["author_role"]) == (operator, "operator")
    everyone = await call(client, CONVERSATIONS, {"status": "open", "limit": 100})
    assert conversation_id in [c["id"] for c in everyone["items"]]

    told = await inbox(client, principal, owner)
    assert [(n["kind"], n["title"]) for n in told] == [("support_reply", "Support replied")]
    assert '"Where is my money?"' in told[0]["body"]

    [mine] = (await call(client, CONVERSATIONS, {}))["items"]
    assert (mine["unread_count"], mine["last_message"]["id"]) == (1, reply["id"])
    read = await call(client, READ, {"conversation": conversation_id})
    assert [m["author_role"] for m in read["messages"]] == ["borrower", "operator"]
    assert (await call(client, CONVERSATIONS, {}))["items"][0]["unread_count"] == 0

    # The owner's own follow-up notifies nobody, and it is unread for the operator.
    await call(client, POST, {"conversation": conversation_id, "message": "Thank you."})
    assert len(await inbox(client, principal, owner)) == 1
    principal(operator, Role.OPERATOR)
    [again] = (await call(client, CONVERSATIONS, {"user_id": owner}))["items"]
    assert (again["unread_count"], again["last_message"]["body"]) == (1, "Thank you.")


async def test_a_closed_conversation_refuses_messages_and_closing_again_changes_nothing(
    client: Client, principal: Any
) -> None:
    owner, detail = await opened(client, principal)
    conversation_id = detail["conversation"]["id"]
    closer = principal(uid("op-close"), Role.OPERATOR).subject
    closed = await call(client, CLOSE, {"conversation": conversation_id})
    assert (closed["status"], closed["closed_by"]) == ("closed", closer)
    assert closed["closed_at"] is not None
    principal(uid("admin"), Role.ADMIN)
    assert await call(client, CLOSE, {"conversation": conversation_id}) == closed
    assert await refused(client, POST, {"conversation": conversation_id, "message": "one more"}) == "conflict"

    principal(owner, Role.BORROWER)
    assert await refused(client, POST, {"conversation": conversation_id, "message": "hello?"}) == "conflict"
    assert (await call(client, CONVERSATIONS, {"status": "closed"}))["items"][0]["id"] == conversation_id
    assert (await call(client, CONVERSATIONS, {"status": "open"}))["items"] == []


async def test_who_may_open_a_conversation_and_about_which_application(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await submitted(client, principal)
    about = await call(
        client, OPEN, {"subject": "My application", "message": "Any news?", "application": app["reference"]}
    )
    assert about["conversation"]["application_id"] == app["id"]

    principal(uid("b-other"), Role.BORROWER)
    assert (
        await refused(client, OPEN, {"subject": "Hers", "message": "Any news?", "application": app["id"]})
        == "not_found"
    )
    agent = principal(uid("agent"), Role.AGENT).subject
    by_agent = await call(client, OPEN, {"subject": "A client of mine", "message": "Please call me."})
    assert (by_agent["conversation"]["user_id"], by_agent["messages"][0]["author_role"]) == (agent, "agent")
    principal(uid("lender-user"), Role.PROVIDER, str(uuid.uuid4()))
    assert await refused(client, OPEN, {"subject": "x", "message": "y"}) == "permission_denied"
    principal(uid("op"), Role.OPERATOR)
    assert await refused(client, OPEN, {"subject": "x", "message": "y"}) == "permission_denied"
    principal(uid("b-empty"), Role.BORROWER)
    assert await refused(client, OPEN, {"subject": "", "message": "y"}) == "invalid_argument"
    assert await refused(client, OPEN, {"subject": "x", "message": "y" * 4001}) == "invalid_argument"
    assert await refused(client, OPEN, {"subject": "x", "message": "y", "extra": 1}) == "invalid_argument"
    # Every change leaves its audit row in the system of record.
    audited = await core_db.fetchval(
        "SELECT count(*) FROM caas_audit.audit_log WHERE object_type = 'support_conversation' "
        "AND object_id = ANY($1::text[])",
        [about["conversation"]["id"], by_agent["conversation"]["id"]],
    )
    assert audited == 2


async def test_messages_read_a_page_at_a_time_oldest_first(client: Client, principal: Any) -> None:
    _, detail = await opened(client, principal)
    conversation_id = detail["conversation"]["id"]
    for n in range(4):
        await call(client, POST, {"conversation": conversation_id, "message": f"note {n}"})
    bodies, cursor = [], None
    while True:
        page = await call(
            client,
            READ,
            {"conversation": conversation_id, "limit": 2, **({"cursor": cursor} if cursor else {})},
        )
        bodies += [m["body"] for m in page["messages"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert bodies == ["My loan was approved yesterday.", "note 0", "note 1", "note 2", "note 3"]
    assert await refused(client, READ, {"conversation": conversation_id, "cursor": "garbage"}) == (
        "invalid_argument"
    )
