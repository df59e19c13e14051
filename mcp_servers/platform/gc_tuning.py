"""The garbage collector's settings for a long-running server, applied once start-up is done.

By the end of start-up the process holds every module, tool, schema and pydantic validator it will
use: a large heap that lives as long as the process and that every full collection would otherwise
walk again, on a request's time. Freezing it moves those objects to a permanent generation the
collector never scans (and keeps their pages shared between forked processes); a larger young
generation threshold means fewer collections per call, each over the short-lived objects of the
calls in flight, which are mostly gone by then.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

# Allocations (minus deallocations) between young collections; CPython's default is 700, which a
# single tool call (request parsing, validation, the result's models and JSON) crosses several times.
YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Collect what start-up left behind, freeze the rest, and collect the young generation less often.

    Idempotent enough to call again (a second freeze adds what survived since the first)."""
    gc.collect()
    gc.freeze()
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(YOUNG_THRESHOLD, young), older, oldest)
