"""Use cases and domain rules of the CaaS platform, one package per service.

Nothing here imports a transport (fastmcp) or a database driver (asyncpg): use cases depend on the
Protocols in each service's ``ports``, and ``mcp_servers.wiring`` wires the concrete adapters in at
start-up.
"""
