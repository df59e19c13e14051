"""Programs that use the platform from outside, as its clients do: through MCP tools and webhooks only."""
