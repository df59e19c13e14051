"""The payments service's MCP tools, declared at module level on ``ToolSet``s
(``mcp_servers.composition`` says which server carries them)."""
