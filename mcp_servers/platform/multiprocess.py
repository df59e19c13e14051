"""Which registry holds "this process's" metrics: its default one, or, when a parent gave its processes
one ``PROMETHEUS_MULTIPROC_DIR`` (``caas serve --processes N``, ``mcp_servers.cluster``), the sum over
all of them read from that directory, so that any process answers ``/metrics`` and the dashboard for
the whole set."""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["process_registry"]


def process_registry() -> CollectorRegistry:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)
    return registry
