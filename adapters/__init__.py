"""Adapters behind the services' ports: systems we do not own (Supabase Storage, PostgREST, the
Onasis gateway and registry, lenders' webhook endpoints), the sandbox that stands in for the Onasis
systems on the default run, and infrastructure (the local document store, the AES-GCM vault). One
package per service; ``mcp_servers.wiring`` picks them."""
