"""The pages' Content-Security-Policy: only the page's own inline script and style run (by hash), and a
browser connects to this origin, plus Supabase's when Supabase is configured (a document's signed upload
URL is there), and nowhere else."""

from __future__ import annotations

import hashlib
from base64 import b64encode

from fastmcp import FastMCP
from starlette.testclient import TestClient

from mcp_servers.web_pages import install_web_pages, security_headers

HTML = "<html><style>p{}</style><script>go()</script></html>"


def sha(text: str) -> str:
    return "'sha256-" + b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_only_the_pages_own_script_and_style_run_and_it_connects_home() -> None:
    policy = security_headers(HTML)["Content-Security-Policy"]
    assert f"script-src {sha('go()')};" in policy and f"style-src {sha('p{}')};" in policy
    assert "connect-src 'self';" in policy and "default-src 'none'" in policy


def test_with_supabase_configured_the_pages_may_upload_to_its_origin_only() -> None:
    server = FastMCP("pages")
    install_web_pages(server, str, "https://abc.supabase.co/storage/v1?x=1")
    with TestClient(server.http_app(path="/mcp")) as http:
        policy = http.get("/app/").headers["content-security-policy"]
    assert "connect-src 'self' https://abc.supabase.co;" in policy
