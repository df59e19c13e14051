import gc
from collections.abc import Iterator

import pytest

from mcp_servers.platform.gc_tuning import YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def pristine_gc() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*saved)


def test_settling_freezes_what_start_up_left_and_collects_the_young_generation_less_often(
    pristine_gc: None,
) -> None:
    gc.set_threshold(700, 10, 10)
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)


def test_settling_never_lowers_a_threshold_set_higher_by_the_operator(pristine_gc: None) -> None:
    gc.set_threshold(YOUNG_THRESHOLD * 2, 5, 7)
    settle_heap()
    assert gc.get_threshold() == (YOUNG_THRESHOLD * 2, 5, 7)
