"""A stand-in for an MCP host with the Apps extension (we own no host): a page that renders a ``ui://``
resource in a sandboxed iframe, answers its ``ui/initialize``, hands it the tool's input and result, and
passes the page's ``tools/call`` requests to a real MCP client, as a host does."""

from __future__ import annotations

from typing import Any

from fastmcp import Client
from playwright.async_api import FrameLocator, Page

__all__ = ["HOST_ZONE", "render_app"]

# The host's own zone, unlike the browser's: the page must take the host context's.
HOST_ZONE = "Asia/Tokyo"

_HOST = """<!doctype html><html lang="en"><head><title>MCP host</title></head><body>
<iframe id="app" title="MCP App" sandbox="allow-scripts allow-forms allow-modals"
 width="1000" height="900"></iframe>
<script>
window.hostLog = [];
const frame = document.getElementById("app");
const post = (message) => frame.contentWindow.postMessage({ jsonrpc: "2.0", ...message }, "*");
window.addEventListener("message", async (event) => {
  if (event.source !== frame.contentWindow) return;
  const msg = event.data;
  window.hostLog.push(msg.method);
  if (msg.method === "ui/initialize") {
    window.appInit = msg.params;
    post({ id: msg.id, result: {
      protocolVersion: msg.params.protocolVersion,
      hostInfo: { name: "test-host", version: "1" }, hostCapabilities: {},
      hostContext: { locale: "en-US", timeZone: "HOST_ZONE" } } });
  } else if (msg.method === "ui/notifications/initialized") {
    post({ method: "ui/notifications/tool-input", params: { arguments: window.toolInput } });
    post({ method: "ui/notifications/tool-result", params: window.toolResult });
  } else if (msg.method === "tools/call") {
    post({ id: msg.id, result: await window.hostCallTool(msg.params.name, msg.params.arguments) });
  }
});
</script></body></html>""".replace("HOST_ZONE", HOST_ZONE)


async def render_app(
    page: Page, client: Client, uri: str, tool: str, arguments: dict[str, Any]
) -> FrameLocator:
    """The app at ``uri`` in a host on ``page``, shown the result of ``tool(arguments)`` called through
    ``client``; the page's own calls go through ``client`` too. Returns the app's frame."""
    (content,) = await client.read_resource(uri)

    async def call_tool(name: str, args: dict[str, Any]) -> dict[str, Any]:
        result = await client.call_tool_mcp(name, args)
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)

    first = await call_tool(tool, arguments)
    await page.expose_function("hostCallTool", call_tool)
    await page.set_content(_HOST)
    await page.evaluate(
        "([input, result, html]) => { window.toolInput = input; window.toolResult = result;"
        " document.getElementById('app').srcdoc = html; }",
        [arguments, first, content.text],
    )
    return page.frame_locator("#app")
