"""The credit service's MCP tools, declared at module level on ``ToolSet``s (``mcp_servers.app`` says
which server carries them)."""
