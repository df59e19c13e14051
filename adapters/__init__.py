"""Adapters to systems we do not own: the Onasis gateway and registry, Supabase's HTTP APIs and the
notification channels. Each implements a Protocol from :mod:`tools.ports`; none exists yet because
the foundation talks only to PostgreSQL."""
