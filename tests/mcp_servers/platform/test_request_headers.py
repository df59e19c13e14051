"""request_context.request_headers: the headers a tool call reads from its HTTP request (the toolset
and read-only choice) are what fastmcp's get_http_headers(include=...) gives for those names, in any
case the client sends them, the last of repeated ones, and none without a request."""

from __future__ import annotations

import pytest
from fastmcp.server.dependencies import _current_http_request, get_http_headers
from starlette.requests import Request

from mcp_servers.platform.request_context import request_headers
from mcp_servers.toolsets import HEADER, READ_ONLY_HEADER

COMMON = [
    (b"host", b"127.0.0.1:3013"),
    (b"authorization", b"Bearer secret"),
    (b"content-type", b"application/json"),
    (b"mcp-protocol-version", b"2026-07-28"),
]
CASES = {
    "both": [*COMMON, (b"x-caas-toolsets", b"default,apply"), (b"x-caas-read-only", b"true")],
    "mixed case": [(b"X-CaaS-Toolsets", b"apply"), *COMMON, (b"X-CAAS-READ-ONLY", b"1")],
    "repeated": [(b"x-caas-toolsets", b"default"), *COMMON, (b"x-caas-toolsets", b"apply")],
    "latin-1 value": [*COMMON, (b"x-caas-toolsets", "caf\u00e9".encode("latin-1"))],
    "neither": COMMON,
}


@pytest.mark.parametrize("headers", CASES.values(), ids=CASES.keys())
def test_the_named_headers_are_what_get_http_headers_gives(headers: list[tuple[bytes, bytes]]) -> None:
    token = _current_http_request.set(
        Request({"type": "http", "method": "POST", "path": "/mcp", "headers": headers})
    )
    try:
        wanted = (HEADER, READ_ONLY_HEADER)
        every = get_http_headers(include=set(wanted))
        assert request_headers(*wanted) == {k: v for k, v in every.items() if k in wanted}
        assert request_headers("authorization") == {"authorization": "Bearer secret"}
    finally:
        _current_http_request.reset(token)


def test_without_a_request_there_are_none() -> None:
    assert request_headers(HEADER, READ_ONLY_HEADER) == {}
