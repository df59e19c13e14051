"""The bare floor's own account of its full collections (bench/submit_harness.py), which bench_journey
reads around each floor block: a full collection stalls every call in flight and can set the floor's
p99 alone."""

from __future__ import annotations

import gc

from bench.submit_harness import FullCollections


def test_full_collections_are_counted_with_their_pauses_and_younger_ones_are_not() -> None:
    full = FullCollections()
    gc.disable()  # only the collections below, none the allocations would start
    try:
        gc.collect(0)
        gc.collect(1)
        assert full.as_dict() == {"count": 0, "ms_total": 0.0, "ms_max": 0.0}
        garbage = [[i] for i in range(200_000)]  # something to walk
        gc.collect()
        gc.collect()
        del garbage
        seen = full.as_dict()
        assert seen["count"] == 2
        assert 0 < seen["ms_max"] <= seen["ms_total"]
    finally:
        gc.enable()
        gc.callbacks.remove(full._seen)
