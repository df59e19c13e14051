"""Use cases and domain rules of the CaaS platform.

Nothing here imports a transport (fastmcp) or a database driver (asyncpg): use cases depend on the
Protocols in :mod:`tools.credit.ports`, and the concrete adapters are wired in at start-up by ``mcp_servers``.
"""
