"""Pydantic input and output models shared by the use cases and the MCP servers."""
