"""Adapters behind the Protocols of :mod:`tools.credit.ports`: systems we do not own (Supabase Storage; the
Onasis gateway and registry arrive with the payments issue) and infrastructure (the local document
store, the AES-GCM personal-data vault). Wiring picks them in ``mcp_servers.runtime``."""
