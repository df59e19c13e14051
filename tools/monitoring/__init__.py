"""Monitoring: the plan's unified dashboard as read-only use cases: application pipeline health,
provider benchmarks, revenue by month, tool latency and errors, and the Supabase mirror's sync status.
It only reads, across every service's tables and the metrics of the running processes.

Other services may import ``ports``, ``models``, ``domain`` and the modules named in ``__all__``;
every other module is this service's own (``tests/test_layers.py`` holds it).
"""

__all__ = ["domain", "models", "ports"]
