"""Prometheus samples for the dashboard: this process's ``prometheus_client`` registry, and sibling
processes' ``/metrics`` read over HTTP (httpx) with a short timeout and a size cap. Only the series the
dashboard reads are kept (``KEPT``), so a large exposition costs no memory beyond them."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from adapters.platform.http import HttpClient
from tools.monitoring.domain.latency import HISTOGRAM, Sample
from tools.monitoring.ports import MetricsUnavailable

__all__ = ["KEPT", "PrometheusMetrics", "metrics_targets"]

KEPT = (HISTOGRAM,)
MAX_BYTES = 8 * 1024 * 1024


def metrics_targets(value: str) -> tuple[str, ...]:
    """The URLs of ``CAAS_MONITOR_TARGETS`` (comma-separated). One that is no http(s) URL is not refused
    here: it shows as an unreachable source saying why, beside the others."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


class PrometheusMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY, timeout_s: float = 2.0) -> None:
        self._registry = registry
        self._timeout = httpx.Timeout(timeout_s)

    def local(self) -> list[Sample]:
        return [
            Sample(s.name, dict(s.labels), s.value)
            for family in self._registry.collect()
            if family.name in KEPT
            for s in family.samples
        ]

    async def scrape(self, url: str) -> list[Sample]:
        try:
            async with (
                HttpClient(timeout=self._timeout, follow_redirects=False) as client,
                client.stream("GET", url, headers={"Accept": "text/plain"}) as response,
            ):
                if response.status_code != 200:
                    raise MetricsUnavailable(f"GET {url} answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise MetricsUnavailable(f"GET {url} answered more than {MAX_BYTES} bytes")
        except httpx.TimeoutException:
            raise MetricsUnavailable(f"GET {url} timed out after {self._timeout.read} s") from None
        except httpx.HTTPError as exc:
            raise MetricsUnavailable(f"GET {url} failed: {type(exc).__name__}") from None
        try:
            return [
                Sample(s.name, dict(s.labels), s.value)
                for family in text_string_to_metric_families(body.decode("utf-8", errors="replace"))
                if family.name in KEPT
                for s in family.samples
            ]
        except (ValueError, TypeError, IndexError):
            raise MetricsUnavailable(f"GET {url} did not answer Prometheus text") from None
