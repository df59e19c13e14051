"""The monitoring service's MCP tools, declared at module level on a ``ToolSet``
(``mcp_servers.composition`` says which server carries them)."""
