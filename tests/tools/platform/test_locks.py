"""The bulkhead: at most so many holders at once, a bounded wait for a place, and a place given back
however its holder ends."""

from __future__ import annotations

import asyncio

import pytest

from tools.platform.locks import Bulkhead, BulkheadFull


async def test_at_most_size_hold_a_place_and_the_next_waits_for_one_to_come_free() -> None:
    bulkhead, inside, most = Bulkhead(2, patience=5.0), 0, 0
    release = asyncio.Event()

    async def hold() -> None:
        nonlocal inside, most
        async with bulkhead.place():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    holders = [asyncio.create_task(hold()) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert inside == 2
    release.set()
    await asyncio.gather(*holders)
    assert most == 2


async def test_a_caller_that_finds_no_place_within_its_patience_is_refused() -> None:
    bulkhead = Bulkhead(1, patience=0.05)
    async with bulkhead.place():
        with pytest.raises(BulkheadFull):
            async with bulkhead.place():
                pass
    async with bulkhead.place():  # free again once its holder left
        pass


async def test_a_holder_that_fails_gives_its_place_back() -> None:
    bulkhead = Bulkhead(1, patience=0.05)
    with pytest.raises(RuntimeError):
        async with bulkhead.place():
            raise RuntimeError("the work failed")
    async with bulkhead.place():
        pass
    with pytest.raises(ValueError, match="at least one place"):
        Bulkhead(0, patience=1.0)
